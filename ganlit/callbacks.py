"""Callbacks and helpers around training: the run folder, sample grids."""

from __future__ import annotations

from pathlib import Path
import lightning as L
import torch
import torchvision.utils as vutils
from torch import Tensor


def run_dir(trainer: L.Trainer) -> Path:
    """The folder of this run: the logger's run folder when it has one, else ``default_root_dir``."""
    logger = trainer.logger
    for attr in ("log_dir", "save_dir"):
        value = getattr(logger, attr, None) if logger is not None else None
        if value:
            return Path(value)
    return Path(trainer.default_root_dir)


def save_and_log_grid(trainer: L.Trainer, images: Tensor, nrow: int, path: Path, step: int,
                      key: str = "samples") -> Path:
    """Save ``images`` (in [0, 1]) as one PNG grid at ``path`` and send it to every logger that takes images."""
    grid = vutils.make_grid(images.detach().float().clamp(0, 1).cpu(), nrow=nrow, padding=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    vutils.save_image(grid, path)
    for logger in trainer.loggers:
        log_image = getattr(logger, "log_image", None)  # WandbLogger
        if callable(log_image):
            log_image(key=key, images=[grid], step=step)
            continue
        experiment = getattr(logger, "experiment", None)
        add_image = getattr(experiment, "add_image", None)  # TensorBoard
        if callable(add_image):
            add_image(key, grid, global_step=step)
    return path


def to_unit(images: Tensor, value_range: tuple[float, float] = (-1.0, 1.0)) -> Tensor:
    """Map images from ``value_range`` to [0, 1]."""
    lo, hi = value_range
    return ((images - lo) / (hi - lo)).clamp(0, 1)

