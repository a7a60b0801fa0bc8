"""Offline resolution of pretrained weight files (torchvision / torch hub checkpoints).

Nothing here downloads. A weight file is either given as a path or expected where torch hub
would have cached it (``$TORCH_HOME/hub/checkpoints/<filename>``); when it is in neither place
the error says which file, where to put it and where it comes from, so a user on an offline
machine can copy it in by hand. Used for VGG-19 (style transfer) and Inception (metrics).
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch

from ganlit.errors import UsageError

__all__ = ["MissingWeightsError", "hub_checkpoint_dir", "load_state_dict_file", "resolve_weights"]


class MissingWeightsError(UsageError, FileNotFoundError):
    """A pretrained weight file is not on disk; the message says what to place where."""


def hub_checkpoint_dir() -> Path:
    """Where torch hub keeps downloaded checkpoints: ``torch.hub.get_dir()/checkpoints``.

    Read on every call, so a changed ``$TORCH_HOME`` is honoured.
    """
    return Path(torch.hub.get_dir()) / "checkpoints"


def resolve_weights(filename: str, path: str | Path | None = None, url: str = "", what: str = "") -> Path:
    """Return the weight file to load, without touching the network.

    Args:
        filename: the checkpoint's file name as torch hub caches it (e.g. ``vgg19-dcbb9e9d.pth``).
        path: an explicit file; when given it is returned as is, and must exist.
        url: where the file is published; only used to tell the user where to get it.
        what: a few words naming the weights for the error message (e.g. ``"VGG-19 ImageNet weights"``).

    Raises:
        MissingWeightsError: the file is not where it was looked for.
    """
    label = what or "pretrained weights"
    source = f" It is published at {url}." if url else ""
    if path is not None:
        given = Path(path).expanduser()
        if not given.is_file():
            raise MissingWeightsError(
                f"The {label} file given as {str(path)!r} does not exist (or is not a file).{source} "
                f"Pass the path of a downloaded copy of {filename}, or leave the path out to use "
                f"{hub_checkpoint_dir() / filename}."
            )
        return given
    cached = hub_checkpoint_dir() / filename
    if not cached.is_file():
        origin = (
            f" The file comes from {url}: download it on a machine with network access"
            f" (e.g. `curl -L -o {filename} {url}`) and copy it there."
            if url else ""
        )
        raise MissingWeightsError(
            f"Missing {label}: the file {filename} is not in {cached.parent}. ganlit never downloads at "
            f"run time, so place the file in that directory (it follows $TORCH_HOME; see "
            f"torch.hub.get_dir()) or pass its path explicitly.{origin}"
        )
    return cached


def load_state_dict_file(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint of tensors on the CPU, refusing anything that would need to run pickled code.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file holds pickled objects other than tensors/containers, is not a torch
            checkpoint, or does not hold a dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weight file {str(path)!r} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights only load failed" not in str(err).lower():
            raise ValueError(f"weight file {str(path)!r} is not a readable torch checkpoint ({err})") from err
        # weights_only=True refuses pickled classes/functions: such a file is never loaded with
        # code execution.
        unsupported = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        found = f" (it references {unsupported.group(1)})" if unsupported else ""
        raise ValueError(
            f"weight file {str(path)!r} holds pickled Python code or objects beyond tensors and plain "
            f"containers{found}; refusing to load it, since that would execute code from the file. "
            f"Re-save it as a plain state dict: torch.save(model.state_dict(), path)."
        ) from err
    except (RuntimeError, EOFError, KeyError, ValueError) as err:
        reason = f"{type(err).__name__}: {err}"
        raise ValueError(f"weight file {str(path)!r} is not a readable torch checkpoint ({reason})") from err
    if not isinstance(state, dict):
        raise ValueError(f"weight file {str(path)!r} holds a {type(state).__name__}, expected a dict (a state dict)")
    return state
