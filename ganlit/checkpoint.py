"""Loading ganlit checkpoints safely (``weights_only``) without knowing their class beforehand."""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path
from typing import Any, Union

import torch

from ganlit.models.base import GANModule


class UnsafeCheckpointError(ValueError):
    """The file needs arbitrary pickled code to load; ganlit refuses it."""


def read_checkpoint(path: Union[str, Path]) -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(weights_only=True)``; a file carrying pickled code is refused."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise UnsafeCheckpointError(
            f"{path}: refused: loading it would run pickled code (torch.load weights_only=True failed: "
            f"{str(err).splitlines()[0]}). Only load files you trust; ganlit never unpickles code."
        ) from None


def load_module(path: Union[str, Path], map_location: str = "cpu") -> GANModule:
    """Rebuild the LightningModule saved in a ganlit checkpoint (its class is recorded in the file)."""
    ckpt = read_checkpoint(path)
    class_path = ckpt.get("ganlit_class")
    if class_path is None:
        raise ValueError(f"{path}: not a ganlit checkpoint (no 'ganlit_class' entry); was it saved by ganlit fit?")
    module_name, _, name = class_path.rpartition(".")
    cls = getattr(importlib.import_module(module_name), name)
    hparams = dict(ckpt.get("hyper_parameters", {}))
    hparams.pop("_instantiator", None)
    hparams.pop("_class_path", None)
    model = cls(**hparams)
    model.on_load_checkpoint(ckpt)
    model.load_state_dict(ckpt["state_dict"], strict=True)
    return model.to(map_location).eval()
