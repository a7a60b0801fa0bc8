"""Reading images and label maps, listing image folders, and the errors that name the file at fault.

Also holds ``ImageDataset``, the base of the file-backed datasets: it reseeds its augmentations in each
DataLoader worker and applies the bad-image policy (raise naming the file, or skip and count).
"""

from __future__ import annotations

import random
import textwrap
import warnings
from pathlib import Path
from typing import Any, Optional, Union

import albumentations as A
import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ganlit.errors import UsageError
from ganlit.data.transforms import reseed

PathLike = Union[str, Path]
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")


SKIP_HINT = ("; to skip unreadable files (counted, with a warning each) set skip_bad_images: true in the data "
             "section (--data.init_args.skip_bad_images true)")


class BadImageError(UsageError, OSError):
    """An image (or label map) that is missing, truncated, undecodable or of the wrong shape."""

    def __init__(self, path: PathLike, reason: Optional[str] = None, hint: str = "") -> None:
        if reason is None:  # rebuilt from its message by a DataLoader worker: keep the message's last line
            message = str(path).strip().splitlines()[-1].split("BadImageError: ", 1)[-1]
            path, _, reason = message.removeprefix("cannot use image ").partition(": ")
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot use image {self.path}: {reason}{hint}")


def _from_worker(message: str) -> str:
    """A DataLoader worker re-raises an error in the main process with the worker's traceback as its message:
    keep the original message (the traceback's last line)."""
    if "Original Traceback" not in message:
        return message
    last = message.strip().splitlines()[-1]
    return last.split(": ", 1)[1] if ": " in last else last


class DataFormatError(UsageError, ValueError):
    """A dataset file or folder whose content is not what its format says (names the file, and the line)."""

    def __init__(self, message: str) -> None:
        super().__init__(_from_worker(str(message)))


class NoReadableImageError(DataFormatError):
    """``skip_bad_images`` skipped every image of a dataset: there is nothing to train on."""


class DatasetNotFoundError(UsageError, FileNotFoundError):
    """The dataset is not on disk; the message shows the expected tree and how to get it."""


def dataset_not_found(
    owner: str,
    root: Path,
    missing: Union[Path, str],
    tree: str,
    download_name: Optional[str] = None,
    how_to_get: Optional[str] = None,
) -> DatasetNotFoundError:
    """Build the one error a data module raises when its files are missing (it never downloads on its own)."""
    lines = [
        f"{owner}: dataset not found at {root} (missing: {missing}).",
        "Expected layout:",
        textwrap.indent(textwrap.dedent(tree).strip("\n").replace("<root>", str(root)), "  "),
    ]
    if download_name is not None:
        lines.append(f"Get it with:  ganlit download {download_name} --root {root}")
        lines.append("(or pass download=True to the data module)")
    if how_to_get:
        lines.append(how_to_get)
    return DatasetNotFoundError("\n".join(lines))


def is_image_file(path: PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def list_images(folder: Path) -> list[Path]:
    """The image files directly inside ``folder``, sorted by name (other files are ignored)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p))


def read_image(path: PathLike, mode: str = "RGB") -> np.ndarray:
    """Decode a whole image into a uint8 array ``[H, W, C]``; any failure raises ``BadImageError`` naming it."""
    path = Path(path)
    if not path.is_file():
        raise BadImageError(path, "file does not exist")
    try:
        with Image.open(path) as image:
            image.load()  # decode now: a truncated file fails here, not later inside a worker
            return np.array(image.convert(mode))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise BadImageError(path, f"{type(error).__name__}: {error}") from error


def read_label_map(path: PathLike) -> np.ndarray:
    """Decode a single-channel label map (mode L, P or I, or RGB with equal channels) into ``[H, W]`` uint8."""
    path = Path(path)
    if not path.is_file():
        raise BadImageError(path, "label map file does not exist")
    try:
        with Image.open(path) as image:
            image.load()
            labels = np.array(image)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise BadImageError(path, f"{type(error).__name__}: {error}") from error
    if labels.ndim == 3:
        if not all(np.array_equal(labels[..., 0], labels[..., c]) for c in range(1, labels.shape[2])):
            raise BadImageError(path, f"expected a single-channel label map, got {labels.shape[2]} different channels")
        labels = labels[..., 0]
    if labels.max(initial=0) > 255 or labels.min(initial=0) < 0:
        raise BadImageError(path, "label ids must lie in 0..255")
    return labels.astype(np.uint8)


def split_pair(image: np.ndarray, path: PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Cut an ``A|B`` side-by-side image into its left (A) and right (B) halves."""
    width = image.shape[1]
    if width % 2:
        raise BadImageError(path, f"width {width} is odd; expected A|B side by side (two halves of equal width)")
    return image[:, : width // 2], image[:, width // 2 :]


class ImageDataset(Dataset):
    """Base of the file-backed datasets: per-worker seeding and the bad-image policy.

    Subclasses implement ``load(index) -> dict`` and list their albumentations pipelines in
    ``self.pipelines``. Random draws other than augmentations use ``self.rng``.

    With ``skip_bad_images=False`` an unreadable image raises ``BadImageError`` naming the file. With
    True the item is replaced by the next index, the file is appended to ``bad_files`` and a warning
    names it (with DataLoader workers each worker keeps its own ``bad_files``).
    """

    def __init__(self, pipelines: list[A.Compose], skip_bad_images: bool = False) -> None:
        self.pipelines = pipelines
        self.skip_bad_images = skip_bad_images
        self.bad_files: list[str] = []
        self.rng = random.Random()
        self._seeded_with: Optional[int] = None

    def load(self, index: int) -> dict[str, Any]:
        raise NotImplementedError

    def listed_files(self) -> Optional[list[Path]]:
        """The files this dataset reads, in order (for its content hash); None when it cannot list them."""
        return None

    def content_hash(self, root: Optional[Path] = None) -> Optional[dict[str, str]]:
        """SHA-256 of :meth:`listed_files` relative to ``root`` (see ``ganlit.data.identity``), or None."""
        from ganlit.data.identity import file_list_hash

        files = self.listed_files()
        return file_list_hash(files, root) if files is not None else None

    def __len__(self) -> int:
        raise NotImplementedError

    def _reseed(self) -> None:
        # A worker's torch seed differs per worker (and per run); the main process uses the global one.
        info = torch.utils.data.get_worker_info()
        seed = info.seed if info is not None else torch.initial_seed()
        if seed != self._seeded_with:
            self.rng.seed(reseed(self.pipelines, seed))
            self._seeded_with = seed

    def __getitem__(self, index: int) -> dict[str, Any]:
        self._reseed()
        for _ in range(len(self)):
            try:
                return self.load(index)
            except BadImageError as error:
                if not self.skip_bad_images:
                    raise BadImageError(error.path, error.reason, SKIP_HINT) from None
                if str(error.path) not in self.bad_files:
                    self.bad_files.append(str(error.path))
                    warnings.warn(f"skipping bad image {error.path}: {error.reason}", stacklevel=2)
                index = (index + 1) % len(self)
        raise NoReadableImageError(f"{type(self).__name__}: no readable image left: every file tried was bad "
                                       f"({', '.join(map(str, self.bad_files[:3]))}"
                                       f"{' ...' if len(self.bad_files) > 3 else ''}); check the dataset folder")
