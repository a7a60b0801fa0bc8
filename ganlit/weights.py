"""Offline resolution of pretrained weight files (torchvision / torch hub checkpoints).

Nothing here downloads. A weight file is either given as a path or expected where torch hub
would have cached it (``$TORCH_HOME/hub/checkpoints/<filename>``); when it is in neither place
the error names the ``ganlit download ...`` command that puts it there, and for an offline
machine which file to copy where and where it comes from. Used for VGG-19 (style transfer),
Inception (metrics) and the official pix2pix / CycleGAN / StarGAN generators (``ganlit.hub``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ganlit.errors import UsageError
from ganlit.utils.safeload import read_weights

__all__ = ["MissingWeightsError", "hub_checkpoint_dir", "load_state_dict_file", "resolve_weights"]


class MissingWeightsError(UsageError, FileNotFoundError):
    """A pretrained weight file is not on disk; the message says what to place where."""


def hub_checkpoint_dir() -> Path:
    """Where torch hub keeps downloaded checkpoints: ``torch.hub.get_dir()/checkpoints``.

    Read on every call, so a changed ``$TORCH_HOME`` is honoured.
    """
    return Path(torch.hub.get_dir()) / "checkpoints"


def resolve_weights(filename: str, path: str | Path | None = None, url: str = "", what: str = "",
                    download: str = "", in_archive: bool = False) -> Path:
    """Return the weight file to load, without touching the network.

    Args:
        filename: the checkpoint's file name as torch hub caches it (e.g. ``vgg19-dcbb9e9d.pth``), or a path
            relative to :func:`hub_checkpoint_dir` (``ganlit-official/cyclegan/horse2zebra.pth``).
        path: an explicit file; when given it is returned as is, and must exist.
        url: where the file is published; only used to tell the user where to get it.
        what: a few words naming the weights for the error message (e.g. ``"VGG-19 ImageNet weights"``).
        download: the ``ganlit download ...`` command that puts the file where it is looked for
            (e.g. ``"ganlit download vgg19"``); the error names it first.
        in_archive: ``url`` is an archive that holds the file (StarGAN's zips), not the file itself.

    Raises:
        MissingWeightsError: the file is not where it was looked for.
    """
    label = what or "pretrained weights"
    name = Path(filename).name
    cached = hub_checkpoint_dir() / filename
    if path is not None:
        given = Path(path).expanduser()
        if not given.is_file():
            source = f" It is published at {url}." if url else ""
            fetched = f" (`{download}` puts it there)" if download else ""
            raise MissingWeightsError(
                f"The {label} file given as {str(path)!r} does not exist (or is not a file).{source} "
                f"Pass the path of a downloaded copy of {name}, or leave the path out to use {cached}{fetched}."
            )
        return given
    if not cached.is_file():
        get = f" Get it with: {download}  (it checks the file and puts it there)." if download else ""
        origin = ""
        if url and in_archive:
            origin = (f" The file is inside the archive {url}: download and unpack it on a machine with network "
                      f"access and copy its {name} there.")
        elif url:
            origin = (f" The file comes from {url}: download it on a machine with network access"
                      f" (e.g. `curl -L -o {name} {url}`) and copy it there.")
        raise MissingWeightsError(
            f"Missing {label}: the file {name} is not in {cached.parent}.{get} ganlit never downloads at "
            f"run time; offline, place the file in that directory (it follows $TORCH_HOME; see "
            f"torch.hub.get_dir()) or pass its path explicitly.{origin}"
        )
    return cached


def load_state_dict_file(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint of tensors on the CPU, refusing anything that would need to run pickled code
    (:func:`ganlit.utils.safeload.read_weights`)."""
    return read_weights(path)
