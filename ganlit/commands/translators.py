"""Translators for ``ganlit translate`` and ``ganlit demo``: what reads, runs and saves the images of any model
:func:`ganlit.load` gives (a ganlit checkpoint, a bundle, official pix2pix / CycleGAN / StarGAN weights), built from
the model's inference declaration (:mod:`ganlit.models.inference`) and typed options; an option the model does not
declare is refused by name."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ganlit.commands.preprocess import make_preprocess, official_pix2pix_uint8, official_preprocess, rounded_uint8
from ganlit.errors import InputError

if TYPE_CHECKING:
    from ganlit.models.inference import Inference


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
    """How to read, run and save: ``preprocess(PIL) -> [C, H, W]``, ``run(batch) -> [N, C, H, W']``, ``to_uint8``.

    ``restore_size``: each output is resized back to its input's size (a row of k results to k times its width)."""

    def __init__(self, preprocess: Callable[[Image.Image], Tensor], run: Callable[[Tensor], Tensor],
                 to_uint8: Callable[[Tensor], np.ndarray], description: str, restore_size: bool = False) -> None:
        self.preprocess, self.run, self.to_uint8, self.description = preprocess, run, to_uint8, description
        self.restore_size = restore_size

    def output_picture(self, output: Tensor, seen: tuple[int, int], size: tuple[int, int]) -> Image.Image:
        """``output`` [C, H', W'] as a picture; with ``restore_size``, scaled as its input was scaled from ``size``
        (width, height) to ``seen`` (height, width), so it has the input's size and aspect ratio."""
        picture = Image.fromarray(self.to_uint8(output))
        if self.restore_size:
            width, height = round(picture.width * size[0] / seen[1]), round(picture.height * size[1] / seen[0])
            if picture.size != (width, height):
                picture = picture.resize((width, height), Image.BICUBIC)
        return picture


@dataclass
class TranslateOptions:
    """What a translation is asked for, typed: the options of ``ganlit translate`` and the controls of the demo.

    ``target``/``source``: ``{attribute: value}``; ``reference``: an image file; ``image_size``, ``preprocess``,
    ``crop_size``: the sizing (default: the model's declared sizing, ``keep`` for ganlit models)."""

    direction: Optional[str] = None
    eval_mode: bool = False
    target: Optional[dict[str, float]] = None
    source: Optional[dict[str, float]] = None
    reference: Optional[Path] = None
    remove: bool = False
    image_size: Optional[int] = None
    preprocess: Optional[str] = None
    crop_size: Optional[int] = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "TranslateOptions":
        """The options of ``ganlit translate``'s parsed arguments (``--target``/``--source`` parsed here)."""
        return cls(direction=args.direction, eval_mode=args.eval,
                   target=None if args.target is None else parse_assignments(args.target, "--target"),
                   source=None if args.source is None else parse_assignments(args.source, "--source"),
                   reference=args.reference, remove=args.remove, image_size=args.image_size,
                   preprocess=args.preprocess, crop_size=args.crop_size)


# Which option of the commands gives each keyword of translate (ganlit.models.inference.OPTIONS).
FLAGS = {"eval_mode": "--eval", "target": "--target", "c_org": "--source", "reference": "--reference",
         "remove": "--remove"}


def resolve_direction(spec: "Inference", given: Optional[str], name: str) -> Optional[str]:
    """The direction to run: ``given`` if the model declares it, else its first; None for models without one."""
    if not spec.directions:
        if given is not None:
            what = "samples images" if spec.task == "sample" else "has one network for every target"
            raise InputError(f"--direction does not apply to {name}: it {what}; omit --direction")
        return None
    if given is None:
        return spec.directions[0]
    if given not in spec.directions:
        if len(spec.directions) == 1:
            raise InputError(f"--direction {given} does not apply: {name} learns one mapping "
                             f"(direction={spec.directions[0]!r})")
        raise InputError(f"--direction {given}: {name} translates {' or '.join(spec.directions)}")
    return given


def make_translator(model: torch.nn.Module, options: TranslateOptions, device: str, source: str) -> Translator:
    """The translator of ``model`` (from :func:`ganlit.load`) for ``options``: it passes ``translate`` only the
    keywords the model declares and the user asked for, and sizes inputs as declared (``keep``: each input's own size,
    rounded to what the network takes, and the output back at the input's size)."""
    spec = model.inference()
    name = type(model).__name__
    if spec.task != "translate":
        raise InputError(f"{source}: {name} samples images, it does not translate them; use `ganlit sample`")
    asked = {"eval_mode": options.eval_mode, "target": options.target is not None,
             "c_org": options.source is not None, "reference": options.reference is not None, "remove": options.remove}
    refused = [FLAGS[k] for k, on in asked.items() if on and k not in spec.options]
    if refused:
        raise InputError(f"{name}.translate() takes no {', '.join(refused)} option")
    direction = resolve_direction(spec, options.direction, name)
    kw: dict[str, Any] = {"direction": direction} if len(spec.directions) > 1 else {}
    kw.update({k: True for k in ("eval_mode", "remove") if asked[k]})
    if options.target is not None:
        if spec.attributes:
            _label_vector(options.target, list(spec.attributes), "--target", complete=True)
        kw["target"] = dict(options.target)
    if "c_org" in spec.options and (options.source is not None or options.target is None):
        # The inputs' own labels, from --source (unnamed attributes 0): the true attributes of a file are unknown.
        kw["c_org"] = _label_vector(options.source or {}, list(spec.attributes), "--source", complete=False).to(device)
    sizing = options.preprocess or ("resize_and_crop" if options.image_size and spec.sizing == "keep" else spec.sizing)
    size = options.image_size or spec.image_size or 256
    grayscale = spec.channels_of(direction) == 1
    if sizing == "center_crop_resize":  # StarGAN's CelebA test: center crop, then a bilinear resize
        preprocess = make_preprocess(size, options.crop_size or spec.crop, grayscale, bicubic=False)
    else:
        multiple = model.size_multiple(direction) if sizing in ("keep", "none") else 1
        preprocess = official_preprocess(sizing, size, options.crop_size, multiple, grayscale)
    reference = None
    if options.reference is not None:
        reference = preprocess(open_image(options.reference))[None].to(device)

    def run(x: Tensor) -> Tensor:
        call = dict(kw)
        if reference is not None:
            call["reference"] = reference.expand(x.size(0), -1, -1, -1)
        if "c_org" in call:
            call["c_org"] = call["c_org"].expand(x.size(0), -1)
        return _row(model.translate(x, **call))

    details = [d for d in (direction, _mode(spec, options.eval_mode), sizing) if d]
    return Translator(preprocess, run, official_pix2pix_uint8 if spec.pixels == "truncate" else rounded_uint8,
                      f"{name} from {source} ({', '.join(details)})", restore_size=sizing == "keep")


def _mode(spec: "Inference", eval_mode: bool) -> str:
    if spec.mode != "train":
        return ""
    return "eval mode" if eval_mode else "training mode, as the official test"


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


def load_translator(args: argparse.Namespace, device: str, loaded: Optional[torch.nn.Module] = None) -> Translator:
    """The translator ``ganlit translate``'s arguments describe (the model from :func:`ganlit.load`, unless
    ``loaded``); raises InputError/FileNotFoundError/ValueError on bad input."""
    from ganlit.api import OFFICIAL_PREFIX, load, official_source

    options = TranslateOptions.from_args(args)  # option syntax first: a typo is reported before a slow load
    attrs = None if args.attrs is None else args.attrs.split(",")
    model = loaded if loaded is not None else load(args.model, device, weights=args.weights, attrs=attrs,
                                                   dropout=not args.no_dropout)
    source = args.model
    if args.model.startswith(OFFICIAL_PREFIX):  # name the weights file it used (a released model's: where it lies)
        source += f" ({official_source(args.model, args.weights, attrs)[1]})"
    return make_translator(model, options, device, source)
