"""Images per second of ganlit's real data modules, per DataLoader worker count.

    python bench/data_pipeline.py --module paired|unpaired|celeba[,...] [--workers 0,1,2,4] [--size 256] \\
        [--images 200] [--batch-size N] [--threads N] [--json out.json]

Writes a dataset tree in the real on-disk format into a temporary folder (pix2pix A|B JPEGs of 2*size x size;
CycleGAN trainA/trainB JPEGs of size x size; CelebA 178x218 aligned JPEGs with ``list_attr_celeba.txt``),
with smooth photo-like content so JPEG decoding costs what it costs on photographs, then iterates one
training epoch of the data module (decode, resize, crop, flip, normalise, collate) per worker count.
Reported: the time to the first batch (worker start-up) and images/s over the rest of the epoch.
Compare with ``bench/train_step.py``: the input keeps up when its images/s exceed the model's.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))  # provenance.py beside this file

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from provenance import cpu_name, provenance, write_report  # noqa: E402

CELEBA_SIZE = (178, 218)  # width, height of img_align_celeba


def photo(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A smooth random RGB image (low-frequency colour field plus mild grain), uint8 [H, W, 3]."""
    coarse = rng.integers(0, 256, size=(max(2, height // 32), max(2, width // 32), 3), dtype=np.uint8)
    smooth = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC), dtype=np.int16)
    grain = rng.integers(-8, 9, size=smooth.shape, dtype=np.int16)
    return np.clip(smooth + grain, 0, 255).astype(np.uint8)


def _jpeg(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, quality=95)


def write_paired(root: Path, n: int, size: int) -> Path:
    """``<root>/{train,val}/<i>.jpg``: A | B side by side, ``2*size x size`` (facades: 512x256)."""
    rng = np.random.default_rng(0)
    for split, count in (("train", n), ("val", 2)):
        for i in range(1, count + 1):
            _jpeg(np.concatenate([photo(rng, size, size), photo(rng, size, size)], axis=1), root / split / f"{i}.jpg")
    return root


def write_unpaired(root: Path, n: int, size: int) -> Path:
    """``<root>/{trainA,trainB,testA,testB}/*.jpg`` of ``size x size`` (horse2zebra: 256x256)."""
    rng = np.random.default_rng(1)
    for folder, count in (("trainA", n), ("trainB", n), ("testA", 2), ("testB", 2)):
        for i in range(count):
            _jpeg(photo(rng, size, size), root / folder / f"{folder[-1].lower()}_{i:05d}.jpg")
    return root


def write_celeba(root: Path, n: int) -> Path:
    """``img_align_celeba/000001.jpg`` (178x218) and ``list_attr_celeba.txt`` in the official format."""
    from ganlit.data.celeba import CELEBA_ATTRIBUTES

    rng = np.random.default_rng(2)
    width, height = CELEBA_SIZE
    lines = [str(n), " ".join(CELEBA_ATTRIBUTES) + " "]
    for i in range(n):
        name = f"{i + 1:06d}.jpg"
        _jpeg(photo(rng, height, width), root / "img_align_celeba" / name)
        values = rng.choice([-1, 1], size=len(CELEBA_ATTRIBUTES))
        lines.append(name + "".join(f"{v:3d}" for v in values))
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    return root


def _load_size(size: int) -> int:
    """The official 286-for-256 resize before the random crop, scaled to other sizes."""
    return max(size, round(size * 286 / 256))


def paired_module(root: Path, size: int, batch: int, workers: int) -> Any:
    from ganlit.data import PairedImageDataModule

    return PairedImageDataModule(str(root), batch_size=batch, num_workers=workers, image_size=size,
                                 load_size=_load_size(size), pin_memory=False)


def unpaired_module(root: Path, size: int, batch: int, workers: int) -> Any:
    from ganlit.data import UnpairedImageDataModule

    return UnpairedImageDataModule(str(root), batch_size=batch, num_workers=workers, image_size=size,
                                   load_size=_load_size(size), pin_memory=False)


def celeba_module(root: Path, size: int, batch: int, workers: int) -> Any:
    from ganlit.data import CelebADataModule

    return CelebADataModule(str(root), batch_size=batch, num_workers=workers, image_size=size, test_size=2,
                            pin_memory=False)


# name -> (tree writer (root, n, size), data module factory (root, size, batch, workers), default size, default batch)
MODULES: dict[str, tuple[Callable[..., Path], Callable[..., Any], int, int]] = {
    "paired": (write_paired, paired_module, 256, 1),
    "unpaired": (write_unpaired, unpaired_module, 256, 1),
    "celeba": (lambda root, n, size: write_celeba(root, n), celeba_module, 128, 16),
}


def load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def time_epoch(data: Any) -> dict[str, Any]:
    """One training epoch: seconds to the first batch, then images/s over the remaining batches."""
    data.setup("fit")
    loader = data.train_dataloader()
    load_before = load()
    start = time.perf_counter()
    first, images, rest_images = None, 0, 0
    for batch in loader:
        n = next(v for v in batch.values() if torch.is_tensor(v)).size(0)
        images += n
        if first is None:
            first = time.perf_counter()
        else:
            rest_images += n
    end = time.perf_counter()
    if first is None:
        raise RuntimeError("the data module gave no batch")
    rest = end - first
    return {"first_batch_s": first - start, "epoch_s": end - start, "images": images,
            "images_per_s": rest_images / rest if rest_images and rest > 0 else images / (end - start),
            "load_before": load_before, "load_after": load()}


def run(name: str, workers: list[int], size: Optional[int], images: int, batch: Optional[int], root: Path) -> dict[str, Any]:
    write, factory, default_size, default_batch = MODULES[name]
    size, batch = size or default_size, batch or default_batch
    tree = write(root / name, images, size)
    results = []
    for w in workers:
        print(f"[{time.strftime('%H:%M:%S')}] {name}: {w} worker(s) ...", file=sys.stderr)
        results.append({"workers": w, **time_epoch(factory(tree, size, batch, w))})
    return {"module": name, "size": size, "batch_size": batch, "images": images, "results": results}


def table(report: dict[str, Any]) -> str:
    threads = report["main_threads"]
    lines = [f"data pipeline on {report['cpu']} ({report['cpu_count']} cores); main process threads: torch "
             f"{threads['torch']}, OpenCV {threads['opencv']}; load {report['load_start']}"]
    lines.append(f"{'module':<10} {'size':>5} {'batch':>6} {'workers':>8} {'img/s':>9} {'first batch s':>14} {'epoch s':>8}")
    for m in report["modules"]:
        for r in m["results"]:
            lines.append(f"{m['module']:<10} {m['size']:>5} {m['batch_size']:>6} {r['workers']:>8} "
                         f"{r['images_per_s']:>9.1f} {r['first_batch_s']:>14.2f} {r['epoch_s']:>8.2f}")
    return "\n".join(lines)


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/data_pipeline.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--module", default="paired,unpaired,celeba", help="comma-separated: paired, unpaired, celeba")
    p.add_argument("--workers", default="0,1,2,4", help="comma-separated worker counts (default 0,1,2,4)")
    p.add_argument("--size", type=int, default=None, help="image_size (default 256; celeba 128, StarGAN's)")
    p.add_argument("--images", type=int, default=200, help="training images in the generated tree (default 200)")
    p.add_argument("--batch-size", type=int, default=None, help="default: the module's (paired/unpaired 1, celeba 16)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch and OpenCV threads of the main process (default: theirs); workers use one each")
    p.add_argument("--json", type=Path, default=None, help="write the report here")
    p.add_argument("--results", type=Path, default=None,
                   help="also write it as DIR/<date>_data_pipeline_<config>.json (bench/results: the docs' figures)")
    args = p.parse_args(argv)
    args.modules = [m.strip() for m in args.module.split(",") if m.strip()]
    bad = [m for m in args.modules if m not in MODULES]
    if bad or not args.modules:
        p.error(f"--module {args.module!r}: expected a comma-separated subset of {','.join(MODULES)}")
    try:
        args.worker_counts = [int(w) for w in args.workers.split(",")]
    except ValueError:
        p.error(f"--workers {args.workers!r}: expected comma-separated integers such as 0,1,2,4")
    if any(w < 0 for w in args.worker_counts) or args.images < 1:
        p.error("--workers must be >= 0 and --images >= 1")
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    import cv2

    if args.threads:
        # With 0 workers the main process decodes and augments; on a busy machine its thread pools can
        # spin-wait and run several times slower than one thread.
        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)
    report: dict[str, Any] = {**provenance("data_pipeline.py", argv), "cpu": cpu_name(), "cpu_count": os.cpu_count(),
                              "torch": torch.__version__,
                              "main_threads": {"torch": torch.get_num_threads(), "opencv": cv2.getNumThreads()},
                              "load_start": load(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                              "statistic": "images/s over one training epoch after its first batch", "modules": []}
    with tempfile.TemporaryDirectory(prefix="ganlit-data-bench-") as tmp:
        for name in args.modules:
            report["modules"].append(run(name, args.worker_counts, args.size, args.images, args.batch_size, Path(tmp)))
    report["load_end"] = load()
    slug = "_".join(args.modules) + "_w" + "-".join(map(str, args.worker_counts))
    write_report(report, args.json, args.results, slug)
    print(table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
