"""Tiny digits checkpoints for the demo test: a few optimizer steps of each model family on the digits world."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import lightning as L
import torch

from ganlit.data.digits import ATTRS, DigitsDataModule
from ganlit.models import CGAN, CycleGAN, PairedCycleGAN, StarGAN

KINDS: dict[str, tuple[Callable[[], L.LightningModule], Callable[[], DigitsDataModule]]] = {
    "cyclegan": (lambda: CycleGAN(ngf=4, ndf=4, n_blocks=1, n_layers=2, pool_size=3),
                 lambda: DigitsDataModule(task="unpaired", image_size=16, batch_size=2)),
    "stargan": (lambda: StarGAN(image_size=16, conv_dim=4, repeat_num=1, d_conv_dim=4, d_repeat_num=3, n_critic=1,
                                num_attrs=len(ATTRS), attr_names=list(ATTRS), exclusive_attrs=["red", "green", "blue"]),
                lambda: DigitsDataModule(task="attributes", image_size=16, batch_size=2)),
    "cgan": (lambda: CGAN(image_size=16, channels=1, ngf=8, ndf=8),
             lambda: DigitsDataModule(task="generate", image_size=16, batch_size=4)),
    "paired_cyclegan": (lambda: PairedCycleGAN(image_size=32, ngf=4, ndf=4, n_blocks_g=1, n_blocks_f=1, n_layers_d=2,
                                               n_layers_s=2, pretrain_removal_epochs=0),
                        lambda: DigitsDataModule(task="makeup", image_size=32, batch_size=2)),
}


def train_tiny(kind: str, folder: Path, steps: int = 2, seed: int = 0) -> Path:
    """``folder/<kind>.ckpt`` after ``steps`` training iterations (seeded) of a tiny ``kind`` on digits."""
    torch.manual_seed(seed)
    model_fn, data_fn = KINDS[kind]
    trainer = L.Trainer(default_root_dir=folder, max_steps=steps, accelerator="cpu", logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        limit_val_batches=0)
    trainer.fit(model_fn(), datamodule=data_fn())
    path = folder / f"{kind}.ckpt"
    trainer.save_checkpoint(path)
    return path
