"""Reading files from strangers safely: ``torch.load(weights_only=True)``, so a pickle that names code is refused, and
one-line errors that say whether the file is missing, damaged or unsafe. Every checkpoint ganlit reads (``ganlit.load``,
``--ckpt_path``, the Lightning checkpoint I/O a ``GANModule`` installs) goes through :func:`read_checkpoint`; every
weights file (official generators, VGG-19, Inception, the digits judge, cached features) through :func:`read_weights`."""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path
from typing import Any, Callable, Optional, Union

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from ganlit.errors import UsageError

__all__ = ["AtomicCheckpointIO", "CheckpointError", "DamagedCheckpointError", "MissingCheckpointError",
           "UnsafeCheckpointError", "read_checkpoint", "read_weights"]

# What torch's weights_only unpickler says when a file names code (a global, a constructor) rather than bad bytes.
_CODE_MARKERS = r"GLOBAL|unrecognized function|create new object|must be imported"


class CheckpointError(UsageError, ValueError):
    """A checkpoint file that cannot be used: missing, damaged, or not a ganlit checkpoint."""


class MissingCheckpointError(CheckpointError, FileNotFoundError):
    """The checkpoint path names no file."""


class DamagedCheckpointError(CheckpointError):
    """The file is not a readable PyTorch checkpoint (truncated, random bytes, another format)."""


class UnsafeCheckpointError(CheckpointError):
    """The file needs arbitrary pickled code to load; ganlit refuses it."""


def read_checkpoint(path: Union[str, Path], mmap: bool = False) -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(weights_only=True)``.

    A file that references code (a pickled global other than tensors and plain containers) is refused; any other
    failure means the file is damaged or not a checkpoint, and the error says which. ``mmap=True`` maps the
    tensors instead of reading them, for a cheap look at the metadata of a large file.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingCheckpointError(f"checkpoint {path} does not exist" + (" (it is a folder)" if path.is_dir() else ""))
    size = path.stat().st_size
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        detail = str(err)
        code = re.search(r"\bGLOBAL ([\w.]+)", detail)  # the pickle names a function or class to call
        if code:
            raise UnsafeCheckpointError(
                f"{path}: refused: the file carries pickled code ({code.group(1)}), which ganlit never runs. "
                "Only a file saved by ganlit fit (tensors and plain values) can be loaded."
            ) from None
        raise DamagedCheckpointError(_damaged(path, size, "its contents are not a PyTorch checkpoint")) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError) as err:
        first = (str(err).splitlines() or [type(err).__name__])[0].split(". This is an internal")[0]
        reason = "the file is empty" if size == 0 else f"{first or type(err).__name__}"
        raise DamagedCheckpointError(_damaged(path, size, reason)) from None


def read_weights(path: Union[str, Path]) -> dict[str, Any]:
    """Read a weights file (a dict of tensors and plain values) on the CPU with ``torch.load(weights_only=True)``.

    Raises:
        FileNotFoundError: ``path`` names no file.
        ValueError: the file carries pickled code (refused, never run; the error's cause is torch's
            ``UnpicklingError``), is not a PyTorch file, or holds something other than a dict. Each message starts
            with the path.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weights file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        code = next((line for line in lines if re.search(_CODE_MARKERS, line)), None)
        if code is None:  # malformed bytes: a bad opcode, not an attempt to import anything
            raise ValueError(f"{path}: not a PyTorch checkpoint file ({lines[-1] if lines else err})") from err
        raise ValueError(
            f"{path}: refused, the file carries pickled code (objects other than tensors and plain "
            "containers), and loading it unrestricted could run that code. Re-save a file you trust as a plain "
            f"state dict: torch.save(model.state_dict(), path). torch: {code}"
        ) from err
    except Exception as err:  # torch raises KeyError/RuntimeError/EOFError on files it cannot parse at all
        raise ValueError(f"{path}: not a PyTorch checkpoint file ({type(err).__name__}: {err})") from err
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: holds a {type(obj).__name__}, expected a dict (a state dict)")
    return obj


def _damaged(path: Path, size: int, reason: str) -> str:
    kind = "a zip archive cut short or corrupted" if zipfile.is_zipfile(path) or _starts_like_zip(path) else reason
    return (f"{path}: damaged checkpoint ({size} bytes): {kind}. "
            "Copy it again from where it was saved, or use another checkpoint (e.g. last.ckpt).")


def _starts_like_zip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint I/O that never leaves a half-written file and never unpickles code.

    Saving goes through ``ganlit.utils.atomic`` (``<name>.tmp-<pid>``, flushed, renamed over the target), so a run
    killed mid-save keeps its previous checkpoint intact and a full disk is a one-line ``DiskError``. Loading (``--ckpt_path``) uses
    ``weights_only=True``. GANModule installs it on the trainer when the default I/O is in use.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Union[str, Path], storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        from ganlit.utils.atomic import save_torch

        save_torch(checkpoint, path)

    def load_checkpoint(self, path: Union[str, Path], map_location: Optional[Callable] = None,
                        weights_only: Optional[bool] = None) -> dict[str, Any]:
        return read_checkpoint(path)
