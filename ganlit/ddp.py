"""Distributed training settings a GAN needs, applied to the trainer config before Lightning builds it."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.utilities import rank_zero_info


def several_devices(trainer: Any) -> bool:
    """Whether the trainer config asks for more than one process (devices or nodes)."""
    devices, nodes = trainer.get("devices", "auto"), trainer.get("num_nodes", 1) or 1
    if isinstance(devices, (list, tuple)):
        return len(devices) > 1 or nodes > 1
    if str(devices) in ("auto", "-1"):
        import torch

        gpu = str(trainer.get("accelerator", "auto")) in ("auto", "gpu", "cuda")
        return (gpu and torch.cuda.device_count() > 1) or nodes > 1
    if isinstance(devices, str) and "," in devices:
        return len([d for d in devices.split(",") if d.strip()]) > 1 or nodes > 1
    return int(devices) > 1 or nodes > 1


def find_unused_parameters(trainer: Any) -> None:
    """DDP on a GAN: each phase's backward leaves the other networks without gradients, which plain DDP refuses
    (unused parameters). ``ddp`` (also ``ddp_spawn``/``ddp_fork``/``ddp_notebook``) and an ``auto`` strategy on
    several devices become Lightning's registered ``*_find_unused_parameters_true`` variants."""
    if trainer is None:
        return
    strategy = trainer.get("strategy", "auto")
    if not isinstance(strategy, str):
        return  # a Strategy object or class_path: the user's settings stand
    if strategy == "auto" and several_devices(trainer):
        strategy = "ddp"
    if strategy in ("ddp", "ddp_spawn", "ddp_fork", "ddp_notebook"):
        trainer.strategy = f"{strategy}_find_unused_parameters_true"
        rank_zero_info(f"ganlit: strategy {trainer.strategy} (a GAN's phases leave parameters unused in each backward)")
