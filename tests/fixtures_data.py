"""Tiny datasets written in the real on-disk formats, for the data-module tests and the recipes' smoke runs.

Every writer returns the dataset root. Content is deterministic (seeded) so tests can recompute it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image

PathLike = Union[str, Path]

CELEBA_ATTRIBUTES = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair "
    "Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair Heavy_Makeup "
    "High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose "
    "Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat "
    "Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young"
).split()
RAFD_EXPRESSIONS = ("angry", "contemptuous", "disgusted", "fearful", "happy", "neutral", "sad", "surprised")


def _save(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"quality": 95} if path.suffix == ".jpg" else {}
    Image.fromarray(array).save(path, **options)


def _noise(rng: np.random.Generator, height: int, width: int, low: int, high: int) -> np.ndarray:
    return rng.integers(low, high, size=(height, width, 3), dtype=np.uint8)


def write_paired_tree(
    root: PathLike,
    n: int = 4,
    size: int = 32,
    ext: str = "jpg",
    splits: tuple[str, ...] = ("train", "val", "test"),
    same_halves: bool = False,
) -> Path:
    """pix2pix layout: ``<root>/<split>/<i>.jpg``, each ``2*size x size`` with A (dark noise) | B (bright noise).

    ``same_halves=True`` writes B identical to A (use ``ext="png"``: JPEG blurs across the seam).
    """
    root = Path(root)
    rng = np.random.default_rng(0)
    for split in splits:
        for i in range(1, n + 1):
            a = _noise(rng, size, size, 0, 100)
            b = a.copy() if same_halves else _noise(rng, size, size, 156, 256)
            _save(np.concatenate([a, b], axis=1), root / split / f"{i}.{ext}")
    return root


def write_unpaired_tree(root: PathLike, n_a: int = 3, n_b: int = 5, size: int = 32, ext: str = "jpg") -> Path:
    """CycleGAN layout: ``trainA``/``testA`` with ``n_a`` dark images, ``trainB``/``testB`` with ``n_b`` bright ones."""
    root = Path(root)
    rng = np.random.default_rng(1)
    for split in ("train", "test"):
        for i in range(n_a):
            _save(_noise(rng, size, size, 0, 100), root / f"{split}A" / f"a_{i:03d}.{ext}")
        for i in range(n_b):
            _save(_noise(rng, size, size, 156, 256), root / f"{split}B" / f"b_{i:03d}.{ext}")
    return root


def celeba_value(index: int, attr: int) -> int:
    """The fixture's attribute value (1 or -1) of image ``index`` (0-based) for attribute column ``attr``."""
    return 1 if (index * 31 + attr * 17) % 7 < 3 else -1


def celeba_partition(index: int, n: int) -> int:
    """The fixture's ``list_eval_partition`` value: the last 2k images are val (k) then test (k), k = max(1, n // 6)."""
    k = max(1, n // 6)
    return 0 if index < n - 2 * k else (1 if index < n - k else 2)


def write_celeba_tree(root: PathLike, n: int = 12) -> Path:
    """CelebA layout: ``img_align_celeba/000001.jpg`` (178x218), ``list_attr_celeba.txt`` in the real format
    (count line, the 40 names with a trailing space, values right-aligned in width 3) and ``list_eval_partition.txt``."""
    root = Path(root)
    rng = np.random.default_rng(2)
    lines = [f"{n}", " ".join(CELEBA_ATTRIBUTES) + " "]
    partition = []
    for i in range(n):
        name = f"{i + 1:06d}.jpg"
        _save(_noise(rng, 218, 178, 0, 256), root / "img_align_celeba" / name)
        lines.append(name + "".join(f"{celeba_value(i, j):3d}" for j in range(len(CELEBA_ATTRIBUTES))))
        partition.append(f"{name} {celeba_partition(i, n)}")
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    (root / "list_eval_partition.txt").write_text("\n".join(partition) + "\n")
    return root


def write_rafd_tree(root: PathLike, n_train: int = 2, n_test: int = 1, size: int = 64) -> Path:
    """RaFD layout: ``train/<expression>/*.jpg`` and ``test/<expression>/*.jpg`` for the 8 expressions."""
    root = Path(root)
    rng = np.random.default_rng(3)
    for split, count in (("train", n_train), ("test", n_test)):
        for expression in RAFD_EXPRESSIONS:
            for i in range(count):
                name = f"Rafd090_{i + 1:02d}_Caucasian_female_{expression}_frontal.jpg"
                _save(_noise(rng, size, size, 0, 256), root / split / expression / name)
    return root


def mt_label_map(size: int, shift: int = 0) -> np.ndarray:
    """A synthetic face with the MT label ids (0 bg, 1 skin, 2/3 brows, 4/5 eyes, 6 nose, 7/9 lips, 8 teeth,
    10 hair, 11/12 ears, 13 neck), drawn on a ``size`` grid and moved right by ``shift`` pixels."""
    s = size / 64
    labels = np.zeros((size, size), dtype=np.uint8)

    def box(top: float, bottom: float, left: float, right: float, label: int) -> None:
        labels[round(top * s): round(bottom * s), round(left * s) + shift: round(right * s) + shift] = label

    box(0, 10, 12, 52, 10)  # hair
    box(10, 50, 14, 50, 1)  # face skin
    box(20, 34, 10, 14, 11)  # ears
    box(20, 34, 50, 54, 12)
    box(18, 20, 20, 28, 2)  # eyebrows
    box(18, 20, 36, 44, 3)
    box(23, 26, 21, 28, 4)  # eyes
    box(23, 26, 36, 43, 5)
    box(26, 35, 30, 34, 6)  # nose
    box(38, 40, 26, 38, 7)  # upper lip
    box(40, 41, 27, 37, 8)  # teeth
    box(41, 44, 26, 38, 9)  # lower lip
    box(50, 64, 24, 40, 13)  # neck
    return labels


def mt_image(labels: np.ndarray) -> np.ndarray:
    """An RGB face whose red channel encodes the label id (``15 * id``), so tests can read the labels back."""
    ids = labels.astype(np.int32)
    return np.stack([15 * ids, 255 - 15 * ids, (37 * ids) % 256], axis=-1).astype(np.uint8)


def write_mt_tree(root: PathLike, n_makeup: int = 3, n_plain: int = 2, size: int = 64) -> Path:
    """MT (BeautyGAN) layout: ``images/{makeup,non-makeup}/*.png``, ``segs/...`` label maps with the same names,
    and the four list files (paths relative to ``images/``; the test lists hold the first two of each domain)."""
    root = Path(root)
    for domain, count, stem, list_name, test_name in (
        ("makeup", n_makeup, "vFG", "makeup.txt", "makeup_test.txt"),
        ("non-makeup", n_plain, "vSYYZ", "non-makeup.txt", "nomakeup_test.txt"),
    ):
        names = [f"{domain}/{stem}{100 + i}.png" for i in range(count)]
        for i, name in enumerate(names):
            labels = mt_label_map(size, shift=i % 3)
            _save(mt_image(labels), root / "images" / name)
            _save(labels, root / "segs" / name)
        (root / list_name).write_text("\n".join(names) + "\n")
        (root / test_name).write_text("\n".join(names[:2]) + "\n")
    return root
