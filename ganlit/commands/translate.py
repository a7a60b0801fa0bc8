"""``ganlit translate``: apply a ganlit checkpoint or official pretrained weights to a folder of images.

    ganlit translate --model runs/pix2pix_facades/checkpoints/last.ckpt --input photos/ --output out/
    ganlit translate --model official:pix2pix --weights facades_label2photo.pth --input labels/ --output out/ [--eval]
    ganlit translate --model official:cyclegan --weights horse2zebra.pth --input horses/ --output zebras/
    ganlit translate --model official:stargan --weights 200000-G.ckpt \\
        --attrs Black_Hair,Blond_Hair,Brown_Hair,Male,Young --input faces/ --output out/ [--target Blond_Hair=1,...]

One PNG per input image, named after the input's stem. A ganlit checkpoint's ``translate(x, direction, ...)``
gets only the options given (``--eval`` -> ``eval_mode=True``, ``--target`` -> ``target={name: value}``,
``--reference`` -> ``reference`` [N, C, H, W], ``--remove`` -> ``remove=True``); a StarGAN-like model (one whose
translate takes ``c_org``) gets the inputs' labels from ``--source``, all 0 when not given, as for
``official:stargan``: the true attributes of an arbitrary file are unknown.

The input folder is streamed in batches (memory does not grow with the number of images); a file that is
not an image, or cannot be decoded, is skipped with a warning naming it and the rest continues. Exit codes: 0 written; 2 bad input (missing or unsafe
weights file, output folder that already holds files without ``--overwrite``, options that do not apply),
reported as one line without a traceback.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ganlit.commands.preprocess import (  # noqa: F401  (make_preprocess and the savers are part of this module's API)
    PREPROCESS,
    make_preprocess,
    official_pix2pix_uint8,
    official_preprocess,
    rounded_uint8,
    size_multiple,
)
from ganlit.errors import UsageError, command, report
from ganlit.sizes import image_networks

OFFICIAL_KINDS = ("pix2pix", "cyclegan", "stargan")
STARGAN_CROP = 178  # the official CelebA preprocessing: center crop 178, then resize to image_size

__all__ = ["build_parser", "main", "parse_assignments", "load_translator", "translate_files"]


class InputError(UsageError):
    """A problem with the user's input, reported as one line and exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ganlit translate",
        description="Translate images with a ganlit checkpoint or official pix2pix/CycleGAN/StarGAN weights.",
    )
    p.add_argument("--model", required=True,
                   help="a ganlit checkpoint (.ckpt) or official:pix2pix | official:cyclegan | official:stargan")
    p.add_argument("--weights", type=Path, default=None, help="the official weights file (official:* only)")
    p.add_argument("--input", required=True, type=Path, help="an image or a folder of images")
    p.add_argument("--output", required=True, type=Path, help="folder for the translated PNGs")
    p.add_argument("--direction", choices=("AtoB", "BtoA"), default=None,
                   help="ganlit checkpoints: the direction to translate (default AtoB); "
                        "an official file holds one generator")
    p.add_argument("--eval", action="store_true",
                   help="BatchNorm running statistics and no dropout (default: the official test's training mode)")
    p.add_argument("--no-dropout", action="store_true", help="official:pix2pix/cyclegan built without dropout")
    p.add_argument("--attrs", default=None, help="official:stargan: the c_dim attribute names, in training order")
    p.add_argument("--target", default=None, help="target attributes, e.g. Blond_Hair=1,Male=0 (every attribute)")
    p.add_argument("--source", default=None,
                   help="StarGAN: the inputs' own attributes, which the test grid flips, e.g. Male=1 "
                        "(unnamed ones 0; default all 0)")
    p.add_argument("--reference", type=Path, default=None, help="reference image (makeup transfer)")
    p.add_argument("--remove", action="store_true", help="remove instead of apply (makeup removal)")
    p.add_argument("--batch-size", type=int, default=8, help="images per forward pass (default 8)")
    p.add_argument("--image-size", type=int, default=None,
                   help="resize inputs to this square size "
                        "(default: the checkpoint's image_size; official: 256, StarGAN 128)")
    p.add_argument("--preprocess", choices=PREPROCESS, default=None,
                   help="official pix2pix/CycleGAN sizing: keep (default for official weights: the input's size and "
                        "aspect ratio), none, resize_and_crop (default for checkpoints and with --image-size), "
                        "scale_width")
    p.add_argument("--crop-size", type=int, default=None,
                   help="center-crop to this size before resizing (default: none; official:stargan 178)")
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader workers decoding the images (default 0)")
    p.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default cuda when available, else cpu")
    p.add_argument("--overwrite", action="store_true", help="write into a folder that already holds files")
    return p


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
        raise InputError(f"--model official:{kind} needs --weights PATH (the official weights file)")
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
    try:
        from ganlit.models.stargan import official_test_labels
    except ImportError as err:
        raise InputError(f"the StarGAN test grid needs ganlit.models.stargan.official_test_labels ({err}); "
                         "pass --target to translate to one label vector") from None
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
        reference = preprocess(_open(args.reference))[None].to(device)
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
        kind = args.model.split(":", 1)[1]
        if kind not in OFFICIAL_KINDS:
            raise InputError(f"--model {args.model}: expected official:{' | official:'.join(OFFICIAL_KINDS)}")
        return _official_translator(kind, args, device, loaded)
    return _ganlit_translator(args, device, loaded)


