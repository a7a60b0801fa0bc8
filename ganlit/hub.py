"""Official pretrained generators (pix2pix, CycleGAN, StarGAN) loaded into ganlit networks.

The files are plain ``state_dict``s. They are read with ``weights_only=True`` (a file that needs
arbitrary pickled code is refused), the architecture is read off the tensor shapes, and the weights
are loaded strictly, so a wrong guess fails loudly instead of leaving layers at random.
Nothing here downloads: the URL tables are for ``ganlit download official:<kind>/<name>`` (which puts a file where
:func:`resolve_official` finds it) and the documentation.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, Optional, Sequence, Union

import torch
from torch import nn

from ganlit.errors import UsageError
from ganlit.utils.safeload import read_weights

Kind = Literal["pix2pix", "cyclegan", "stargan"]

CYCLEGAN_PRETRAINED_URL = "http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/{name}.pth"
CYCLEGAN_PRETRAINED_NAMES = (
    "horse2zebra",
    "zebra2horse",
    "apple2orange",
    "orange2apple",
    "summer2winter_yosemite",
    "winter2summer_yosemite",
    "monet2photo",
    "style_monet",
    "style_cezanne",
    "style_ukiyoe",
    "style_vangogh",
    "sat2map",
    "map2sat",
    "cityscapes_photo2label",
    "cityscapes_label2photo",
    "facades_photo2label",
    "facades_label2photo",
    "iphone2dslr_flower",
)
PIX2PIX_PRETRAINED_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/{name}.pth"
PIX2PIX_PRETRAINED_NAMES = ("edges2shoes", "sat2map", "map2sat", "facades_label2photo", "day2night")
# Zip archives holding `200000-G.ckpt` / `200000-D.ckpt` (the URLs as the official download script has them).
STARGAN_PRETRAINED_URLS = {
    "celeba-128x128-5attrs": "https://www.dropbox.com/s/7e966qq0nlxwte4/celeba-128x128-5attrs.zip?dl=0",
    "celeba-256x256-5attrs": "https://www.dropbox.com/s/zdq6roqf63m0v5f/celeba-256x256-5attrs.zip?dl=0",
}
# The attributes the released CelebA models were trained on, in order (the official README's --selected_attrs).
STARGAN_PRETRAINED_ATTRS = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")

_STATS = ("running_mean", "running_var", "num_batches_tracked")
# How torch's weights-only unpickler words a refusal to import or call something (vs. malformed bytes).


# Where ``ganlit download official:<kind>/<name>`` puts a file and ``resolve_official`` finds it, under
# ``hub_checkpoint_dir()`` (``$TORCH_HOME/hub/checkpoints``): ``ganlit-official/<kind>/<name>.pth``, and for StarGAN
# the generator taken out of its zip, ``ganlit-official/stargan/<name>/200000-G.ckpt``.
OFFICIAL_DIR = "ganlit-official"
STARGAN_G_FILE = "200000-G.ckpt"


def _tables() -> dict[str, dict[str, str]]:
    return {
        "pix2pix": {n: PIX2PIX_PRETRAINED_URL.format(name=n) for n in PIX2PIX_PRETRAINED_NAMES},
        "cyclegan": {n: CYCLEGAN_PRETRAINED_URL.format(name=n) for n in CYCLEGAN_PRETRAINED_NAMES},
        "stargan": dict(STARGAN_PRETRAINED_URLS),
    }


def official_names(kind: str) -> tuple[str, ...]:
    """The names of the released models of ``kind`` (``pix2pix``, ``cyclegan`` or ``stargan``)."""
    tables = _tables()
    if kind not in tables:
        raise ValueError(f"kind={kind!r}: expected one of {sorted(tables)}")
    return tuple(tables[kind])


def pretrained_url(kind: Kind, name: str) -> str:
    """The official download URL of a pretrained model ``name`` of ``kind``."""
    tables = _tables()
    if kind not in tables:
        raise ValueError(f"kind={kind!r}: expected one of {sorted(tables)}")
    if name not in tables[kind]:
        raise ValueError(f"no official {kind} model named {name!r}; available: {', '.join(tables[kind])}")
    return tables[kind][name]


def official_weights_file(kind: Kind, name: str) -> str:
    """Where the generator of official model ``name`` lives, relative to ``ganlit.weights.hub_checkpoint_dir()``."""
    pretrained_url(kind, name)  # an unknown kind or name raises here, naming the known ones
    if kind == "stargan":
        return f"{OFFICIAL_DIR}/stargan/{name}/{STARGAN_G_FILE}"
    return f"{OFFICIAL_DIR}/{kind}/{name}.pth"


def official_download(kind: Kind, name: str) -> str:
    """The command that fetches official model ``name`` of ``kind`` to where :func:`resolve_official` looks."""
    return f"ganlit download official:{kind}/{name}"


def resolve_official(kind: Kind, name: str, path: str | Path | None = None) -> Path:
    """The weight file of official model ``name`` of ``kind`` (``path`` when given), never downloaded here.

    Raises:
        ganlit.weights.MissingWeightsError: the file is not there; the message names ``ganlit download
            official:<kind>/<name>`` and, for an offline machine, the file to place where.
        ValueError: no official ``kind`` model is named ``name``.
    """
    from ganlit.weights import resolve_weights

    url = pretrained_url(kind, name)
    what = f"official {kind} weights {name!r}" + (f" ({STARGAN_G_FILE} from the zip)" if kind == "stargan" else "")
    return resolve_weights(official_weights_file(kind, name), path, url=url, what=what,
                           download=official_download(kind, name), in_archive=kind == "stargan")


# ----------------------------------------------------------------------------- official:<kind>[/<name>] sources
OFFICIAL_PREFIX = "official:"
OFFICIAL_KINDS = ("pix2pix", "cyclegan", "stargan")


def missing_official_weights(kind: str) -> str:
    """The error for ``official:<kind>`` with no file: the two ways to name one."""
    return (f"--model official:{kind} needs --weights PATH (the official weights file), or a released model by name: "
            f"--model official:{kind}/<name> once `ganlit download official:{kind}/<name>` fetched it "
            f"(names: ganlit download --list)")


def official_source(source: str, weights: Union[str, Path, None] = None,
                    attrs: Optional[Sequence[str]] = None) -> tuple[str, Optional[Path], Optional[list[str]]]:
    """``(kind, weights file, attribute names)`` of ``official:<kind>[/<name>]``: with a name, the file ganlit
    downloads that model to (``weights`` still wins) and, for StarGAN, the five CelebA attributes it was released
    with; a missing file raises ``MissingWeightsError`` naming ``ganlit download``."""
    kind, _, name = source[len(OFFICIAL_PREFIX):].partition("/")
    if kind not in OFFICIAL_KINDS:
        raise UsageError(f"--model {source}: expected official:{' | official:'.join(OFFICIAL_KINDS)}, "
                         "optionally with /<name> of a released model")
    path = Path(weights) if weights is not None else None
    names = [a.strip() for a in attrs if a.strip()] if attrs is not None else None
    if name:
        if name not in official_names(kind):
            raise UsageError(f"--model {source}: no released {kind} model named {name!r}; known: "
                             f"{', '.join(official_names(kind))}")
        path = resolve_official(kind, name, path)
        if kind == "stargan" and names is None:
            names = list(STARGAN_PRETRAINED_ATTRS)
    return kind, path, names


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a plain state dict safely (``weights_only=True``) and strip a DataParallel ``module.`` prefix."""
    obj = read_weights(path)
    if not all(isinstance(k, str) and torch.is_tensor(v) for k, v in obj.items()):
        raise ValueError(f"{path}: expected a plain state dict (parameter name -> tensor), found a dict with keys "
                         f"{list(obj)[:5]}")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def load_official(kind: Kind, path: str | Path, **kw: Any) -> nn.Module:
    """Build the generator an official ``kind`` checkpoint describes and load it with ``strict=True``.

    - ``pix2pix`` / ``cyclegan`` (``latest_net_G.pth``, ``<name>.pth``): a ``UnetGenerator`` when the keys
      are nested (``model.model.0.weight``), a ``ResnetGenerator`` otherwise (``model.1.weight``). Width,
      channels, depth (U-Net downs / residual blocks), norm, dropout in residual blocks and zero padding
      are read from the keys and shapes. InstanceNorm running statistics left by old PyTorch versions
      are dropped.
    - ``stargan`` (``<iter>-G.ckpt``): a ``StarGANGenerator`` with ``conv_dim``, ``c_dim`` and ``repeat_num``
      read from the shapes.

    ``kw`` overrides or completes the constructor arguments (e.g. ``use_dropout=False`` for a U-Net,
    whose dropout leaves no trace in the keys, or ``padding="replicate"``). The network comes back in
    training mode, as the official test scripts run it (dropout on, batch statistics); call ``.eval()``
    for running statistics. Old files lack BatchNorm/InstanceNorm ``num_batches_tracked``: those, and only
    those, are filled in (with 0) before the strict load.
    """
    return official_network(kind, read_state_dict(path), path, **kw)


