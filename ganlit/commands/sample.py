"""``ganlit sample --ckpt CKPT --num N --output DIR [--seed S]``: images from a GAN or CGAN checkpoint."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

import torch
import torchvision.utils as vutils


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ganlit sample", description=__doc__)
    p.add_argument("--ckpt", required=True, type=Path, help="a ganlit checkpoint of a sampling model (GAN, CGAN)")
    p.add_argument("--num", type=int, default=64, help="number of images")
    p.add_argument("--output", required=True, type=Path, help="folder for the PNGs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--labels", type=str, default=None,
                   help="conditional models: comma-separated classes to cycle through (default: all classes)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--overwrite", action="store_true", help="write into a folder that already holds files")
    return p.parse_args(argv)


def write_samples(model: torch.nn.Module, num: int, out: Path, seed: int = 0, classes: Optional[list[int]] = None,
                  batch_size: int = 256) -> list[Path]:
    """Write ``num`` samples of ``model`` into ``out`` as ``ganlit sample`` names them; return the paths in order.

    Conditional models cycle through ``classes`` (default all); batch ``k`` is drawn with seed ``seed + k * batch_size``.
    """
    conditional = getattr(model, "conditional", False)
    labels = None
    if conditional:
        classes = classes if classes else list(range(model.num_classes))
        labels = torch.tensor(classes).repeat(num // len(classes) + 1)[:num]
    counts: dict[int, int] = {}
    paths = []
    for start in range(0, num, batch_size):
        n = min(batch_size, num - start)
        chunk = labels[start:start + n] if labels is not None else None
        images, chunk = model.sample(n, chunk, seed=seed + start)
        for i, image in enumerate(images.float().add(1).div(2).clamp(0, 1).cpu()):
            if conditional:
                c = int(chunk[i])
                name = f"{c}_{counts.get(c, 0)}.png"
                counts[c] = counts.get(c, 0) + 1
            else:
                name = f"{start + i}.png"
            vutils.save_image(image, out / name)
            paths.append(out / name)
    return paths


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    from ganlit.checkpoint import load_module
    from ganlit.commands.output import OutputExistsError, prepare_output_dir

    try:
        model = load_module(args.ckpt, map_location=args.device)
        out = prepare_output_dir(args.output, args.overwrite)
    except (FileNotFoundError, ValueError, OutputExistsError) as err:
        print(f"ganlit sample: {err}", file=sys.stderr)
        return 2
    if not hasattr(model, "sample"):
        print(f"ganlit sample: {type(model).__name__} is not a sampling model; use `ganlit translate`", file=sys.stderr)
        return 2
    classes = [int(c) for c in args.labels.split(",")] if args.labels else None
    write_samples(model, args.num, out, args.seed, classes, args.batch_size)
    print(f"ganlit sample: wrote {args.num} images to {out}")
    return 0
