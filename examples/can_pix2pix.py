"""pix2pix with another generator: the context aggregation network of Chen, Xu & Koltun (2017), "Fast Image
Processing with Fully-Convolutional Networks" (ICCV), in place of the U-Net.

A subclass of ganlit's ``Pix2Pix`` replaces one network through its ``build_generator`` hook and keeps
everything else of the paper (the PatchGAN, the losses, the test protocol). Train it on the digits world
(outline -> filled digit) from this folder:

    ganlit fit --config can_pix2pix.yaml
"""

from typing import Any

import torch
from torch import Tensor, nn

from ganlit.models import Pix2Pix


class AdaptiveNorm(nn.Module):
    """Chen et al. (2017), eq. 2: lambda * x + mu * BN(x), with learned scalars lambda (starts at 1) and mu (0)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)
        self.lam, self.mu = nn.Parameter(torch.ones(1)), nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        return self.lam * x + self.mu * self.bn(x)


class ContextAggregationNetwork(nn.Module):
    """Chen et al. (2017), sec. 3: ``depth`` full-resolution 3x3 convolutions with dilations 1, 2, 4, ...,
    2^(depth - 3), then 1, each followed by adaptive normalisation and LeakyReLU(0.2), then a 1x1 projection.
    Ending in Tanh here, for pix2pix's [-1, 1] images. It never downsamples, so it takes any image size."""

    def __init__(self, channels: int = 3, width: int = 24, depth: int = 5) -> None:
        super().__init__()
        dilations = [2**i for i in range(depth - 2)] + [1]
        layers: list[nn.Module] = []
        c_in = channels
        for d in dilations:
            layers += [nn.Conv2d(c_in, width, 3, padding=d, dilation=d, bias=False), AdaptiveNorm(width),
                       nn.LeakyReLU(0.2)]
            c_in = width
        layers += [nn.Conv2d(width, channels, 1), nn.Tanh()]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class CANPix2Pix(Pix2Pix):
    """pix2pix (Isola et al. 2017, eq. 4) with the generator of Chen et al. (2017).

    Args:
        can_width, can_depth: the context aggregation network's width and number of dilated layers.
        **kwargs: :class:`ganlit.models.Pix2Pix`'s arguments (the U-Net's ones are unused).
    """

    def __init__(self, can_width: int = 24, can_depth: int = 5, **kwargs: Any) -> None:
        super().__init__(**kwargs)

    def build_generator(self) -> nn.Module:
        # Called inside Pix2Pix.__init__: this class's own arguments are read from self.hparams, already set there.
        return ContextAggregationNetwork(self.channels, self.hparams.can_width, self.hparams.can_depth)
