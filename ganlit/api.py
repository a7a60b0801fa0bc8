"""``ganlit.load``: a model ready for inference from a checkpoint, a run folder, a bundle folder, the Hugging Face Hub
or the official released weights. Every command that uses a model (``sample``, ``translate``, ``evaluate``,
``export``, ``demo``) loads it here and then calls only what the model declares (:mod:`ganlit.models.inference`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence, Union

from ganlit.errors import UsageError
from ganlit.hub import OFFICIAL_KINDS, OFFICIAL_PREFIX, missing_official_weights, official_source  # noqa: F401

if TYPE_CHECKING:
    from torch import nn

__all__ = ["OFFICIAL_KINDS", "OFFICIAL_PREFIX", "load", "missing_official_weights", "official_source"]


def load(source: Union[str, Path], device: str = "cpu", *, weights: Union[str, Path, None] = None,
         attrs: Optional[Sequence[str]] = None, dropout: bool = True) -> "nn.Module":
    """The model ``source`` names, in eval mode on ``device``, with the inference contract
    (``model.inference()``, ``model.translate``/``model.sample``, ``model.export_network``).

    Args:
        source: a ganlit checkpoint (``.ckpt``), a run folder (its ``checkpoints/last.ckpt``), a bundle folder
            written by ``ganlit pack`` (``model.safetensors`` + ``config.json``), ``hf:owner/name`` (a bundle on
            the Hugging Face Hub, ``pip install 'ganlit[hub]'``), or ``official:pix2pix`` / ``official:cyclegan`` /
            ``official:stargan`` with ``weights``, or ``official:<kind>/<name>`` once ``ganlit download
            official:<kind>/<name>`` fetched it.
        device: where the model goes (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
        weights: the official weights file (``official:*`` only; wins over the downloaded file of a name).
        attrs: ``official:stargan``: the attribute names the weights were trained on, in order (a released model
            by name defaults to the five CelebA attributes it was released with).
        dropout: ``official:pix2pix``/``cyclegan``: False builds a U-Net without dropout.

    The class a file names is checked to be a ganlit model before anything is called; a bundle runs no pickle.
    A bundle gives the same ``sample``/``translate`` outputs as the checkpoint it was packed from, bit for bit.
    """
    text = str(source)
    if text.startswith(OFFICIAL_PREFIX):
        return _load_official(text, weights, attrs, dropout).to(device).eval()
    if weights is not None:
        raise UsageError("--weights is for official:* models; a ganlit checkpoint is given with --model alone")
    if attrs is not None:
        raise UsageError("--attrs is for official:stargan; a ganlit checkpoint knows its attribute names")
    from ganlit.bundle import load_model

    return load_model(source, map_location=device)


def _load_official(source: str, weights: Union[str, Path, None], attrs: Optional[Sequence[str]],
                   dropout: bool) -> "nn.Module":
    from ganlit.hub import load_official
    from ganlit.models.official import OfficialGenerator, OfficialStarGAN

    kind, path, names = official_source(source, weights, attrs)
    if path is None:
        raise UsageError(missing_official_weights(kind))
    if kind != "stargan":
        if names is not None:
            raise UsageError(f"--attrs only applies to official:stargan, not {source}")
        return OfficialGenerator(kind, load_official(kind, path, **({} if dropout else {"use_dropout": False})), path)
    net = load_official("stargan", path)
    if names is None:
        raise UsageError(f"official:stargan needs --attrs (ganlit.load: attrs=[...]) with the {net.c_dim} attribute "
                         "names it was trained on, e.g. Black_Hair,Blond_Hair,Brown_Hair,Male,Young")
    if len(names) != net.c_dim:
        raise UsageError(f"--attrs names {len(names)} attributes but {path} was trained on c_dim={net.c_dim}")
    return OfficialStarGAN(net, names, path)
