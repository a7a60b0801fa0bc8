"""Makeup transfer pairs from the MT dataset (BeautyGAN), with face-region masks from its label maps."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import albumentations as A
import numpy as np
import torch

from ganlit.data.base import GANDataModule
from ganlit.data.download import MT_INSTRUCTIONS, download_dataset
from ganlit.data.io import (
    BadImageError,
    DataFormatError,
    ImageDataset,
    dataset_not_found,
    read_image,
    read_label_map,
)
from ganlit.data.transforms import resize, resize_crop_flip

MT_TREE = """
<root>/
  images/makeup/*.png       2,719 faces with makeup (y)
  images/non-makeup/*.png   1,115 faces without makeup (x)
  segs/makeup/*.png         single-channel label maps, same names as the images
  segs/non-makeup/*.png
  makeup.txt  non-makeup.txt  makeup_test.txt  nomakeup_test.txt   (paths relative to images/)
"""

# Label ids of the MT label maps: 0 background, 1 face skin, 2/3 eyebrows, 4/5 eyes, 6 nose, 7 upper lip,
# 8 teeth, 9 lower lip, 10 hair, 11/12 ears, 13 neck.
LIP_IDS = (7, 9)
SKIN_IDS = (1, 6, 13)
EYE_IDS = (4, 5)
FACE_IDS = (1, 6)  # what an eye box is clipped to: eyeshadow lies on skin, not on the eyeball or brow
REGION_NAMES = ("lips", "skin", "eyes")
EYE_MARGIN_AT_256 = 10


def regions_from_labels(labels: np.ndarray, eye_margin: Optional[int] = None) -> np.ndarray:
    """Float ``[3, H, W]`` masks (lips, skin, eyes) from an MT label map ``[H, W]``.

    lips = ids {7, 9}; skin = {1, 6, 13}; eyes = the bounding box of each eye (ids 4 and 5) widened by
    ``eye_margin`` pixels on every side (default 10 px at 256 px, scaled with the map's height),
    clipped to the image and intersected with the face (ids {1, 6}), as BeautyGAN's eye-shadow region.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"expected a label map [H, W], got shape {labels.shape}")
    height, width = labels.shape
    margin = round(EYE_MARGIN_AT_256 * height / 256) if eye_margin is None else eye_margin
    boxes = np.zeros(labels.shape, dtype=bool)
    for eye in EYE_IDS:
        ys, xs = np.nonzero(labels == eye)
        if ys.size:
            top, bottom = max(ys.min() - margin, 0), min(ys.max() + margin + 1, height)
            left, right = max(xs.min() - margin, 0), min(xs.max() + margin + 1, width)
            boxes[top:bottom, left:right] = True
    eyes = boxes & np.isin(labels, FACE_IDS)
    return np.stack([np.isin(labels, LIP_IDS), np.isin(labels, SKIN_IDS), eyes]).astype(np.float32)


# A face is its image file and its label-map file.
Face = tuple[Path, Path]


def read_face_list(list_file: Path, root: Path, domain: str) -> list[Face]:
    """Faces named in an MT list file: first field of each line, relative to ``images/`` (bare names get ``domain/``)."""
    faces = []
    for lineno, line in enumerate(list_file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        relative = line.split()[0]
        if "/" not in relative:
            relative = f"{domain}/{relative}"
        image, seg = root / "images" / relative, root / "segs" / relative
        if not image.is_file():
            raise FileNotFoundError(f"{list_file}:{lineno}: image {image} does not exist")
        if not seg.is_file():
            raise FileNotFoundError(f"{seg}: segmentation label map missing (for {image}, listed in {list_file}:{lineno})")
        faces.append((image, seg))
    if not faces:
        raise DataFormatError(f"{list_file}: lists no image")
    return faces


class MakeupPairDataset(ImageDataset):
    """Item i: no-makeup face i (mod count) and a makeup face drawn at random (or i mod count, ``random_y=False``).

    Each face and its label map share one augmentation (nearest-neighbour for the map); the regions
    are computed from the augmented map, so they stay aligned with the image.
    """

    def __init__(
        self,
        plain: list[Face],
        makeup: list[Face],
        pipeline_x: A.Compose,
        pipeline_y: A.Compose,
        random_y: bool = True,
        skip_bad_images: bool = False,
    ) -> None:
        super().__init__([pipeline_x, pipeline_y], skip_bad_images)
        self.plain, self.makeup = plain, makeup
        self.pipeline_x, self.pipeline_y = pipeline_x, pipeline_y
        self.random_y = random_y

    def listed_files(self) -> list[Path]:
        return [Path(f) for face in [*self.plain, *self.makeup] for f in face]

    def __len__(self) -> int:
        return max(len(self.plain), len(self.makeup))

    @staticmethod
    def _face(face: Face, pipeline: A.Compose) -> tuple[torch.Tensor, torch.Tensor]:
        image_path, seg_path = face
        image, labels = read_image(image_path), read_label_map(seg_path)
        if labels.shape != image.shape[:2]:
            raise BadImageError(
                seg_path, f"label map is {labels.shape[1]}x{labels.shape[0]} but {image_path.name} is "
                f"{image.shape[1]}x{image.shape[0]}"
            )
        out = pipeline(image=image, mask=labels)
        return out["image"], torch.from_numpy(regions_from_labels(np.asarray(out["mask"])))

    def load(self, index: int) -> dict[str, Any]:
        x_face = self.plain[index % len(self.plain)]
        j = self.rng.randrange(len(self.makeup)) if self.random_y else index % len(self.makeup)
        y_face = self.makeup[j]
        x, x_regions = self._face(x_face, self.pipeline_x)
        y, y_regions = self._face(y_face, self.pipeline_y)
        return {
            "x": x, "y": y, "x_regions": x_regions, "y_regions": y_regions,
            "x_path": str(x_face[0]), "y_path": str(y_face[0]),
        }


class MakeupDataModule(GANDataModule):
    """MT makeup pairs for PairedCycleGAN (Chang et al., 2018) and BeautyGAN-style region losses.

    Batches ``{"x": no-makeup face, "y": makeup face, "x_regions", "y_regions": float [3, H, W]
    (lips, skin, eyes; see ``regions_from_labels``), "x_path", "y_path"}``; images in ``[-1, 1]``.
    Training pairs a no-makeup face with a random makeup face (epoch = max of the two counts, lists
    ``non-makeup.txt``/``makeup.txt``); each face is resized to ``load_size`` (default ``image_size``:
    MT faces are aligned, so no crop jitter), randomly cropped to ``image_size`` and flipped.
    Validation and test use ``nomakeup_test.txt``/``makeup_test.txt`` with deterministic pairs.
    The MT set cannot be downloaded by a script (see ``ganlit download makeup``).
    """

    region_names = REGION_NAMES

    def __init__(
        self,
        root: str = "data/mt",
        batch_size: int = 1,
        num_workers: int = 4,
        image_size: int = 256,
        download: bool = False,
        load_size: Optional[int] = None,
        flip: bool = True,
        normalize: bool = True,
        skip_bad_images: bool = False,
        pin_memory: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__(root, batch_size, num_workers, image_size, download, pin_memory, seed)
        self.load_size = image_size if load_size is None else load_size
        if self.load_size < image_size:
            raise ValueError(f"load_size ({self.load_size}) must be >= image_size ({image_size})")
        self.flip = flip
        self.normalize = normalize
        self.skip_bad_images = skip_bad_images

    def _missing(self, missing: Path) -> FileNotFoundError:
        return dataset_not_found(type(self).__name__, self.root, missing, MT_TREE, None, MT_INSTRUCTIONS)

    def prepare_data(self) -> None:
        if self.download and not (self.root / "images").is_dir():
            download_dataset("makeup", self.root)  # raises with the instructions: no script may fetch MT

    def _faces(self, list_name: str, domain: str) -> list[Face]:
        list_file = self.root / list_name
        if not list_file.is_file():
            raise self._missing(list_file)
        return read_face_list(list_file, self.root, domain)

    def setup(self, stage: Optional[str] = None) -> None:
        for needed in ("", "images/makeup", "images/non-makeup", "segs/makeup", "segs/non-makeup"):
            if not (self.root / needed).is_dir():
                raise self._missing(self.root / needed)
        if stage in (None, "fit"):
            plain, makeup = self._faces("non-makeup.txt", "non-makeup"), self._faces("makeup.txt", "makeup")
            x, y = (resize_crop_flip(self.load_size, self.image_size, self.normalize, self.flip) for _ in range(2))
            self.train_set = MakeupPairDataset(plain, makeup, x, y, True, self.skip_bad_images)
        plain, makeup = self._faces("nomakeup_test.txt", "non-makeup"), self._faces("makeup_test.txt", "makeup")
        evaluation = resize(self.image_size, self.normalize)
        self.test_set = MakeupPairDataset(plain, makeup, evaluation, evaluation, False, self.skip_bad_images)
        self.val_set = self.test_set
