"""A folder of images (or one image) to translate or predict on."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Optional

import albumentations as A

from ganlit.data.base import GANDataModule
from ganlit.data.io import ImageDataset, dataset_not_found, is_image_file, read_image
from ganlit.data.transforms import resize as resize_square
from ganlit.data.transforms import to_tensor

FOLDER_TREE = """
<root>/*.jpg|*.png ...   the images to translate (or root is a single image file)
"""


class ImageListDataset(ImageDataset):
    """Images in a fixed order; items ``{"image", "path"}``."""

    def __init__(self, files: list[Path], pipeline: A.Compose, skip_bad_images: bool = False) -> None:
        super().__init__([pipeline], skip_bad_images)
        self.files = files
        self.pipeline = pipeline

    def listed_files(self) -> list[Path]:
        return list(self.files)

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int) -> dict[str, Any]:
        path = self.files[index]
        return {"image": self.pipeline(image=read_image(path))["image"], "path": str(path)}


def images_of(root: Path) -> list[Path]:
    """``root`` itself when it is a file, else its image files sorted by name; other files are skipped with a warning."""
    if root.is_file():
        return [root]
    files, skipped = [], []
    for path in sorted(root.iterdir()):
        if path.is_file():
            (files if is_image_file(path) else skipped).append(path)
    if skipped:
        warnings.warn(f"{root}: skipping {len(skipped)} non-image file(s): {', '.join(p.name for p in skipped)}")
    return files


class ImageFolderDataModule(GANDataModule):
    """The images of a folder (sorted by name) or a single image file, for ``predict`` and ``translate``.

    Batches ``{"image": [3, H, W] in [-1, 1], "path": str}``. ``resize=True`` resizes every image to
    ``image_size`` square (bicubic, as the official CycleGAN/pix2pix test preprocessing); with False
    the images keep their size (use ``batch_size=1`` unless they all share one size). Used by the
    predict, test and validate loops; it has no training split.
    """

    def __init__(
        self,
        root: str = "images",
        batch_size: int = 8,
        num_workers: int = 4,
        image_size: int = 256,
        download: bool = False,
        resize: bool = True,
        normalize: bool = True,
        skip_bad_images: bool = False,
        pin_memory: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__(root, batch_size, num_workers, image_size, download, pin_memory, seed)
        self.resize = resize
        self.normalize = normalize
        self.skip_bad_images = skip_bad_images

    def setup(self, stage: Optional[str] = None) -> None:
        if not self.root.exists():
            raise dataset_not_found(type(self).__name__, self.root, self.root, FOLDER_TREE)
        files = images_of(self.root)
        if not files:
            raise dataset_not_found(type(self).__name__, self.root, f"images in {self.root}", FOLDER_TREE)
        pipeline = resize_square(self.image_size, self.normalize) if self.resize else A.Compose(to_tensor(self.normalize))
        self.predict_set = ImageListDataset(files, pipeline, self.skip_bad_images)
        self.test_set = self.val_set = self.predict_set
