"""Translators for ``ganlit translate`` and ``ganlit demo``: what reads, runs and saves the images of a ganlit
checkpoint or of official pix2pix / CycleGAN / StarGAN weights, built from the command's arguments, with every
option that does not apply refused by name."""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ganlit.attributes import official_test_labels
from ganlit.commands.preprocess import (
    make_preprocess,
    official_pix2pix_uint8,
    official_preprocess,
    rounded_uint8,
    size_multiple,
)
from ganlit.errors import UsageError
from ganlit.sizes import image_networks

OFFICIAL_KINDS = ("pix2pix", "cyclegan", "stargan")
STARGAN_CROP = 178  # the official CelebA preprocessing: center crop 178, then resize to image_size


class InputError(UsageError):
    """A problem with the user's input, reported as one line and exit code 2."""


def open_image(path: Path) -> Image.Image:
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()
    except FileNotFoundError:
        raise InputError(f"image {path} does not exist") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise InputError(f"cannot read image {path}: {err}") from None


def parse_assignments(text: str, option: str) -> dict[str, float]:
    """``"a=1,b=0"`` -> ``{"a": 1.0, "b": 0.0}``; a malformed item raises ``InputError`` naming the option."""
    out: dict[str, float] = {}
    for item in (s.strip() for s in text.split(",") if text.strip()):
        name, sep, value = item.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise InputError(
                f"{option} {text!r}: expected name=value pairs separated by commas, e.g. Male=1,Young=0"
            ) from None
    return out


def _row(outputs: Any) -> Tensor:
    """A model's result as one image per input: a list of outputs is laid out side by side (a test grid row)."""
    if isinstance(outputs, (list, tuple)):
        return torch.cat(list(outputs), dim=3)
    return outputs


# ----------------------------------------------------------------------------- translators
class Translator:
    """How to read, run and save: ``preprocess(PIL) -> [C, H, W]``, ``run(batch) -> [N, C, H, W']``, ``to_uint8``."""

    def __init__(self, preprocess: Callable[[Image.Image], Tensor], run: Callable[[Tensor], Tensor],
                 to_uint8: Callable[[Tensor], np.ndarray], description: str, restore_size: bool = False) -> None:
        self.preprocess, self.run, self.to_uint8, self.description = preprocess, run, to_uint8, description
        self.restore_size = restore_size  # write each output at its input's size


def _official_translator(kind: str, args: argparse.Namespace, device: str,
                         net: Optional[torch.nn.Module] = None) -> Translator:
    from ganlit.hub import load_official
    from ganlit.models.pix2pix import apply_generator

    if args.weights is None:
        raise InputError(missing_official_weights(kind))
    if args.reference is not None or args.remove:
        raise InputError(f"--reference/--remove do not apply to official:{kind}")
    if kind != "stargan":
        for option in ("attrs", "target", "source"):
            if getattr(args, option) is not None:
                raise InputError(f"--{option} only applies to official:stargan")
        if net is None:
            net = load_official(kind, args.weights, **({"use_dropout": False} if args.no_dropout else {})).to(device)
        grayscale = _first_conv(net).shape[1] == 1
        sizing = args.preprocess or ("resize_and_crop" if args.image_size else "keep")
        preprocess = official_preprocess(sizing, args.image_size or 256, args.crop_size,
                                         size_multiple(net) if sizing in ("keep", "none") else 1, grayscale)
        mode = "eval mode" if args.eval else "training mode, as the official test"
        return Translator(preprocess, lambda x: apply_generator(net, x, args.eval), official_pix2pix_uint8,
                          f"official {kind} {type(net).__name__} from {args.weights} ({mode}, {sizing})",
                          restore_size=sizing == "keep")
    return _stargan_translator(args, net if net is not None else load_official("stargan", args.weights).to(device))


def _stargan_translator(args: argparse.Namespace, net: torch.nn.Module) -> Translator:
    if args.attrs is None:
        raise InputError(f"official:stargan needs --attrs with the {net.c_dim} attribute names it was trained on, "
                         "e.g. Black_Hair,Blond_Hair,Brown_Hair,Male,Young")
    names = [a.strip() for a in args.attrs.split(",") if a.strip()]
    if len(names) != net.c_dim:
        raise InputError(f"--attrs names {len(names)} attributes but {args.weights} was trained on c_dim={net.c_dim}")
    net.eval()  # the official test never calls eval(): the generator keeps per-image statistics (use_batch_stats)
    preprocess = make_preprocess(args.image_size or 128, args.crop_size or STARGAN_CROP, False, bicubic=False)

    if args.target is not None:
        c_trg = _label_vector(parse_assignments(args.target, "--target"), names, "--target", complete=True)

        def run(x: Tensor) -> Tensor:
            return net(x, c_trg.to(x).expand(x.size(0), -1))

        return Translator(preprocess, run, rounded_uint8, f"official StarGAN from {args.weights}, target {args.target}")

    # The official test grid: the input, then one translation per attribute (hair colours exclusive).
    c_org = _label_vector(parse_assignments(args.source or "", "--source"), names, "--source", complete=False)

    def grid(x: Tensor) -> Tensor:
        c = c_org.to(x).expand(x.size(0), -1)
        return torch.cat([x] + [net(x, t.to(x)) for t in official_test_labels(c, names)], dim=3)

    return Translator(preprocess, grid, rounded_uint8,
                      f"official StarGAN from {args.weights}: test grid (input, then {', '.join(names)})")