def official_network(kind: Kind, sd: dict[str, torch.Tensor], path: str | Path, **kw: Any) -> nn.Module:
    """:func:`load_official` on a state dict already read (``path`` names its source in errors): what a bundle
    packed from official weights is rebuilt with."""
    if kind not in ("pix2pix", "cyclegan", "stargan"):
        raise ValueError(f"kind={kind!r}: expected 'pix2pix', 'cyclegan' or 'stargan'")
    try:
        net = _build(kind, sd, path, kw)
    except KeyError as err:  # a key the layout needs to read a size from
        raise ValueError(f"{path}: not an official {kind} generator: key {err} is missing") from err
    sd = _patch_norm_stats(sd, net)
    try:
        net.load_state_dict(sd, strict=True)
    except RuntimeError as err:
        raise ValueError(f"{path}: does not match the {type(net).__name__} its shapes suggest:\n{err}") from err
    return net


def _build(kind: str, sd: dict[str, torch.Tensor], path: Path | str, kw: dict[str, Any]) -> nn.Module:
    if kind in ("pix2pix", "cyclegan"):
        if "model.model.0.weight" in sd:
            return _build_unet(sd, kw)
        if "model.1.weight" in sd:
            return _build_resnet(sd, kw)
        raise ValueError(
            f"{path}: not an official {kind} generator: expected 'model.model.0.weight' (U-Net) or "
            f"'model.1.weight' (ResNet), found keys {list(sd)[:5]}"
        )
    return _build_stargan(sd, path, kw)


