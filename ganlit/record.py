"""What a checkpoint records about the run that made it, beyond its weights: the data, the hardware, the software.

``GANModule.on_save_checkpoint`` writes :func:`run_record` under ``checkpoint["ganlit_record"]`` (plain values only,
so ``weights_only`` loading reads it); ``ganlit pack`` turns it into the model card's data, hardware and version
sections. A record that cannot be taken (no trainer, no data module) leaves its entry out; the card then says
"not recorded".
"""

from __future__ import annotations

import os
import platform
from typing import Any

import torch

__all__ = ["hardware", "run_record"]


def hardware(trainer: Any) -> dict[str, Any]:
    """Accelerator, device count and name, nodes, precision and strategy of a trainer."""
    device = trainer.strategy.root_device
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = f"{platform.processor() or platform.machine()} ({os.cpu_count()} logical CPUs)"
    return {"accelerator": device.type, "device": name, "devices": int(trainer.num_devices),
            "num_nodes": int(trainer.num_nodes), "precision": str(trainer.precision),
            "strategy": type(trainer.strategy).__name__}


def run_record(module: Any) -> dict[str, Any]:
    """The record of the fit ``module`` is in (data identity, hardware, ganlit/torch/lightning versions)."""
    import lightning

    from ganlit.utils.source import source_version

    record: dict[str, Any] = {"ganlit": source_version(), "torch": str(torch.__version__),
                              "lightning": str(lightning.__version__), "python": platform.python_version()}
    trainer = getattr(module, "_trainer", None)
    if trainer is None:
        return record
    record["hardware"] = hardware(trainer)
    data = getattr(trainer, "datamodule", None)
    identity = getattr(data, "data_identity", None)
    if callable(identity):
        record["data"] = identity()
    return record
