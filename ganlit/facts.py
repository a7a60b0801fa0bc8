"""The facts of how a model was trained (image size, channels, labels), saved in its checkpoints.

``ganlit fit`` writes them under ``checkpoint["ganlit_facts"]``; the default inference declaration
(``ganlit.models.inference``), which ``translate``, ``export``, ``evaluate`` and ``sample`` read, takes its image size
and channels from ``checkpoint_facts``, whether or not the model's class takes an ``image_size`` argument.
"""

from __future__ import annotations

from typing import Any, Optional

from torch import nn

FACTS = ("image_size", "channels", "num_classes", "num_attrs", "attr_names", "single_label")


def training_facts(module: nn.Module) -> dict[str, Any]:
    """The facts of a module being trained: its data module's when attached, else its own attributes."""
    trainer = getattr(module, "_trainer", None)
    data = getattr(trainer, "datamodule", None) if trainer is not None else None
    facts: dict[str, Any] = {}
    for name in FACTS:
        value = getattr(data, name, None) if data is not None else None
        if value is None:
            value = getattr(module, name, None)
        if value is None and hasattr(module, "hparams"):
            value = module.hparams.get(name)
        if isinstance(value, (int, bool, str)) or (isinstance(value, (list, tuple)) and value is not None):
            facts[name] = list(value) if isinstance(value, tuple) else value
    return facts


def checkpoint_facts(model: nn.Module) -> dict[str, Any]:
    """The facts a loaded model was trained with: the checkpoint's record, then what the model itself shows."""
    facts = dict(getattr(model, "ganlit_facts", None) or {})
    for name, value in training_facts(model).items():
        facts.setdefault(name, value)
    if not facts.get("image_size"):  # checkpoints written before the facts were recorded
        for name, buf in model.named_buffers(recurse=False):
            if name.startswith("fixed_") and buf.dim() == 4 and buf.numel():
                facts["image_size"] = int(buf.size(-1))
                break
    return facts


def image_size_of(model: nn.Module) -> Optional[int]:
    size = checkpoint_facts(model).get("image_size")
    return int(size) if size else None
