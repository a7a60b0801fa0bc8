"""The models of bench/train_step.py: how to build each paper's module at an image size (the paper's networks) and
one synthetic training item with its data module's keys."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor
from torch.utils.data import Dataset

Sample = Callable[[int, torch.Generator], dict[str, Tensor]]


@dataclass(frozen=True)
class Bench:
    """How to benchmark one paper: ``build(size, **speed_kwargs)`` gives its module at that image size with
    the paper's networks; ``sample(size, generator)`` one synthetic training item (the data module's keys)."""

    build: Callable[..., Any]
    sample: Sample
    note: str = ""


def _image(size: int, g: torch.Generator, channels: int = 3, low: float = -1.0) -> Tensor:
    return torch.rand(channels, size, size, generator=g) * (1.0 - low) + low


def _unet_downs(size: int) -> int:
    """unet_256 (8 downs) at 256 px, unet_128 (7) at 128, ...: the U-Net halves the image down to 1x1."""
    return min(8, int(math.log2(size)))


def _pair(size: int, g: torch.Generator) -> dict[str, Tensor]:
    return {"A": _image(size, g), "B": _image(size, g)}


def _build(name: str) -> Callable[..., Any]:
    def build(size: int, **kw: Any) -> Any:
        import ganlit.models as M

        if name == "gan":
            return M.GAN(image_size=size, channels=3, **kw)
        if name == "cgan":
            return M.CGAN(num_classes=10, image_size=size, channels=3, **kw)
        if name == "pix2pix":
            return M.Pix2Pix(image_size=size, num_downs=_unet_downs(size), **kw)
        if name == "pan":
            return M.PAN(image_size=size, num_downs=_unet_downs(size), **kw)
        if name == "cyclegan":  # the paper: 9 residual blocks at 256 px, 6 at 128 px
            return M.CycleGAN(n_blocks=9 if size >= 256 else 6, **kw)
        if name == "discogan":
            return M.DiscoGAN(image_size=size, **kw)
        if name == "stargan":
            return M.StarGAN(image_size=size, **kw)
        if name == "paired_cyclegan":
            return M.PairedCycleGAN(image_size=size, **kw)
        raise KeyError(name)

    return build


MODELS: dict[str, Bench] = {
    "gan": Bench(_build("gan"), lambda s, g: {"image": _image(s, g)}, "DCGAN nets, 3 channels"),
    "cgan": Bench(_build("cgan"), lambda s, g: {"image": _image(s, g), "label": torch.randint(10, (), generator=g)},
                  "DCGAN nets, 10 classes"),
    "pix2pix": Bench(_build("pix2pix"), _pair, "U-Net (num_downs = log2 size, at most 8), 70x70 PatchGAN"),
    "pan": Bench(_build("pan"), _pair, "U-Net, PAN discriminator"),
    "cyclegan": Bench(_build("cyclegan"), _pair, "ResNet 9 blocks (6 below 256 px), 70x70 PatchGAN, pool 50"),
    "discogan": Bench(_build("discogan"), lambda s, g: {"A": _image(s, g, low=0.0), "B": _image(s, g, low=0.0)},
                      "images in [0, 1]"),
    "stargan": Bench(_build("stargan"),
                     lambda s, g: {"image": _image(s, g), "label": torch.randint(2, (5,), generator=g).float()},
                     "5 CelebA attributes, n_critic 5"),
    "paired_cyclegan": Bench(_build("paired_cyclegan"), lambda s, g: {"x": _image(s, g), "y": _image(s, g)},
                             "whole-face networks"),
}


class SyntheticData(Dataset):
    """``length`` items cycling through a few fixed random samples (all in memory)."""

    def __init__(self, sample: Sample, size: int, length: int, distinct: int = 8) -> None:
        g = torch.Generator().manual_seed(0)
        self.items = [sample(size, g) for _ in range(distinct)]
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return self.items[i % len(self.items)]
