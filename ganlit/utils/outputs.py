"""How ganlit names and quantises the images it writes, shared by ``ganlit sample``, ``ganlit translate`` and the
prediction writer of ``ganlit predict``, so the three give the same files for the same images."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import Tensor


def rounded_uint8(image: Tensor) -> np.ndarray:
    """``round((x + 1) / 2 * 255)`` clamped to [0, 255]: StarGAN's ``denorm`` + ``save_image``, and ganlit's own.

    ``image`` is ``[C, H, W]`` in [-1, 1]; the result is ``[H, W]`` (one channel) or ``[H, W, C]``.
    """
    unit = ((image.detach().cpu().float() + 1) / 2).clamp(0, 1)
    array = unit.mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    return array[..., 0] if array.shape[2] == 1 else array


def image_names(labels: Optional[list[int]], num: int) -> list[str]:
    """File names sorting in sample order: ``<class>_<index>.png`` (conditional) or ``<index>.png``, zero-padded."""
    if labels is None:
        width = len(str(max(num - 1, 0)))
        return [f"{i:0{width}d}.png" for i in range(num)]
    counts: dict[int, int] = {}
    names = []
    width = len(str(max(max(labels), 0)))
    index_width = len(str(max(sum(1 for c in labels if c == k) for k in set(labels)) - 1))
    for c in labels:
        names.append(f"{c:0{width}d}_{counts.get(c, 0):0{index_width}d}.png")
        counts[c] = counts.get(c, 0) + 1
    return names


def output_names(files: list[Path]) -> list[str]:
    """``<stem>.png`` per input; inputs sharing a stem (``a.jpg``, ``a.png``) get ``<stem>_<ext>.png`` after
    the first."""
    names, used = [], set()
    for path in files:
        name = f"{path.stem}.png"
        if name in used:
            name = f"{path.stem}_{path.suffix.lstrip('.').lower()}.png"
        n = 1
        while name in used:
            name, n = f"{path.stem}_{n}.png", n + 1
        used.add(name)
        names.append(name)
    return names