def _label_vector(values: dict[str, float], names: list[str], option: str, complete: bool) -> Tensor:
    """``{name: value}`` as a ``[1, len(names)]`` label vector; unknown names (and, if ``complete``, missing
    ones) raise ``InputError``; unnamed attributes are 0 otherwise."""
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise InputError(f"{option}: unknown attribute(s) {', '.join(unknown)}; the attributes are {', '.join(names)}")
    missing = [n for n in names if n not in values]
    if complete and missing:
        raise InputError(f"{option}: every attribute needs a value; missing {', '.join(missing)}")
    return torch.tensor([[float(values.get(n, 0.0)) for n in names]])


def _first_conv(net: torch.nn.Module) -> Tensor:
    return next(m.weight for m in net.modules() if isinstance(m, torch.nn.Conv2d))


def _ganlit_translator(args: argparse.Namespace, device: str, model: Optional[torch.nn.Module] = None) -> Translator:
    from ganlit.checkpoint import load_module

    if args.weights is not None:
        raise InputError("--weights is for official:* models; a ganlit checkpoint is given with --model alone")
    if args.attrs is not None:
        raise InputError("--attrs is for official:stargan; a ganlit checkpoint knows its attribute names")
    if model is None:
        model = load_module(args.model, map_location=device)
    if not callable(getattr(model, "translate", None)):
        raise InputError(
            f"{args.model}: {type(model).__name__} has no translate(); use `ganlit sample` for sampling models"
        )
    from ganlit.facts import checkpoint_facts

    facts = checkpoint_facts(model)  # the size and channels it was trained with, as export/evaluate read them
    size = args.image_size or int(facts.get("image_size") or 256)
    grayscale = int(facts.get("channels") or 3) == 1
    sizing = args.preprocess or "resize_and_crop"  # a checkpoint learned at one size: its training size
    net = next((n for _, n, gen in image_networks(model) if gen), None)
    preprocess = official_preprocess(sizing, size, args.crop_size,
                                     size_multiple(net) if sizing in ("keep", "none") else 1, grayscale)
    options: dict[str, Any] = {}  # only what the user asked for: a model's translate() decides its own defaults
    if args.eval:
        options["eval_mode"] = True
    if args.remove:
        options["remove"] = True
    if args.target is not None:
        options["target"] = parse_assignments(args.target, "--target")
    params = inspect.signature(model.translate).parameters
    if "c_org" in params and getattr(model, "attr_names", None):
        # StarGAN-like: the inputs' own labels, from --source (unnamed attributes 0), as for official:stargan
        if args.source is not None or args.target is None:
            options["c_org"] = _label_vector(parse_assignments(args.source or "", "--source"), list(model.attr_names),
                                             "--source", complete=False).to(device)
    elif args.source is not None:
        options["source"] = parse_assignments(args.source, "--source")
    reference = None
    if args.reference is not None:
        reference = preprocess(open_image(args.reference))[None].to(device)
        options["reference"] = reference
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        flags = {"eval_mode": "--eval", "remove": "--remove", "target": "--target", "source": "--source",
                 "c_org": "--source", "reference": "--reference"}
        refused = [flags[k] for k in options if k not in params]
        if refused:
            raise InputError(f"{type(model).__name__}.translate() takes no {', '.join(refused)} option")
    direction = args.direction or "AtoB"

    def run(x: Tensor) -> Tensor:
        kw = dict(options)
        if reference is not None:
            kw["reference"] = reference.expand(x.size(0), -1, -1, -1)
        if "c_org" in kw:
            kw["c_org"] = kw["c_org"].expand(x.size(0), -1)
        return _row(model.translate(x, direction=direction, **kw))

    return Translator(preprocess, run, rounded_uint8, f"{type(model).__name__} from {args.model} ({direction}, "
                      f"{sizing})", restore_size=sizing == "keep")


def load_translator(args: argparse.Namespace, device: str, loaded: Optional[torch.nn.Module] = None) -> Translator:
    """The translator the arguments describe; raises InputError/FileNotFoundError/ValueError on bad input.

    ``loaded``: the module or official network ``args.model`` names, already loaded (``ganlit demo`` loads it once).
    """
    if args.model.startswith("official:"):
        return _official_translator(official_kind(args), args, device, loaded)
    return _ganlit_translator(args, device, loaded)


def missing_official_weights(kind: str) -> str:
    """The error for ``--model official:<kind>`` with no file: the two ways to name one."""
    return (f"--model official:{kind} needs --weights PATH (the official weights file), or a released model by name: "
            f"--model official:{kind}/<name> once `ganlit download official:{kind}/<name>` fetched it "
            f"(names: ganlit download --list)")


def official_kind(args: argparse.Namespace) -> str:
    """The kind ``--model official:<kind>[/<name>]`` names. With a name, ``args.weights`` becomes the file ganlit
    downloads that model to (``--weights`` still wins) and a StarGAN model's ``--attrs`` default to the five CelebA
    attributes it was released with; a missing file raises ``MissingWeightsError`` naming ``ganlit download``."""
    from ganlit.hub import STARGAN_PRETRAINED_ATTRS, official_names, resolve_official

    kind, _, name = args.model.split(":", 1)[1].partition("/")
    if kind not in OFFICIAL_KINDS:
        raise InputError(f"--model {args.model}: expected official:{' | official:'.join(OFFICIAL_KINDS)}, "
                         f"optionally with /<name> of a released model")
    if name:
        if name not in official_names(kind):
            raise InputError(f"--model {args.model}: no released {kind} model named {name!r}; known: "
                             f"{', '.join(official_names(kind))}")
        args.weights = resolve_official(kind, name, args.weights)  # type: ignore[arg-type]
        if kind == "stargan" and getattr(args, "attrs", None) is None:
            args.attrs = ",".join(STARGAN_PRETRAINED_ATTRS)
    return kind
