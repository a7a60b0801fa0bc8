"""Loading ganlit checkpoints safely (``weights_only``) without knowing their class beforehand."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

# The safe reading itself lives in ganlit.utils.safeload; its names stay importable from here.
from ganlit.utils.safeload import (AtomicCheckpointIO, CheckpointError, DamagedCheckpointError,  # noqa: F401
                                   MissingCheckpointError, UnsafeCheckpointError, read_checkpoint)

if TYPE_CHECKING:
    from ganlit.models.base import GANModule

__all__ = ["AtomicCheckpointIO", "CheckpointError", "DamagedCheckpointError", "MissingCheckpointError",
           "UnsafeCheckpointError", "checked_hyper_parameters", "load_module", "model_class", "read_checkpoint"]


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
    """Rebuild the LightningModule saved in a ganlit checkpoint file (its class is recorded in the file).

    The class is checked to be a ganlit model before it is called; a checkpoint whose arguments or weights do not
    fit that class raises ``CheckpointError`` in one line. A run folder, a bundle folder or ``hf:owner/name``:
    :func:`ganlit.load` (or ``ganlit.bundle.load_model``).
    """
    path = Path(path)
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