# ----------------------------------------------------------------------------- streaming the files
def _open(path: Path) -> Image.Image:
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()
    except FileNotFoundError:
        raise InputError(f"image {path} does not exist") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise InputError(f"cannot read image {path}: {err}") from None


def input_files(root: Path, warn: Callable[[str], None]) -> list[Path]:
    """``root`` if it is a file, else the files directly inside it sorted by name; non-image files are
    skipped with a warning naming each."""
    from ganlit.data.io import is_image_file

    if root.is_file():
        return [root]
    if not root.is_dir():
        raise InputError(f"--input {root} does not exist")
    files = []
    for path in sorted(p for p in root.iterdir() if p.is_file()):
        if is_image_file(path):
            files.append(path)
        else:
            warn(f"skipping {path}: not an image file")
    return files


class _Images(torch.utils.data.Dataset):
    """Decodes one file per item; a failure comes back as its message, so the loader never stops on it."""

    def __init__(self, files: list[Path], preprocess: Callable[[Image.Image], Tensor]) -> None:
        self.files, self.preprocess = files, preprocess

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[int, Optional[Tensor], str, tuple[int, int]]:
        try:
            image = _open(self.files[index])
            return index, self.preprocess(image), "", image.size
        except InputError as err:
            return index, None, str(err), (0, 0)


def _collate(items: list[tuple[int, Optional[Tensor], str]]) -> list[tuple[int, Optional[Tensor], str]]:
    return items


def batches(files: list[Path], preprocess: Callable[[Image.Image], Tensor], batch_size: int,
            num_workers: int = 0) -> Iterator[tuple[list[int], Optional[Tensor], list[tuple[int, str]], list]]:
    """Yield ``(indices, images [N, C, H, W] or None, failures [(index, message)], input sizes [(W, H)])``."""
    loader = torch.utils.data.DataLoader(_Images(files, preprocess), batch_size=batch_size, shuffle=False,
                                         num_workers=num_workers, collate_fn=_collate)
    for items in loader:
        bad = [(i, msg) for i, x, msg, _ in items if x is None]
        shapes = list(dict.fromkeys(tuple(x.shape) for _, x, _, _ in items if x is not None)) or [None]
        for n, shape in enumerate(shapes):  # images of one size per forward pass
            good = [(i, x, size) for i, x, _, size in items if x is not None and tuple(x.shape) == shape]
            yield ([i for i, _, _ in good], (torch.stack([x for _, x, _ in good]) if good else None),
                   bad if n == 0 else [], [size for _, _, size in good])


