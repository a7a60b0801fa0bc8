"""Unpaired image-to-image data in the CycleGAN layout (``trainA``/``trainB``/``testA``/``testB``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

import albumentations as A
import numpy as np

from ganlit.data.base import GANDataModule
from ganlit.data.download import CYCLEGAN_SETS, PIX2PIX_SETS, download_dataset, known_name
from ganlit.data.io import DataFormatError, ImageDataset, dataset_not_found, list_images, read_image, split_pair
from ganlit.data.paired import PAIRED_TREE
from ganlit.data.transforms import resize, resize_crop_flip

UNPAIRED_TREE = """
<root>/
  trainA/*.jpg   domain A
  trainB/*.jpg   domain B (counts may differ: an epoch has max(|A|, |B|) items)
  testA/*.jpg    (valA/ and valB/ are used for validation when present)
  testB/*.jpg
"""

# A source is a file, or one half ("left"/"right") of an A|B file (DiscoGAN's split of a paired set).
Source = tuple[Path, Optional[str]]


def read_source(source: Source) -> np.ndarray:
    path, half = source
    image = read_image(path)
    if half is None:
        return image
    left, right = split_pair(image, path)
    return left if half == "left" else right


class UnpairedImageDataset(ImageDataset):
    """Item i: A number i (mod ``|A|``) and a B drawn at random (or B number i mod ``|B|`` when ``random_b`` is False).

    A and B go through separate pipelines, so their crops and flips are independent.
    """

    def __init__(
        self,
        sources_a: list[Source],
        sources_b: list[Source],
        pipeline_a: A.Compose,
        pipeline_b: A.Compose,
        random_b: bool = True,
        skip_bad_images: bool = False,
    ) -> None:
        super().__init__([pipeline_a, pipeline_b], skip_bad_images)
        self.sources_a, self.sources_b = sources_a, sources_b
        self.pipeline_a, self.pipeline_b = pipeline_a, pipeline_b
        self.random_b = random_b

    def listed_files(self) -> list[Path]:
        return [Path(s[0]) for s in [*self.sources_a, *self.sources_b]]

    def __len__(self) -> int:
        return max(len(self.sources_a), len(self.sources_b))

    def load(self, index: int) -> dict[str, Any]:
        source_a = self.sources_a[index % len(self.sources_a)]
        j = self.rng.randrange(len(self.sources_b)) if self.random_b else index % len(self.sources_b)
        source_b = self.sources_b[j]
        return {
            "A": self.pipeline_a(image=read_source(source_a))["image"],
            "B": self.pipeline_b(image=read_source(source_b))["image"],
            "A_path": str(source_a[0]),
            "B_path": str(source_b[0]),
        }


class UnpairedImageDataModule(GANDataModule):
    """Unpaired data for CycleGAN (Zhu et al., 2017) and DiscoGAN (Kim et al., 2017).

    Layout ``<root>/{trainA,trainB,testA,testB}``. Batches are dicts ``{"A", "B", "A_path", "B_path"}``
    of ``[3, H, W]`` images in ``[-1, 1]`` (``[0, 1]`` with ``normalize=False``, DiscoGAN's range).
    Training, as the official ``unaligned`` dataset: an epoch has ``max(|A|, |B|)`` items, A by index, B at
    random (``serial_batches=True``: B by index too); each image independently resized to ``load_size``
    (bicubic), randomly cropped to ``image_size`` and flipped. Validation (``valA/valB`` when present,
    else ``testA/testB``) and test: deterministic pairs ``(A i mod |A|, B i mod |B|)`` over ``max(|A|, |B|)``
    items, so every image of both domains is seen and both directions can be evaluated; resize only.

    ``paired_split=True`` (DiscoGAN on edges2shoes/handbags): ``root`` is a pix2pix A|B tree; the sorted
    training files are cut in two halves, A taken from the left images of the first half and B from
    the right images of the second, so no training pair is ever seen. Evaluation uses ``val/`` (or
    ``test/``) with A and B from the same files. DiscoGAN's own 64 px preprocessing is
    ``image_size=64, load_size=64, flip=False, normalize=False``.
    """

    def __init__(
        self,
        root: str = "data/horse2zebra",
        batch_size: int = 1,
        num_workers: int = 4,
        image_size: int = 256,
        download: bool = False,
        load_size: int = 286,
        serial_batches: bool = False,
        paired_split: bool = False,
        dataset: Optional[str] = None,
        flip: bool = True,
        normalize: bool = True,
        skip_bad_images: bool = False,
        pin_memory: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__(root, batch_size, num_workers, image_size, download, pin_memory, seed)
        if load_size < image_size:
            raise ValueError(f"load_size ({load_size}) must be >= image_size ({image_size})")
        self.load_size = load_size
        self.serial_batches = serial_batches
        self.paired_split = paired_split
        self.dataset = dataset
        self.flip = flip
        self.normalize = normalize
        self.skip_bad_images = skip_bad_images

    # --- locating the data -------------------------------------------------------------------------

    def _download_name(self) -> Optional[str]:
        if self.paired_split:
            return known_name(self.dataset, self.root.name)
        return known_name(self.dataset, f"cyclegan/{self.root.name}", self.root.name)

    def _missing(self, missing: Union[Path, str]) -> FileNotFoundError:
        name = self._download_name()
        names = PIX2PIX_SETS if self.paired_split else CYCLEGAN_SETS
        hint = None if name else f"Download names: {', '.join(names)}"
        tree = PAIRED_TREE if self.paired_split else UNPAIRED_TREE
        return dataset_not_found(type(self).__name__, self.root, missing, tree, name or "<name>", hint)

    def _images(self, *folders: str) -> list[Path]:
        """Images of the first existing folder among ``folders``; a missing or empty folder is an error."""
        for name in folders:
            folder = self.root / name
            if folder.is_dir():
                files = list_images(folder)
                if not files:
                    raise self._missing(f"images in {folder} (the folder is empty)")
                return files
        raise self._missing(self.root / folders[0])

    def prepare_data(self) -> None:
        ready = (self.root / ("train" if self.paired_split else "trainA")).is_dir()
        if self.download and not ready:
            name = self._download_name()
            if name is None:
                raise ValueError(f"{type(self).__name__}: download=True needs dataset=<name>, e.g. 'horse2zebra'")
            download_dataset(name, self.root)

    # --- datasets ----------------------------------------------------------------------------------

    def _train_sources(self) -> tuple[list[Source], list[Source]]:
        if not self.paired_split:
            return [(p, None) for p in self._images("trainA")], [(p, None) for p in self._images("trainB")]
        files = self._images("train")
        if len(files) < 2:
            raise DataFormatError(f"{self.root / 'train'}: paired_split needs at least 2 A|B files, found {len(files)}")
        half = len(files) // 2
        return [(p, "left") for p in files[:half]], [(p, "right") for p in files[half:]]

    def _eval_sources(self, split: str) -> tuple[list[Source], list[Source]]:
        other = "test" if split == "val" else "val"
        if self.paired_split:
            files = self._images(split, other)
            return [(p, "left") for p in files], [(p, "right") for p in files]
        domain_a = self._images(f"{split}A", f"{other}A")
        domain_b = self._images(f"{split}B", f"{other}B")
        return [(p, None) for p in domain_a], [(p, None) for p in domain_b]

    def setup(self, stage: Optional[str] = None) -> None:
        if not self.root.is_dir():
            raise self._missing(self.root)
        if stage in (None, "fit"):
            a, b = self._train_sources()
            pipelines = [
                resize_crop_flip(self.load_size, self.image_size, self.normalize, self.flip) for _ in range(2)
            ]
            self.train_set = UnpairedImageDataset(a, b, *pipelines, not self.serial_batches, self.skip_bad_images)
        evaluation = resize(self.image_size, self.normalize)
        if stage in (None, "fit", "validate"):
            a, b = self._eval_sources("val")
            self.val_set = UnpairedImageDataset(a, b, evaluation, evaluation, False, self.skip_bad_images)
        if stage in (None, "test", "predict"):
            a, b = self._eval_sources("test")
            self.test_set = UnpairedImageDataset(a, b, evaluation, evaluation, False, self.skip_bad_images)
