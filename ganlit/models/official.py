"""Released weights of the official pix2pix / CycleGAN and StarGAN code, as models with the inference contract, so
``ganlit.load("official:...")`` gives what ``ganlit translate`` and ``ganlit demo`` write for them."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from ganlit.attributes import HAIR_COLOURS, Target, official_test_labels, target_vector
from ganlit.models.inference import ImageNetwork, Inference, InferenceContract, Input
from ganlit.utils.modes import evaluating

__all__ = ["OfficialGenerator", "OfficialStarGAN"]


def _in_channels(net: nn.Module) -> int:
    return next(m.in_channels for m in net.modules() if isinstance(m, nn.Conv2d))


class OfficialGenerator(InferenceContract, nn.Module):
    """A released pix2pix (Isola et al. 2017) or CycleGAN (Zhu et al. 2017) generator, run as the official
    ``test.py`` runs it: training mode (dropout on, BatchNorm with each image's own statistics; ``eval_mode=True``:
    running statistics, no dropout), each image at its own size rounded to what the network takes, and pixels
    truncated as the official ``util.tensor2im`` does. ``kind``: ``pix2pix`` or ``cyclegan``; ``weights``: the file."""

    def __init__(self, kind: str, generator: nn.Module, weights: str) -> None:
        super().__init__()
        self.kind, self.generator, self.weights = kind, generator, str(weights)

    def inference(self) -> Inference:
        # 256: the official load_size and crop_size, used by --preprocess resize_and_crop / scale_width.
        return Inference(channels=_in_channels(self.generator), image_size=256, options=("eval_mode",), mode="train",
                         pixels="truncate")

    def sampling_nets(self) -> nn.Module:
        return self.generator

    def image_networks(self) -> list[ImageNetwork]:
        image = (Input("x", "image", _in_channels(self.generator)),)
        return [ImageNetwork("generator", self.generator, True, image, direction="AtoB")]


class OfficialStarGAN(InferenceContract, nn.Module):
    """A released StarGAN (Choi et al. 2018) generator with the attribute names it was trained on, run as the
    official test: CenterCrop(178), bilinear Resize(128), eval mode with each image's own InstanceNorm statistics;
    a ``target`` of every attribute, or without one the test row of the inputs' own labels ``c_org`` (the hair
    colours flipped as one exclusive group)."""

    def __init__(self, generator: nn.Module, attr_names: list[str], weights: str, image_size: int = 128) -> None:
        super().__init__()
        self.generator, self.attr_names, self.weights, self.image_size = generator, list(attr_names), str(weights), image_size

    def inference(self) -> Inference:
        return Inference(channels=3, image_size=self.image_size, directions=(), options=("target", "c_org"),
                         attributes=tuple(self.attr_names),
                         exclusive=tuple(n for n in self.attr_names if n in HAIR_COLOURS),
                         sizing="center_crop_resize", crop=178)

    def sampling_nets(self) -> nn.Module:
        return self.generator

    def image_networks(self) -> list[ImageNetwork]:
        inputs = (Input("x", "image", 3), Input("c", "attributes", len(self.attr_names)))
        return [ImageNetwork("generator", self.generator, True, inputs)]

    @torch.no_grad()
    def translate(self, x: Tensor, target: Optional[Target] = None, c_org: Optional[Tensor] = None) -> Tensor:
        """G(x, target) [N, 3, H, W]; without ``target``, the input followed by one translation per official test
        label set of ``c_org``, joined along the width."""
        if target is None and c_org is None:
            raise ValueError("translate: give a target ({attribute: value}) or c_org (the inputs' labels)")
        with evaluating(self.generator):
            if target is not None:
                return self.generator(x, target_vector(target, self.attr_names, x.size(0), c_org).to(x))
            c = torch.as_tensor(c_org, dtype=torch.float32, device=x.device).expand(x.size(0), -1)
            return torch.cat([x] + [self.generator(x, t.to(x)) for t in official_test_labels(c, self.attr_names)],
                             dim=3)
