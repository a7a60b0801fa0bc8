"""Loading ganlit checkpoints safely (``weights_only``) without knowing their class beforehand."""

from __future__ import annotations

import importlib
import os
import pickle
from pathlib import Path
from typing import Any, Callable, Optional, Union

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO


class UnsafeCheckpointError(ValueError):
    """The file needs arbitrary pickled code to load; ganlit refuses it."""


def read_checkpoint(path: Union[str, Path], mmap: bool = False) -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(weights_only=True)``; a file carrying pickled code is refused.

    ``mmap=True`` maps the tensors instead of reading them, for a cheap look at the metadata of a large file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        raise UnsafeCheckpointError(
            f"{path}: refused: loading it would run pickled code (torch.load weights_only=True failed: "
            f"{str(err).splitlines()[0]}). Only load files you trust; ganlit never unpickles code."
        ) from None


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint I/O that never leaves a half-written file and never unpickles code.

    Saving writes ``<name>.tmp-<pid>``, flushes it to disk, then renames it over the target (atomic on POSIX),
    so a run killed mid-save keeps its previous checkpoint intact. Loading (``--ckpt_path``) uses
    ``weights_only=True``. GANModule installs it on the trainer when the default I/O is in use.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Union[str, Path], storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        try:
            with open(tmp, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()

    def load_checkpoint(self, path: Union[str, Path], map_location: Optional[Callable] = None,
                        weights_only: Optional[bool] = None) -> dict[str, Any]:
        return read_checkpoint(path)


def load_module(path: Union[str, Path], map_location: str = "cpu") -> "GANModule":
    """Rebuild the LightningModule saved in a ganlit checkpoint (its class is recorded in the file)."""
    ckpt = read_checkpoint(path)
    class_path = ckpt.get("ganlit_class")
    if class_path is None:
        raise ValueError(f"{path}: not a ganlit checkpoint (no 'ganlit_class' entry); was it saved by ganlit fit?")
    from ganlit.models.base import GANModule  # noqa: F401  (the base must be importable first)

    module_name, _, name = class_path.rpartition(".")
    cls = getattr(importlib.import_module(module_name), name)
    hparams = dict(ckpt.get("hyper_parameters", {}))
    hparams.pop("_instantiator", None)
    hparams.pop("_class_path", None)
    model = cls(**hparams)
    model.on_load_checkpoint(ckpt)
    model.load_state_dict(ckpt["state_dict"], strict=True)
    return model.to(map_location).eval()