def _build_resnet(sd: dict[str, torch.Tensor], kw: dict[str, Any]) -> nn.Module:
    from ganlit.networks.resnet import ResnetGenerator

    first = sd["model.1.weight"]  # Conv7x7 in -> ngf
    blocks = sorted({int(m[1]) for k in sd if (m := re.match(r"model\.(\d+)\.conv_block\.", k))})
    last = max(int(m[1]) for k in sd if (m := re.fullmatch(r"model\.(\d+)\.weight", k)))
    args: dict[str, Any] = dict(
        in_channels=first.shape[1],
        out_channels=sd[f"model.{last}.weight"].shape[0],
        ngf=first.shape[0],
        n_blocks=len(blocks),
        norm=_norm_of(sd, bias_key="model.1.bias", norm_key="model.2.weight"),
    )
    if blocks:
        # Conv positions inside a block: (1, 5) padded, (0, 3) zero padding; one further with dropout.
        pattern = rf"model\.{blocks[0]}\.conv_block\.(\d+)\.weight"
        convs = sorted(int(m[1]) for k, v in sd.items() if v.ndim == 4 and (m := re.fullmatch(pattern, k)))
        if len(convs) == 2:  # anything else is not a ResnetBlock; the strict load will say which keys differ
            padded = convs[0] == 1
            args["padding"] = "reflect" if padded else "zero"
            args["use_dropout"] = convs[1] - convs[0] == (5 if padded else 4)
    return ResnetGenerator(**{**args, **kw})


def _build_unet(sd: dict[str, torch.Tensor], kw: dict[str, Any]) -> nn.Module:
    from ganlit.networks.unet import UnetGenerator

    first = sd["model.model.0.weight"]  # Conv4x4 in -> ngf
    num_downs, prefix = 1, "model.model.1"
    while f"{prefix}.model.1.weight" in sd:  # each level nests the next one at `.model.3`
        num_downs, prefix = num_downs + 1, f"{prefix}.model.3"
    args: dict[str, Any] = dict(
        in_channels=first.shape[1],
        out_channels=sd["model.model.3.weight"].shape[1],  # ConvTranspose2d weight: (in, out, k, k)
        num_downs=num_downs,
        ngf=first.shape[0],
        norm=_norm_of(sd, bias_key="model.model.0.bias", norm_key="model.model.1.model.2.weight"),
    )
    return UnetGenerator(**{**args, **kw})


def _build_stargan(sd: dict[str, torch.Tensor], path: Path | str, kw: dict[str, Any]) -> nn.Module:
    from ganlit.networks.stargan import StarGANGenerator

    if "main.0.weight" not in sd:
        raise ValueError(f"{path}: not an official StarGAN generator: no 'main.0.weight', found keys {list(sd)[:5]}")
    first = sd["main.0.weight"]  # Conv7x7 (3 + c_dim) -> conv_dim
    blocks = {int(m[1]) for k in sd if (m := re.match(r"main\.(\d+)\.main\.", k))}
    args = dict(conv_dim=first.shape[0], c_dim=first.shape[1] - 3, repeat_num=len(blocks))
    return StarGANGenerator(**{**args, **kw})


def _norm_of(sd: dict[str, torch.Tensor], bias_key: str, norm_key: str) -> str:
    """The official rule: convs have a bias only under InstanceNorm, which has no affine weight."""
    if bias_key in sd:
        return "instance"
    return "batch" if norm_key in sd else "none"


def _patch_norm_stats(sd: dict[str, torch.Tensor], net: nn.Module) -> dict[str, torch.Tensor]:
    """Drop InstanceNorm running stats the network does not keep; fill missing ``num_batches_tracked``."""
    expected = net.state_dict()
    out = {}
    for key, value in sd.items():
        owner, _, leaf = key.rpartition(".")
        if key not in expected and leaf in _STATS and isinstance(_submodule(net, owner), nn.InstanceNorm2d):
            continue  # stats an affine-free InstanceNorm never used (PyTorch < 0.4 saved them)
        out[key] = value
    for key, value in expected.items():
        if key.endswith(".num_batches_tracked") and key not in out:
            out[key] = torch.zeros_like(value)
    return out


def _submodule(net: nn.Module, name: str) -> nn.Module | None:
    try:
        return net.get_submodule(name)
    except AttributeError:
        return None
