"""Sample grids: saved as PNG and sent to the loggers as the same pixels; rows or columns named (``A``, ``G(A)``,
``F(G(A))`` ...), so a grid reads on its own."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Optional, Sequence

import lightning as L
import numpy as np
import torch
import torchvision.utils as vutils
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from ganlit.utils.atomic import atomic_write_bytes

PADDING = 2


def _text_width(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont) -> int:
    left, _, right, _ = draw.textbbox((0, 0), text, font=font)
    return right - left


def labelled_grid(images: Tensor, nrow: int, rows: Optional[Sequence[str]] = None,
                  columns: Optional[Sequence[str]] = None) -> Tensor:
    """``make_grid(images, nrow)`` (images in [0, 1]) with a left margin naming each row and/or a top margin naming
    each column; returns one ``[3, H, W]`` image. Labels whose count does not match the grid are left out."""
    grid = vutils.make_grid(images.detach().float().clamp(0, 1).cpu(), nrow=nrow, padding=PADDING)
    n_rows, n_cols = -(-images.size(0) // nrow), min(nrow, images.size(0))
    rows = list(rows) if rows is not None and len(rows) == n_rows else []
    columns = list(columns) if columns is not None and len(columns) == n_cols else []
    if not rows and not columns:
        return grid
    font = ImageFont.load_default()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    left = (max(_text_width(probe, r, font) for r in rows) + 6) if rows else 0
    top = 14 if columns else 0
    cell_h, cell_w = images.size(2) + PADDING, images.size(3) + PADDING
    array = (grid.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    canvas = Image.new("RGB", (array.shape[1] + left, array.shape[0] + top), (255, 255, 255))
    canvas.paste(Image.fromarray(array), (left, top))
    draw = ImageDraw.Draw(canvas)
    for i, text in enumerate(rows):
        draw.text((2, top + PADDING + i * cell_h + max(0, cell_h // 2 - 6)), text, fill=(0, 0, 0), font=font)
    for j, text in enumerate(columns):
        while len(text) > 1 and _text_width(draw, text, font) > cell_w - 2:
            text = text[:-1]  # a long name is cut to its cell rather than written over the next one
        draw.text((left + PADDING + j * cell_w + 1, 1), text, fill=(0, 0, 0), font=font)
    return torch.from_numpy(np.array(canvas)).permute(2, 0, 1).float() / 255


def grid_pixels(images: Tensor, nrow: int) -> np.ndarray:
    """``images`` (in [0, 1]) as one grid of ``uint8`` pixels, ``[H, W, 3]``: exactly what the PNG holds.

    The rounding is torchvision's ``save_image`` (``x * 255 + 0.5``, clamped, truncated), so the PNG in the run folder
    and the image every logger gets are the same pixels. Loggers must get these bytes, not the float grid: W&B casts a
    float array in [0, 1] straight to ``uint8`` (0 or 1), which is a black image.
    """
    grid = vutils.make_grid(images.detach().float().clamp(0, 1).cpu(), nrow=nrow, padding=2)
    return grid.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to(torch.uint8).numpy()


def save_and_log_grid(trainer: L.Trainer, images: Tensor, nrow: int, path: Path, step: int,
                      key: str = "samples") -> Path:
    """Save ``images`` (in [0, 1]) as one PNG grid at ``path`` and send the same pixels to every logger that takes
    images (W&B: ``log_image``; TensorBoard: ``add_image``, HWC)."""
    pixels = grid_pixels(images, nrow)
    png = io.BytesIO()
    Image.fromarray(pixels).save(png, format="PNG")
    atomic_write_bytes(path, png.getvalue())  # a kill or a full disk never leaves half a PNG
    for logger in trainer.loggers:
        log_image = getattr(logger, "log_image", None)  # WandbLogger
        if callable(log_image):
            log_image(key=key, images=[pixels], step=step)
            continue
        experiment = getattr(logger, "experiment", None)
        add_image = getattr(experiment, "add_image", None)  # TensorBoard
        if callable(add_image):
            add_image(key, pixels, global_step=step, dataformats="HWC")
    return path
