"""Which data a model was trained on: the data module's class, each split's image count and a content hash.

A checkpoint records it (``ganlit.record``) and a model card shows it, so two runs can be compared by the data they
saw, not by the folder it was in. A file-backed dataset hashes its list of files (paths relative to the data
module's ``root``, in order: the same files under another root hash alike); a dataset built in memory (the digits)
hashes its pixels and labels; any other dataset gives its count alone and the hash is "not recorded".
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Optional

import torch
from torch.utils.data import Dataset

__all__ = ["data_identity", "dataset_identity", "file_list_hash", "tensor_hash"]


def file_list_hash(files: list[Any], root: Optional[Path] = None) -> dict[str, str]:
    """SHA-256 of the file list: one path per line, relative to ``root`` when under it, ``/`` separators."""
    base = Path(root).expanduser().resolve() if root is not None else None
    h = hashlib.sha256()
    for f in files:
        path = Path(f).expanduser().resolve()
        try:
            name = path.relative_to(base).as_posix() if base is not None else path.as_posix()
        except ValueError:
            name = path.as_posix()
        h.update(name.encode() + b"\n")
    return {"sha256": h.hexdigest(), "of": f"the list of its {len(files)} files (paths relative to the data root)"}


def tensor_hash(what: str, *tensors: torch.Tensor) -> dict[str, str]:
    """SHA-256 of the bytes of ``tensors`` (contiguous, on the CPU), described as ``what``."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(str(tuple(t.shape)).encode() + str(t.dtype).encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return {"sha256": h.hexdigest(), "of": what}


def dataset_identity(dataset: Dataset, root: Optional[Path] = None) -> dict[str, Any]:
    """``{"count": len, "hash": {...} or None}`` of one split; the dataset's ``content_hash(root)`` gives the hash."""
    out: dict[str, Any] = {"count": len(dataset) if hasattr(dataset, "__len__") else None, "hash": None}
    content = getattr(dataset, "content_hash", None)
    if callable(content):
        out["hash"] = content(root)
    return out


def data_identity(datamodule: Any) -> dict[str, Any]:
    """The identity of a set-up data module: class, and per split (train/val/test) its count and hash."""
    cls = type(datamodule)
    out: dict[str, Any] = {"class": f"{cls.__module__}.{cls.__qualname__}", "splits": {}}
    root = getattr(datamodule, "root", None)
    seen: dict[int, str] = {}
    for split in ("train", "val", "test"):
        dataset = getattr(datamodule, f"{split}_set", None)
        if dataset is None:
            continue
        if id(dataset) in seen:
            out["splits"][split] = {"same_as": seen[id(dataset)]}
            continue
        seen[id(dataset)] = split
        out["splits"][split] = dataset_identity(dataset, root)
    return out
