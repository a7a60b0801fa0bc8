"""``ganlit sample --model CKPT --num N --output DIR [--seed S]``: images from a model that samples (its
``inference().task`` is ``sample``: GAN, CGAN, or a paper of one's own); ``--ckpt`` is the same option."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional

import torch

from ganlit.errors import UsageError, command
from ganlit.utils.outputs import image_names

__all__ = ["image_names", "main", "parse_labels", "save_png", "write_samples"]


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ganlit sample", description=__doc__)
    p.add_argument("--model", "--ckpt", dest="model", required=True, type=Path,
                   help="a ganlit checkpoint of a sampling model (GAN, CGAN), its run folder, a bundle folder "
                        "(ganlit pack) or hf:owner/name (--ckpt is the same option)")
    p.add_argument("--num", type=int, default=64, help="number of images")
    p.add_argument("--output", required=True, type=Path, help="folder for the PNGs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--labels", type=str, default=None,
                   help="conditional models: comma-separated classes to cycle through (default: all classes)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--overwrite", action="store_true", help="write into a folder that already holds files")
    return p.parse_args(argv)


def parse_labels(text: Optional[str], num_classes: int) -> list[int]:
    """``"3,7"`` -> ``[3, 7]``; every class must lie in ``0..num_classes-1``."""
    if not text:
        return list(range(num_classes))
    try:
        classes = [int(c) for c in text.split(",") if c.strip()]
    except ValueError:
        raise UsageError(f"--labels {text!r}: expected comma-separated class numbers, e.g. --labels 3,7") from None
    bad = [c for c in classes if not 0 <= c < num_classes]
    if bad or not classes:
        raise UsageError(f"--labels {text}: {'class ' + str(bad[0]) if bad else 'no class'} given; the checkpoint "
                         f"has {num_classes} classes, so each label must lie in 0..{num_classes - 1}")
    return classes


def write_samples(model: torch.nn.Module, num: int, out: Path, seed: int = 0, classes: Optional[list[int]] = None,
                  batch_size: int = 256) -> list[Path]:
    """Write ``num`` samples of ``model`` into ``out`` as ``ganlit sample`` names them; return the paths in order.

    Conditional models cycle through ``classes`` (default all); batch ``k`` is drawn with seed ``seed + k * batch_size``.
    """
    labels = None
    declared = model.inference().classes
    if declared:
        classes = classes if classes else list(range(len(declared)))
        labels = torch.tensor(classes).repeat(num // len(classes) + 1)[:num]
    names = image_names(labels.tolist() if labels is not None else None, num)
    paths = []
    for start in range(0, num, batch_size):
        n = min(batch_size, num - start)
        chunk = labels[start:start + n] if labels is not None else None
        images, chunk = model.sample(n, chunk, seed=seed + start)
        for i, image in enumerate(images.float().add(1).div(2).clamp(0, 1).cpu()):
            save_png(image, out / names[start + i])
            paths.append(out / names[start + i])
    return paths


@command("sample")
def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    from ganlit.api import load
    from ganlit.commands.output import prepare_output_dir

    if args.num < 1 or args.batch_size < 1:
        raise UsageError(f"--num {args.num} and --batch-size {args.batch_size} must be >= 1")
    model = load(args.model, args.device)
    spec = model.inference()
    if spec.task != "sample":
        raise UsageError(f"{args.model}: {type(model).__name__} is not a sampling model; use `ganlit translate`")
    classes = None
    if spec.classes:
        classes = parse_labels(args.labels, len(spec.classes))
    elif args.labels:
        raise UsageError(f"--labels: {type(model).__name__} in {args.model} is not conditional; drop --labels")
    out = prepare_output_dir(args.output, args.overwrite)
    write_samples(model, args.num, out, args.seed, classes, args.batch_size)
    print(f"ganlit sample: wrote {args.num} images to {out}")
    return 0


def save_png(image: torch.Tensor, path: Path) -> None:
    """A ``[C, H, W]`` image in [0, 1] as an 8-bit PNG: grayscale (mode L) for one channel, RGB for three."""
    from PIL import Image

    from ganlit.commands.output import save_picture

    array = image.mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    save_picture(Image.fromarray(array[..., 0] if array.shape[2] == 1 else array), path)
