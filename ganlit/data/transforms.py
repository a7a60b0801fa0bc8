"""Albumentations pipelines shared by the data modules, and their per-worker reseeding.

Every pipeline ends in ``Normalize`` + ``ToTensorV2``: images leave as float ``[C, H, W]`` tensors in
``[-1, 1]`` (``normalize=True``) or ``[0, 1]`` (``normalize=False``, DiscoGAN's official range).
Label maps passed as ``mask`` are resized with nearest neighbour and leave as integer ``[H, W]`` tensors.
"""

from __future__ import annotations

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # a data loader must never reach the network

from typing import Optional

import albumentations as A
import cv2
import numpy as np
from albumentations.pytorch import ToTensorV2

# The official pix2pix/CycleGAN code resizes with PIL's bicubic filter; StarGAN with torchvision's bilinear.
BICUBIC = cv2.INTER_CUBIC
BILINEAR = cv2.INTER_LINEAR


def to_tensor(normalize: bool = True) -> list[A.BasicTransform]:
    """uint8 HWC -> float CHW in [-1, 1] (``normalize``) or [0, 1]."""
    mean, std = (0.5, 0.5) if normalize else (0.0, 1.0)
    return [A.Normalize(mean=mean, std=std, max_pixel_value=255.0), ToTensorV2()]


def resize_crop_flip(
    load_size: int,
    crop_size: int,
    normalize: bool = True,
    flip: bool = True,
    interpolation: int = BICUBIC,
    additional_targets: Optional[dict[str, str]] = None,
) -> A.Compose:
    """Training preprocessing of pix2pix/CycleGAN: resize to ``load_size`` square, random crop, random flip.

    Targets named in ``additional_targets`` (e.g. ``{"B": "image"}``) receive the same crop and flip.
    """
    if load_size < crop_size:
        raise ValueError(f"load_size ({load_size}) must be >= image_size ({crop_size}): the crop would not fit")
    steps: list[A.BasicTransform] = [
        A.Resize(load_size, load_size, interpolation=interpolation),
        A.RandomCrop(crop_size, crop_size),
    ]
    if flip:
        steps.append(A.HorizontalFlip(p=0.5))
    return A.Compose(steps + to_tensor(normalize), additional_targets=additional_targets)


def resize(
    size: int,
    normalize: bool = True,
    interpolation: int = BICUBIC,
    additional_targets: Optional[dict[str, str]] = None,
) -> A.Compose:
    """Evaluation preprocessing: resize to ``size`` square, nothing random."""
    steps: list[A.BasicTransform] = [A.Resize(size, size, interpolation=interpolation)]
    return A.Compose(steps + to_tensor(normalize), additional_targets=additional_targets)


def center_crop_resize(crop_size: int, image_size: int, flip: bool, normalize: bool = True) -> A.Compose:
    """StarGAN preprocessing: [random horizontal flip], center crop ``crop_size``, resize ``image_size``.

    Images smaller than the crop are zero-padded, as torchvision's ``CenterCrop`` does.
    """
    steps: list[A.BasicTransform] = [A.HorizontalFlip(p=0.5)] if flip else []
    steps += [
        A.CenterCrop(crop_size, crop_size, pad_if_needed=True),
        A.Resize(image_size, image_size, interpolation=BILINEAR, area_for_downscale="image"),
    ]
    return A.Compose(steps + to_tensor(normalize))


def reseed(composes: list[A.Compose], seed: int) -> int:
    """Give each pipeline its own stream derived from ``seed``; return one more derived seed for the caller.

    Albumentations keeps a private generator per ``Compose`` that ignores ``np.random.seed``; forked
    DataLoader workers would all inherit the same state and repeat each other's crops.
    """
    states = np.random.SeedSequence(seed).generate_state(len(composes) + 1)
    for compose, state in zip(composes, states[1:]):
        compose.set_random_seed(int(state))
    return int(states[0])
