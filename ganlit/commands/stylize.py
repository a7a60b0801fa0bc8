"""``ganlit stylize``: Gatys neural style transfer of one content image (the pre-GAN baseline).

    ganlit stylize --content photo.jpg --style monet.jpg --output out.png [--size 512] [--steps 300]

Exit codes: 0 written; 2 bad input (unreadable image, existing output without ``--overwrite``,
missing VGG-19 weights, unusable option values), with one clear message and no traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from ganlit.errors import InputError, UsageError, command

__all__ = ["build_parser", "load_image", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ganlit stylize",
        description="Gatys et al. (CVPR 2016) neural style transfer: optimise an image so that its VGG-19 "
        "features match the content image and its Gram matrices match the style image(s). VGG-19 weights "
        "are read offline from --vgg-weights or $TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth.",
    )
    parser.add_argument("--content", required=True, type=Path, metavar="IMG", help="content image")
    parser.add_argument("--style", required=True, nargs="+", type=Path, metavar="IMG", help="one or more style images")
    parser.add_argument("--style-weights", nargs="+", type=float, default=None, metavar="W",
                        help="mixing weight per style image (normalised to sum 1; default equal)")
    parser.add_argument("--output", required=True, type=Path, metavar="IMG", help="image to write (PNG recommended)")
    parser.add_argument("--size", type=int, default=512, metavar="PX",
                        help="longer side of the content and style images (default 512)")
    parser.add_argument("--steps", type=int, default=300, metavar="N", help="optimisation steps (default 300)")
    parser.add_argument("--content-weight", type=float, default=1.0, metavar="ALPHA", help="alpha (default 1)")
    parser.add_argument("--style-weight", type=float, default=1e7, metavar="BETA", help="beta (default 1e7)")
    parser.add_argument("--init", choices=("content", "noise"), default="noise",
                        help="start image (default noise, the paper)")
    parser.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs", help="default lbfgs (the paper)")
    parser.add_argument("--lr", type=float, default=None, help="step size (default 1.0 for lbfgs, 0.02 for adam)")
    parser.add_argument("--pooling", choices=("avg", "max"), default="avg", help="VGG pooling (default avg, the paper)")
    parser.add_argument("--vgg-weights", type=Path, default=None, metavar="PATH",
                        help="path of torchvision's vgg19-dcbb9e9d.pth")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default cuda when available, else cpu")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise initialisation")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    return parser


def load_image(path: Path, size: int | None) -> Tensor:
    """Read an image as RGB ``(3, H, W)`` in ``[0, 1]``, its longer side resized to ``size``."""
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
    except FileNotFoundError:
        raise InputError(f"image file {str(path)!r} does not exist") from None
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise InputError(f"cannot read image file {str(path)!r}: {err}") from None
    if size:
        scale = size / max(img.size)
        new_size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        img = img.resize(new_size, Image.Resampling.BICUBIC)
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float() / 255


def save_image(image: Tensor, path: Path) -> None:
    array = (image.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous()
    from ganlit.commands.output import save_picture

    save_picture(Image.fromarray(array.numpy()), path)


def _check_args(args: argparse.Namespace) -> str:
    """Validate everything that can be checked before the (slow) optimisation; return the device."""
    from ganlit.commands.output import refuse_overwriting_inputs

    refuse_overwriting_inputs([args.output], [args.content, *args.style])
    if args.output.exists() and not args.overwrite:
        raise InputError(f"output file {str(args.output)!r} already exists; pass --overwrite to replace it")
    extension = args.output.suffix.lower()
    writable = {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.SAVE}
    if extension not in writable:
        raise InputError(f"output file {str(args.output)!r}: cannot write the image format {extension!r}; use .png")
    if args.style_weights is not None and len(args.style_weights) != len(args.style):
        raise InputError(f"--style-weights has {len(args.style_weights)} values for {len(args.style)} --style images")
    if args.steps < 1:
        raise InputError(f"--steps must be >= 1, got {args.steps}")
    if args.size < 1:
        raise InputError(f"--size must be >= 1, got {args.size}")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for but no CUDA device is available")
    return device


def _print_curve(losses: list[dict[str, float]]) -> None:
    """Print about ten points of the loss curve (every 10% of the evaluations)."""
    n = len(losses)
    marks = sorted({1, *(max(1, round(n * k / 10)) for k in range(1, 11))})
    print(f"{'step':>6} {'total':>12} {'content':>12} {'style':>12}")
    for step in marks:
        row = losses[step - 1]
        print(f"{step:>6} {row['total']:>12.4g} {row['content']:>12.4g} {row['style']:>12.4g}")


@command("stylize")
def main(argv: list[str] | None = None) -> int:
    """Run ``ganlit stylize``; return the exit code."""
    from tqdm import tqdm

    from ganlit.models.style_transfer import StyleTransfer
    from ganlit.weights import MissingWeightsError

    args = build_parser().parse_args(argv)
    try:
        device = _check_args(args)
        content = load_image(args.content, args.size)
        styles = [load_image(path, args.size) for path in args.style]
        model = StyleTransfer(
            content_weight=args.content_weight,
            style_weight=args.style_weight,
            pooling=args.pooling,
            init=args.init,
            optimizer=args.optimizer,
            lr=args.lr,
            vgg_weights=None if args.vgg_weights is None else str(args.vgg_weights),
        )
    except MissingWeightsError as err:
        raise UsageError(f"{err} (ganlit stylize takes the path as --vgg-weights PATH.)") from None
    except ValueError as err:  # e.g. a weight file that is not VGG-19
        raise UsageError(str(err)) from None
    model.to(device)

    height, width = content.shape[1:]
    with tqdm(total=args.steps, desc="stylize", unit="step", file=sys.stderr, dynamic_ncols=True) as bar:

        def progress(evaluation: int, losses: dict[str, float]) -> None:
            bar.set_postfix(loss=f"{losses['total']:.4g}", refresh=False)
            bar.update(1)

        start = time.perf_counter()
        image, losses = model.stylize(
            content, styles, steps=args.steps, style_weights=args.style_weights, seed=args.seed, callback=progress
        )
        if device == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start

    save_image(image, args.output)
    _print_curve(losses)
    print(
        f"stylized {width}x{height} in {elapsed:.1f} s ({len(losses)} loss evaluations, "
        f"{elapsed / max(len(losses), 1):.3f} s each, {args.optimizer}, {device}); wrote {args.output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
