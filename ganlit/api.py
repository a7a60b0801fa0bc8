"""``ganlit.load``: a trained model from a checkpoint, a run folder, a bundle folder or the Hugging Face Hub."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from ganlit.models.base import GANModule

__all__ = ["load"]


def load(source: Union[str, Path], device: str = "cpu") -> "GANModule":
    """The model ``source`` names, in eval mode on ``device``.

    Args:
        source: a ganlit checkpoint (``.ckpt``), a run folder (its ``checkpoints/last.ckpt``), a bundle folder
            written by ``ganlit pack`` (``model.safetensors`` + ``config.json``), or ``hf:owner/name``, a bundle on
            the Hugging Face Hub (``pip install 'ganlit[hub]'``; fetched once into huggingface_hub's cache).
        device: where the model goes (``"cpu"``, ``"cuda"``, ``"cuda:1"``).

    The class a file names is checked to be a ganlit model before anything is called; a bundle runs no pickle.
    A bundle gives the same ``sample``/``translate`` outputs as the checkpoint it was packed from, bit for bit.
    """
    from ganlit.checkpoint import load_module

    return load_module(source, map_location=device)
