"""Loading ganlit checkpoints safely (``weights_only``) without knowing their class beforehand."""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from ganlit.errors import UsageError

if TYPE_CHECKING:
    from ganlit.models.base import GANModule


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


def model_class(path: Any, key: str = "ganlit_class", source: str = "") -> type:
    """The ganlit model class a file names (a ``GANModule`` subclass, a user's own paper included), checked before
    anything is called; anything else raises ``UntrustedClassError`` naming the key and the value."""
    from ganlit.models.base import GANModule
    from ganlit.utils.imports import import_class

    return import_class(path, GANModule, key, source, kind="a ganlit model class (a subclass of ganlit.GANModule)")


def checked_hyper_parameters(ckpt: dict[str, Any], path: Union[str, Path]) -> dict[str, Any]:
    """The init arguments a checkpoint records, without Lightning's bookkeeping keys; nested ``class_path``
    entries (an argument that is itself a class) must pass the same check as the model's class."""
    hparams = ckpt.get("hyper_parameters", {})
    if not isinstance(hparams, dict) or not all(isinstance(k, str) for k in hparams):
        raise CheckpointError(f"{path}: hyper_parameters is a {type(hparams).__name__}, expected a mapping of "
                              "argument names to values")
    hparams = dict(hparams)
    for key in ("_instantiator", "_class_path"):
        hparams.pop(key, None)
    _check_nested_classes(hparams, "hyper_parameters", str(path))
    return hparams


def _check_nested_classes(value: Any, key: str, source: str) -> None:
    from ganlit.utils.imports import import_class

    if isinstance(value, dict):
        if "class_path" in value:
            import_class(value["class_path"], None, f"{key}.class_path", source)
        for k, v in value.items():
            _check_nested_classes(v, f"{key}.{k}", source)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_nested_classes(v, f"{key}[{i}]", source)


def load_module(path: Union[str, Path], map_location: str = "cpu") -> "GANModule":
    """Rebuild the LightningModule saved in a ganlit checkpoint (its class is recorded in the file).

    ``path`` may also be a bundle folder (``ganlit pack``), a run folder (its ``checkpoints/last.ckpt``) or
    ``hf:owner/name`` (see ``ganlit.bundle``). The class is checked to be a ganlit model before it is called; a
    checkpoint whose arguments or weights do not fit that class raises ``CheckpointError`` in one line.
    """
    from ganlit.bundle import is_bundle, load_bundle, resolve_source

    path = resolve_source(path)
    if is_bundle(path):
        return load_bundle(path, map_location)
    ckpt = read_checkpoint(path)
    class_path = ckpt.get("ganlit_class") if isinstance(ckpt, dict) else None
    if class_path is None:
        raise CheckpointError(f"{path}: not a ganlit checkpoint (no 'ganlit_class' entry); was it saved by ganlit fit?")
    cls = model_class(class_path, "ganlit_class", str(path))
    hparams = checked_hyper_parameters(ckpt, path)
    try:
        model = cls(**hparams)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: its hyper_parameters do not fit {cls.__name__}: {_first_line(err)}") from None
    state = ckpt.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: no state_dict of weights (found {type(state).__name__})")
    model.ganlit_facts = dict(ckpt.get("ganlit_facts") or {})  # read through ganlit.facts.checkpoint_facts
    try:
        model.on_load_checkpoint(ckpt)
        model.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, ValueError) as err:
        raise CheckpointError(f"{path}: its weights do not fit the {cls.__name__} its hyper_parameters describe: "
                              f"{_mismatch(err)}") from None
    return model.to(map_location).eval()


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def _mismatch(err: BaseException) -> str:
    """torch's many-line load_state_dict report in one line: the first few missing/unexpected/mismatched keys."""
    text = str(err)
    parts = []
    for label in ("Missing key(s)", "Unexpected key(s)"):
        m = re.search(re.escape(label) + r' in state_dict: ([^\n]*)', text)
        if m:
            keys = re.findall(r'"([^"]+)"', m.group(1))
            parts.append(f"{label.split()[0].lower()} {', '.join(keys[:3])}" + (f" (+{len(keys) - 3} more)" if len(keys) > 3 else ""))
    sizes = re.findall(r"size mismatch for ([\w.]+): copying a param with shape (torch.Size\(\[[^\]]*\]\)) from "
                       r"checkpoint, the shape in current model is (torch.Size\(\[[^\]]*\]\))", text)
    if sizes:
        name, got, want = sizes[0]
        parts.append(f"size mismatch for {name}: {got.replace('torch.Size', '')} in the file, "
                     f"{want.replace('torch.Size', '')} in the model" + (f" (+{len(sizes) - 1} more)" if len(sizes) > 1 else ""))
    return "; ".join(parts) or _first_line(err)
