"""``ganlit translate``: apply a ganlit checkpoint or official pretrained weights to a folder of images.

    ganlit translate --model runs/pix2pix_facades/checkpoints/last.ckpt --input photos/ --output out/
    ganlit download official:cyclegan/horse2zebra      # once: fetched to where official:<kind>/<name> looks
    ganlit translate --model official:cyclegan/horse2zebra --input horses/ --output zebras/
    ganlit translate --model official:pix2pix --weights facades_label2photo.pth --input labels/ --output out/ [--eval]
    ganlit translate --model official:cyclegan --weights horse2zebra.pth --input horses/ --output zebras/
    ganlit translate --model official:stargan --weights 200000-G.ckpt \\
        --attrs Black_Hair,Blond_Hair,Brown_Hair,Male,Young --input faces/ --output out/ [--target Blond_Hair=1,...]

One PNG per input image, named after the input's stem, at the input's own size and aspect ratio (each image runs at
its size rounded to what the network takes; ``--image-size``/``--preprocess`` resize instead). The model's
``translate`` gets only the options it declares (``model.inference().options``) and the user gave (``--eval`` ->
``eval_mode=True``, ``--target`` -> ``target={name: value}``, ``--reference`` -> ``reference`` [N, C, H, W],
``--remove`` -> ``remove=True``), and ``direction=`` only when it declares two directions; a model that declares
``c_org`` (StarGAN) gets the inputs' labels from ``--source``, all 0 when not given: the true attributes of an
arbitrary file are unknown. Any other option is refused by name.

The input folder is streamed in batches (memory does not grow with the number of images); a file that is
not an image, or cannot be decoded, is skipped with a warning naming it and the rest continues. Exit codes: 0 written; 2 bad input (missing or unsafe
weights file, output folder that already holds files without ``--overwrite``, options that do not apply),
reported as one line without a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Iterator, Optional

import torch
from PIL import Image
from torch import Tensor

from ganlit.commands.output import save_picture
from ganlit.commands.preprocess import PREPROCESS
from ganlit.commands.translators import (
    InputError,
    Translator,
    load_translator,
    open_image,
    parse_assignments,
)
from ganlit.errors import UsageError, command, report
from ganlit.utils.outputs import output_names

__all__ = ["build_parser", "main", "output_names", "parse_assignments", "load_translator", "translate_files"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ganlit translate",
        description="Translate images with a ganlit checkpoint or official pix2pix/CycleGAN/StarGAN weights.",
    )
    p.add_argument("--model", required=True,
                   help="a ganlit checkpoint (.ckpt), a run folder, a bundle folder (ganlit pack), hf:owner/name, "
                        "or official:pix2pix | official:cyclegan | official:stargan, with --weights or as "
                        "official:<kind>/<name> (a model `ganlit download` fetched)")
    p.add_argument("--weights", type=Path, default=None, help="the official weights file (official:* only)")
    p.add_argument("--input", required=True, type=Path, help="an image or a folder of images")
    p.add_argument("--output", required=True, type=Path, help="folder for the translated PNGs")
    p.add_argument("--direction", choices=("AtoB", "BtoA"), default=None,
                   help="the direction to translate, for models that learn both (default AtoB)")
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
                   help="resize inputs to this square size (default: keep each input's size; official:stargan: "
                        "128 after its center crop)")
    p.add_argument("--preprocess", choices=PREPROCESS, default=None,
                   help="sizing, as the official pix2pix/CycleGAN test names it: keep (default: the input's size "
                        "and aspect ratio), none, resize_and_crop (default with --image-size; the load size is "
                        "--image-size, else the training size), scale_width")
    p.add_argument("--crop-size", type=int, default=None,
                   help="center-crop to this size before resizing (default: none; official:stargan 178)")
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader workers decoding the images (default 0)")
    p.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default cuda when available, else cpu")
    p.add_argument("--overwrite", action="store_true", help="write into a folder that already holds files")
    return p


# ----------------------------------------------------------------------------- streaming the files
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
            image = open_image(self.files[index])
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
                seen = tuple(images.shape[-2:])
                for index, image, size in zip(indices, result, sizes):
                    save_picture(translator.output_picture(image, seen, size), out_dir / names[index])
                    written += 1
            bar.update(len(indices) + len(failures))
    return written, skipped


# ----------------------------------------------------------------------------- the command
def _error(message: str) -> int:
    return report("translate", UsageError(message))


@command("translate")
def main(argv: Optional[list[str]] = None) -> int:
    """Run ``ganlit translate``; return the exit code."""
    from ganlit.commands.output import prepare_output_dir, refuse_overwriting_inputs

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
        if args.input.is_dir() and args.output.resolve() == args.input.resolve():
            raise InputError(f"--output {args.output} is the --input folder: the translations would mix with (and "
                             "could replace) the images being read; choose another folder")
        refuse_overwriting_inputs([args.output / n for n in output_names(files)], files)
        if args.output.is_dir() and any(args.output.iterdir()) and not args.overwrite:
            prepare_output_dir(args.output, overwrite=False)  # raises before the (slow) model load
        translator = load_translator(args, device)
        out_dir = prepare_output_dir(args.output, args.overwrite)
    except (UsageError, FileNotFoundError, ValueError) as err:  # CheckpointError, OutputExistsError, DiskError, ...
        return _error(str(err))
    except Exception as err:  # a file torch cannot parse at all: still one line, no traceback
        first_line = (str(err).splitlines() or [""])[0]
        return _error(f"cannot load {args.weights or args.model}: {type(err).__name__}: {first_line}")

    print(f"ganlit translate: {translator.description}; {len(files)} image(s) -> {out_dir}", file=sys.stderr)
    try:
        written, skipped = translate_files(translator, files, out_dir, args.batch_size, device, args.num_workers, warn)
    except (UsageError, ValueError, TypeError) as err:  # e.g. a full disk, a size the network cannot take, an unknown option
        return _error(str(err))
    print(f"ganlit translate: wrote {written} image(s) to {out_dir}" + (f"; skipped {skipped}" if skipped else ""))
    if written == 0:
        return _error("no input image could be read")
    return 0


if __name__ == "__main__":
    sys.exit(main())