def output_names(files: list[Path]) -> list[str]:
    """``<stem>.png`` per input; inputs sharing a stem (``a.jpg``, ``a.png``) get ``<stem>_<ext>.png`` after
    the first."""
    names, used = [], set()
    for path in files:
        name = f"{path.stem}.png"
        if name in used:
            name = f"{path.stem}_{path.suffix.lstrip('.').lower()}.png"
        n = 1
        while name in used:
            name, n = f"{path.stem}_{n}.png", n + 1
        used.add(name)
        names.append(name)
    return names


def translate_files(translator: Translator, files: list[Path], out_dir: Path, batch_size: int, device: str,
                    num_workers: int = 0, warn: Callable[[str], None] = print) -> tuple[int, int]:
    """Translate ``files`` into ``out_dir`` batch by batch; return (written, skipped)."""
    from tqdm import tqdm

    names = output_names(files)
    written = skipped = 0
    with tqdm(total=len(files), desc="translate", unit="img", file=sys.stderr, disable=None) as bar:
        for indices, images, failures, sizes in batches(files, translator.preprocess, batch_size, num_workers):
            for _, message in failures:
                warn(f"skipping {message.removeprefix('cannot read image ')}")
            skipped += len(failures)
            if images is not None:
                with torch.no_grad():
                    result = translator.run(images.to(device))
                for index, image, size in zip(indices, result, sizes):
                    picture = Image.fromarray(translator.to_uint8(image))
                    if translator.restore_size and picture.size != size:
                        picture = picture.resize(size, Image.BICUBIC)
                    picture.save(out_dir / names[index])
                    written += 1
            bar.update(len(indices) + len(failures))
    return written, skipped


# ----------------------------------------------------------------------------- the command
def _error(message: str) -> int:
    return report("translate", UsageError(message))


@command("translate")
def main(argv: Optional[list[str]] = None) -> int:
    """Run ``ganlit translate``; return the exit code."""
    from ganlit.checkpoint import UnsafeCheckpointError
    from ganlit.commands.output import OutputExistsError, prepare_output_dir

    args = build_parser().parse_args(argv)

    def warn(message: str) -> None:
        print(f"ganlit translate: warning: {message}", file=sys.stderr)

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        if device == "cuda" and not torch.cuda.is_available():
            raise InputError("--device cuda was asked for but no CUDA device is available")
        if args.batch_size < 1 or args.num_workers < 0 or (args.image_size is not None and args.image_size < 1):
            raise InputError("--batch-size and --image-size must be >= 1, --num-workers >= 0")
        files = input_files(args.input, warn)
        if not files:
            raise InputError(f"--input {args.input}: no image files (expected .png, .jpg, ...)")
        if args.output.is_dir() and any(args.output.iterdir()) and not args.overwrite:
            prepare_output_dir(args.output, overwrite=False)  # raises before the (slow) model load
        translator = load_translator(args, device)
        out_dir = prepare_output_dir(args.output, args.overwrite)
    except (InputError, FileNotFoundError, UnsafeCheckpointError, OutputExistsError, ValueError) as err:
        return _error(str(err))
    except Exception as err:  # a file torch cannot parse at all: still one line, no traceback
        first_line = (str(err).splitlines() or [""])[0]
        return _error(f"cannot load {args.weights or args.model}: {type(err).__name__}: {first_line}")
    if args.direction is not None and args.model.startswith("official:"):
        warn("--direction has no effect on official weights: a released file holds one generator")

    print(f"ganlit translate: {translator.description}; {len(files)} image(s) -> {out_dir}", file=sys.stderr)
    try:
        written, skipped = translate_files(translator, files, out_dir, args.batch_size, device, args.num_workers, warn)
    except (InputError, ValueError, TypeError) as err:  # e.g. a size the network cannot take, an unknown option
        return _error(str(err))
    print(f"ganlit translate: wrote {written} image(s) to {out_dir}" + (f"; skipped {skipped}" if skipped else ""))
    if written == 0:
        return _error("no input image could be read")
    return 0


if __name__ == "__main__":
    sys.exit(main())
