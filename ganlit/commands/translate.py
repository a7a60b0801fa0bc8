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

OFFICIAL_KINDS = ("pix2pix", "cyclegan", "stargan")
STARGAN_CROP = 178  # the official CelebA preprocessing: center crop 178, then resize to image_size

__all__ = ["build_parser", "main", "parse_assignments", "load_translator", "translate_files"]


class InputError(Exception):
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


# ----------------------------------------------------------------------------- preprocessing and saving
def make_preprocess(size: int, crop: Optional[int], grayscale: bool, bicubic: bool) -> Callable[[Image.Image], Tensor]:
    """PIL image -> ``[C, size, size]`` in [-1, 1], with the official test scripts' operations (torchvision on PIL).

    pix2pix/CycleGAN ``test.py``: resize to load_size = crop_size square with PIL bicubic, no flip,
    ToTensor, Normalize(0.5, 0.5). StarGAN: CenterCrop(178), Resize(image_size) (bilinear), same tensors.
    """
    import torchvision.transforms.functional as TF
    from torchvision.transforms import InterpolationMode

    method = InterpolationMode.BICUBIC if bicubic else InterpolationMode.BILINEAR

    def preprocess(image: Image.Image) -> Tensor:
        image = image.convert("RGB")
        if grayscale:
            image = TF.to_grayscale(image, 1)
        if crop is not None:
            image = TF.center_crop(image, [crop, crop])
        image = TF.resize(image, [size, size], method)
        return TF.normalize(TF.to_tensor(image), [0.5] * (1 if grayscale else 3), [0.5] * (1 if grayscale else 3))

    return preprocess


def official_pix2pix_uint8(image: Tensor) -> np.ndarray:
    """The official ``util.tensor2im``: ``(x + 1) / 2 * 255`` in float32, truncated to uint8; grey tiled to RGB."""
    array = image.detach().cpu().float().numpy()
    if array.shape[0] == 1:
        array = np.tile(array, (3, 1, 1))
    return ((np.transpose(array, (1, 2, 0)) + 1) / 2.0 * 255.0).astype(np.uint8)


def rounded_uint8(image: Tensor) -> np.ndarray:
    """``round((x + 1) / 2 * 255)`` clamped to [0, 255]: StarGAN's ``denorm`` + ``save_image``, and ganlit's own."""
    unit = ((image.detach().cpu().float() + 1) / 2).clamp(0, 1)
    array = unit.mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    return array[..., 0] if array.shape[2] == 1 else array


def _row(outputs: Any) -> Tensor:
    """A model's result as one image per input: a list of outputs is laid out side by side (a test grid row)."""
    if isinstance(outputs, (list, tuple)):
        return torch.cat(list(outputs), dim=3)
    return outputs


# ----------------------------------------------------------------------------- translators
class Translator:
    """How to read, run and save: ``preprocess(PIL) -> [C, H, W]``, ``run(batch) -> [N, C, H, W']``, ``to_uint8``."""

    def __init__(self, preprocess: Callable[[Image.Image], Tensor], run: Callable[[Tensor], Tensor],
                 to_uint8: Callable[[Tensor], np.ndarray], description: str) -> None:
        self.preprocess, self.run, self.to_uint8, self.description = preprocess, run, to_uint8, description


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
        preprocess = make_preprocess(args.image_size or 256, args.crop_size, grayscale, bicubic=True)
        mode = "eval mode" if args.eval else "training mode, as the official test"
        return Translator(preprocess, lambda x: apply_generator(net, x, args.eval), official_pix2pix_uint8,
                          f"official {kind} {type(net).__name__} from {args.weights} ({mode})")
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
    size = args.image_size or int(getattr(model, "image_size", 0) or model.hparams.get("image_size", 256))
    grayscale = int(getattr(model, "channels", 3)) == 1
    preprocess = make_preprocess(size, args.crop_size, grayscale, bicubic=True)
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

    return Translator(preprocess, run, rounded_uint8, f"{type(model).__name__} from {args.model} ({direction})")


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

    def __getitem__(self, index: int) -> tuple[int, Optional[Tensor], str]:
        try:
            return index, self.preprocess(_open(self.files[index])), ""
        except InputError as err:
            return index, None, str(err)


def _collate(items: list[tuple[int, Optional[Tensor], str]]) -> list[tuple[int, Optional[Tensor], str]]:
    return items


def batches(files: list[Path], preprocess: Callable[[Image.Image], Tensor], batch_size: int,
            num_workers: int = 0) -> Iterator[tuple[list[int], Optional[Tensor], list[tuple[int, str]]]]:
    """Yield ``(indices, images [N, C, H, W] or None, failures [(index, message)])`` one batch at a time."""
    loader = torch.utils.data.DataLoader(_Images(files, preprocess), batch_size=batch_size, shuffle=False,
                                         num_workers=num_workers, collate_fn=_collate)
    for items in loader:
        good = [(i, x) for i, x, _ in items if x is not None]
        bad = [(i, msg) for i, x, msg in items if x is None]
        yield [i for i, _ in good], (torch.stack([x for _, x in good]) if good else None), bad


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
        for indices, images, failures in batches(files, translator.preprocess, batch_size, num_workers):
            for _, message in failures:
                warn(f"skipping {message.removeprefix('cannot read image ')}")
            skipped += len(failures)
            if images is not None:
                with torch.no_grad():
                    result = translator.run(images.to(device))
                for index, image in zip(indices, result):
                    Image.fromarray(translator.to_uint8(image)).save(out_dir / names[index])
                    written += 1
            bar.update(len(indices) + len(failures))
    return written, skipped


# ----------------------------------------------------------------------------- the command
def _error(message: str) -> int:
    print(f"ganlit translate: error: {message}", file=sys.stderr)
    return 2


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
