"""Paired image-to-image data in the pix2pix layout: each file holds A|B side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional

import albumentations as A

from ganlit.data.base import GANDataModule
from ganlit.data.download import PIX2PIX_SETS, download_dataset, known_name
from ganlit.data.io import ImageDataset, dataset_not_found, list_images, read_image, split_pair
from ganlit.data.transforms import resize, resize_crop_flip

PAIRED_TREE = """
<root>/
  train/*.jpg   each file is A|B side by side (e.g. 512x256: A left, B right)
  val/*.jpg
  test/*.jpg    (optional: val is used when absent)
"""


class PairedImageDataset(ImageDataset):
    """A|B files cut in half; both halves go through one pipeline so they share crop and flip."""

    def __init__(
        self,
        files: list[Path],
        pipeline: A.Compose,
        direction: Literal["AtoB", "BtoA"] = "AtoB",
        skip_bad_images: bool = False,
    ) -> None:
        super().__init__([pipeline], skip_bad_images)
        if direction not in ("AtoB", "BtoA"):
            raise ValueError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
        self.files = files
        self.pipeline = pipeline
        self.direction = direction

    def listed_files(self) -> list[Path]:
        return list(self.files)

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int) -> dict[str, Any]:
        path = self.files[index]
        left, right = split_pair(read_image(path), path)
        out = self.pipeline(image=left, B=right)
        a, b = (out["image"], out["B"]) if self.direction == "AtoB" else (out["B"], out["image"])
        return {"A": a, "B": b, "A_path": str(path)}


class PairedImageDataModule(GANDataModule):
    """Paired data for pix2pix (Isola et al., 2017) and PAN (Wang et al., 2018).

    Layout ``<root>/{train,val,test}/*.{jpg,png}``, each file A|B side by side. Batches are dicts
    ``{"A": input, "B": target, "A_path": str}`` after applying ``direction`` (``"BtoA"`` swaps the
    halves; facades labels->photo is BtoA). Images are ``[3, H, W]`` in ``[-1, 1]`` (``[0, 1]`` with
    ``normalize=False``).

    Training follows the official ``resize_and_crop``: each half resized to ``load_size`` square
    (bicubic), one random ``image_size`` crop and one random horizontal flip (``flip=False``: none,
    the official ``--no_flip``) applied to both halves.
    Validation and test follow the official ``test.py``, which sets ``load_size = crop_size`` and
    ``no_flip``: each half is resized to ``image_size`` square, nothing random. ``test/`` falls back to
    ``val/`` (edges2shoes and maps ship no test split) and vice versa.

    ``dataset`` names the set that ``download=True`` fetches into ``root`` (see ``ganlit.data.download``);
    when omitted, the root folder's name is tried.
    """

    def __init__(
        self,
        root: str = "data/facades",
        batch_size: int = 1,
        num_workers: int = 4,
        image_size: int = 256,
        download: bool = False,
        direction: Literal["AtoB", "BtoA"] = "AtoB",
        load_size: int = 286,
        dataset: Optional[str] = None,
        normalize: bool = True,
        flip: bool = True,
        skip_bad_images: bool = False,
        pin_memory: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__(root, batch_size, num_workers, image_size, download, pin_memory, seed)
        if direction not in ("AtoB", "BtoA"):
            raise ValueError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
        if load_size < image_size:
            raise ValueError(f"load_size ({load_size}) must be >= image_size ({image_size})")
        self.direction = direction
        self.load_size = load_size
        self.dataset = dataset
        self.normalize = normalize
        self.flip = flip
        self.skip_bad_images = skip_bad_images

    def _split_dir(self, *names: str) -> Optional[Path]:
        for name in names:
            if (self.root / name).is_dir():
                return self.root / name
        return None

    def _download_name(self) -> Optional[str]:
        return known_name(self.dataset, self.root.name)

    def _missing(self, missing: Path) -> FileNotFoundError:
        name = self._download_name()
        hint = None if name else f"Download names: {', '.join(PIX2PIX_SETS)}"
        return dataset_not_found(type(self).__name__, self.root, missing, PAIRED_TREE, name or "<name>", hint)

    def prepare_data(self) -> None:
        if self.download and not (self.root / "train").is_dir():
            name = self._download_name()
            if name is None:
                raise ValueError(f"{type(self).__name__}: download=True needs dataset=<name>, one of {PIX2PIX_SETS}")
            download_dataset(name, self.root)

    def _files(self, folder: Optional[Path], wanted: str) -> list[Path]:
        if folder is None:
            raise self._missing(self.root / wanted)
        files = list_images(folder)
        if not files:
            raise self._missing(folder / "*.jpg")
        return files

    def setup(self, stage: Optional[str] = None) -> None:
        if not self.root.is_dir():
            raise self._missing(self.root)
        both = {"B": "image"}  # B is a second image target: it gets A's crop and flip
        if stage in (None, "fit"):
            train = resize_crop_flip(self.load_size, self.image_size, self.normalize, self.flip, additional_targets=both)
            self.train_set = self._dataset(self._files(self._split_dir("train"), "train"), train)
        evaluation = resize(self.image_size, self.normalize, additional_targets=both)
        if stage in (None, "fit", "validate"):
            self.val_set = self._dataset(self._files(self._split_dir("val", "test"), "val"), evaluation)
        if stage in (None, "test", "predict"):
            self.test_set = self._dataset(self._files(self._split_dir("test", "val"), "test"), evaluation)

    def _dataset(self, files: list[Path], pipeline: A.Compose) -> PairedImageDataset:
        return PairedImageDataset(files, pipeline, self.direction, self.skip_bad_images)
