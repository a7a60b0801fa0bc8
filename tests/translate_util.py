"""Helpers of the ``ganlit translate`` tests: input images, reading the outputs, running the command, and official
CycleGAN weights (random values in the official layout)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganlit.commands.translate import main


def write_images(folder: Path, names: list[str], size: tuple[int, int] = (40, 48), seed: int = 0) -> list[Path]:
    """RGB noise images of ``size`` (width, height)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for name in names:
        array = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(array).save(folder / name, quality=95)
        paths.append(folder / name)
    return paths


def read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path)).astype(np.int16)


def run(capsys, *args) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


#END


def official_input(path: Path, size: int, box=None, method=Image.BICUBIC) -> torch.Tensor:
    """The official test preprocessing with PIL + numpy: [crop], resize, ToTensor, Normalize(0.5, 0.5)."""
    image = Image.open(path).convert("RGB")
    if box is not None:
        image = image.crop(box)
    array = np.asarray(image.resize((size, size), method), dtype=np.float32) / 255.0
    return torch.from_numpy((array - 0.5) / 0.5).permute(2, 0, 1)[None]


def rounded(y: torch.Tensor) -> np.ndarray:
    """StarGAN's denorm + torchvision save_image (rounding), ganlit's own conversion too."""
    unit = ((y[0].detach().float() + 1) / 2).clamp(0, 1)
    return unit.mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
