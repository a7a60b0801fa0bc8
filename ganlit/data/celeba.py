"""Face attribute data for StarGAN: CelebA (multi-label attributes) and RaFD (one expression per image)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Literal, Optional

import albumentations as A
import torch

from ganlit.data.base import GANDataModule
from ganlit.data.download import RAFD_INSTRUCTIONS, download_dataset
from ganlit.data.io import DataFormatError, ImageDataset, dataset_not_found, list_images, read_image
from ganlit.data.transforms import center_crop_resize

CELEBA_ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips",
    "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin",
    "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open",
    "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
    "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
    "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)
STARGAN_ATTRS = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]
STARGAN_SPLIT_SEED = 1234
STARGAN_TEST_SIZE = 1999  # the official loop sends line i to test while (i + 1) < 2000

CELEBA_TREE = """
<root>/
  img_align_celeba/000001.jpg ...  aligned 178x218 faces (StarGAN's celeba.zip names this folder images/)
  list_attr_celeba.txt             line 1: image count; line 2: the 40 attribute names;
                                   then "000001.jpg -1  1  1 -1 ..." (values 1 / -1)
  list_eval_partition.txt          split="official" only: "000001.jpg 0" (0 train, 1 val, 2 test)
"""
RAFD_TREE = """
<root>/
  train/<expression>/*.jpg   one folder per expression (angry, contemptuous, ..., surprised)
  test/<expression>/*.jpg
"""


class LabeledImageDataset(ImageDataset):
    """Images with a fixed float label vector each; batch items ``{"image", "label", "path"}``."""

    def __init__(self, entries: list[tuple[Path, torch.Tensor]], pipeline: A.Compose, skip_bad_images: bool = False):
        super().__init__([pipeline], skip_bad_images)
        self.entries = entries
        self.pipeline = pipeline

    def listed_files(self) -> list[Path]:
        return [Path(path) for path, _ in self.entries]

    def __len__(self) -> int:
        return len(self.entries)

    def load(self, index: int) -> dict[str, Any]:
        path, label = self.entries[index]
        return {"image": self.pipeline(image=read_image(path))["image"], "label": label.clone(), "path": str(path)}


def read_attribute_file(path: Path) -> tuple[list[str], list[str]]:
    """Header names and the data lines (right-stripped, in file order) of ``list_attr_celeba.txt``."""
    lines = [line.rstrip() for line in path.read_text().splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    if len(lines) < 2 or not lines[0].strip().isdigit():
        raise DataFormatError(f"{path}: expected line 1 = image count and line 2 = attribute names")
    names, body = lines[1].split(), lines[2:]
    if int(lines[0]) != len(body):
        raise DataFormatError(f"{path}: line 1 announces {int(lines[0])} images but {len(body)} lines follow")
    return names, body


def parse_attribute_line(line: str, num_names: int, path: Path, lineno: int) -> tuple[str, list[str]]:
    """``"000001.jpg -1  1 ..."`` -> (filename, values); any run of spaces separates fields."""
    fields = line.split()
    if len(fields) != num_names + 1 or any(v not in ("1", "-1") for v in fields[1:]):
        raise DataFormatError(
            f"{path}:{lineno}: expected a file name and {num_names} values of 1/-1, got {line[:80]!r}"
        )
    return fields[0], fields[1:]


def stargan_split(lines: list[str], test_size: int = STARGAN_TEST_SIZE) -> tuple[list[str], list[str]]:
    """(train, test) lines as StarGAN's loader: ``random.seed(1234); random.shuffle(lines)``, test first."""
    shuffled = list(lines)
    random.Random(STARGAN_SPLIT_SEED).shuffle(shuffled)  # same stream as seeding the global generator
    return shuffled[test_size:], shuffled[:test_size]


def check_attrs(attrs: list[str], valid: list[str] | tuple[str, ...], where: str) -> None:
    unknown = [a for a in attrs if a not in valid]
    if unknown:
        raise ValueError(f"unknown CelebA attribute(s) {unknown} ({where}); valid names: {', '.join(valid)}")
    if len(set(attrs)) != len(attrs) or not attrs:
        raise ValueError(f"attrs must be a non-empty list without repeats, got {attrs}")


class CelebADataModule(GANDataModule):
    """CelebA attributes for StarGAN (Choi et al., 2018), read straight from the official files.

    Batches ``{"image": [3, H, W] in [-1, 1], "label": float 0/1 [num_attrs], "path": str}``; labels
    follow ``attrs`` (any of the 40 names, default StarGAN's five). Preprocessing as the official
    loader: random horizontal flip (train only), center crop ``crop_size``, resize to ``image_size``.

    ``split="stargan"``: the attribute lines shuffled with ``random.seed(1234)``; the first 1,999
    (``test_size``; the official ``(i+1) < 2000`` test) are the test set (also used for validation),
    the rest train. ``split="official"``: CelebA's ``list_eval_partition.txt`` (0 train, 1 val, 2 test).
    """

    single_label = False

    def __init__(
        self,
        root: str = "data/celeba",
        batch_size: int = 16,
        num_workers: int = 4,
        image_size: int = 128,
        download: bool = False,
        attrs: list[str] = STARGAN_ATTRS,
        crop_size: int = 178,
        split: Literal["stargan", "official"] = "stargan",
        test_size: int = STARGAN_TEST_SIZE,
        normalize: bool = True,
        skip_bad_images: bool = False,
        pin_memory: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__(root, batch_size, num_workers, image_size, download, pin_memory, seed)
        if split not in ("stargan", "official"):
            raise ValueError(f"split must be 'stargan' or 'official', got {split!r}")
        self.attrs = list(attrs)
        self.crop_size = crop_size
        self.split = split
        self.test_size = test_size
        self.normalize = normalize
        self.skip_bad_images = skip_bad_images
        attr_file = self.root / "list_attr_celeba.txt"
        if attr_file.is_file():  # fail early on a typo, against the names the file really has
            with open(attr_file) as f:
                f.readline()
                check_attrs(self.attrs, f.readline().split(), str(attr_file))
        else:
            check_attrs(self.attrs, CELEBA_ATTRIBUTES, "the 40 CelebA attributes")

    @property
    def attr_names(self) -> list[str]:
        return list(self.attrs)

    @property
    def num_attrs(self) -> int:
        return len(self.attrs)

    @property
    def image_dir(self) -> Path:
        for name in ("img_align_celeba", "images"):
            if (self.root / name).is_dir():
                return self.root / name
        return self.root / "img_align_celeba"

    def _missing(self, missing: Path) -> FileNotFoundError:
        hint = None
        if missing.name == "list_eval_partition.txt":
            hint = "list_eval_partition.txt comes with the official CelebA release (Eval/ folder); or use split='stargan'."
        return dataset_not_found(type(self).__name__, self.root, missing, CELEBA_TREE, "celeba", hint)

    def prepare_data(self) -> None:
        if self.download and not (self.root / "list_attr_celeba.txt").is_file():
            download_dataset("celeba", self.root)

    def _entries(self, lines: list[tuple[int, str]], names: list[str], attr_file: Path) -> list[tuple[Path, torch.Tensor]]:
        columns = [names.index(a) for a in self.attrs]
        entries = []
        for lineno, line in lines:
            filename, values = parse_attribute_line(line, len(names), attr_file, lineno)
            label = torch.tensor([1.0 if values[c] == "1" else 0.0 for c in columns])
            entries.append((self.image_dir / filename, label))
        return entries

    def _splits(self, names: list[str], body: list[str], attr_file: Path) -> dict[str, list[tuple[int, str]]]:
        numbered = [(i + 3, line) for i, line in enumerate(body)]  # file line numbers for error messages
        if self.split == "stargan":
            train, test = stargan_split(numbered, self.test_size)
            return {"train": train, "val": test, "test": test}
        partition_file = self.root / "list_eval_partition.txt"
        if not partition_file.is_file():
            raise self._missing(partition_file)
        partition = {}
        for lineno, line in enumerate(partition_file.read_text().splitlines(), 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
                raise DataFormatError(f"{partition_file}:{lineno}: expected '<file> 0|1|2', got {line!r}")
            partition[fields[0]] = fields[1]
        splits: dict[str, list[tuple[int, str]]] = {"train": [], "val": [], "test": []}
        for lineno, line in numbered:
            filename = line.split(maxsplit=1)[0]
            if filename not in partition:
                raise DataFormatError(f"{partition_file}: no partition for {filename} (listed in {attr_file}:{lineno})")
            splits[("train", "val", "test")[int(partition[filename])]].append((lineno, line))
        return splits

    def setup(self, stage: Optional[str] = None) -> None:
        attr_file = self.root / "list_attr_celeba.txt"
        for needed in (self.root, attr_file, self.image_dir):
            if not needed.exists():
                raise self._missing(needed)
        names, body = read_attribute_file(attr_file)
        check_attrs(self.attrs, names, str(attr_file))
        splits = self._splits(names, body, attr_file)
        if stage in (None, "fit") and not splits["train"]:
            raise DataFormatError(
                f"{attr_file}: the {self.split} split leaves no training image ({len(body)} listed"
                + (f", the first {self.test_size} go to test; lower test_size)" if self.split == "stargan" else ")")
            )
        train_pipeline = center_crop_resize(self.crop_size, self.image_size, flip=True, normalize=self.normalize)
        eval_pipeline = center_crop_resize(self.crop_size, self.image_size, flip=False, normalize=self.normalize)
        for split, wanted, pipeline in (
            ("train", (None, "fit"), train_pipeline),
            ("val", (None, "fit", "validate"), eval_pipeline),
            ("test", (None, "test", "predict"), eval_pipeline),
        ):
            if stage in wanted:
                entries = self._entries(splits[split], names, attr_file)
                setattr(self, f"{split}_set", LabeledImageDataset(entries, pipeline, self.skip_bad_images))


class RaFDDataModule(GANDataModule):
    """RaFD expressions for StarGAN (Choi et al., 2018): one expression per image, one-hot labels.

    Layout ``train/<expression>/*.jpg`` and ``test/<expression>/*.jpg``; the label is one-hot over the
    sorted expression folders of ``train/`` (``attr_names``), as torchvision's ``ImageFolder`` orders
    them in the official code. Preprocessing: random flip (train), center crop ``crop_size`` (the
    official ``rafd_crop_size`` 256), resize ``image_size``. Validation uses the test split.
    """

    single_label = True

    def __init__(
        self,
        root: str = "data/rafd",
        batch_size: int = 16,
        num_workers: int = 4,
        image_size: int = 128,
        download: bool = False,
        crop_size: int = 256,
        normalize: bool = True,
        skip_bad_images: bool = False,
        pin_memory: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__(root, batch_size, num_workers, image_size, download, pin_memory, seed)
        self.crop_size = crop_size
        self.normalize = normalize
        self.skip_bad_images = skip_bad_images

    def _missing(self, missing: Path) -> FileNotFoundError:
        return dataset_not_found(type(self).__name__, self.root, missing, RAFD_TREE, None, RAFD_INSTRUCTIONS)

    @property
    def attr_names(self) -> list[str]:
        """The expression folders of ``train/`` (or ``test/``), sorted; read from disk."""
        for split in ("train", "test"):
            folder = self.root / split
            if folder.is_dir():
                names = sorted(p.name for p in folder.iterdir() if p.is_dir())
                if not names:
                    raise self._missing(folder / "<expression>")
                return names
        raise self._missing(self.root / "train")

    @property
    def num_attrs(self) -> int:
        return len(self.attr_names)

    def prepare_data(self) -> None:
        if self.download and not (self.root / "train").is_dir():
            download_dataset("rafd", self.root)  # raises with the licence instructions

    def _entries(self, split: str, names: list[str]) -> list[tuple[Path, torch.Tensor]]:
        folder = self.root / split
        if not folder.is_dir():
            raise self._missing(folder)
        entries = []
        for expression in sorted(p for p in folder.iterdir() if p.is_dir()):
            if expression.name not in names:
                raise DataFormatError(f"{expression}: expression not present in {self.root / 'train'} ({names})")
            label = torch.zeros(len(names))
            label[names.index(expression.name)] = 1.0
            entries += [(path, label) for path in list_images(expression)]
        if not entries:
            raise self._missing(folder / "<expression>" / "*.jpg")
        return entries

    def setup(self, stage: Optional[str] = None) -> None:
        names = self.attr_names
        if stage in (None, "fit"):
            train = center_crop_resize(self.crop_size, self.image_size, flip=True, normalize=self.normalize)
            self.train_set = LabeledImageDataset(self._entries("train", names), train, self.skip_bad_images)
        evaluation = center_crop_resize(self.crop_size, self.image_size, flip=False, normalize=self.normalize)
        self.test_set = LabeledImageDataset(self._entries("test", names), evaluation, self.skip_bad_images)
        self.val_set = self.test_set
