"""DCGAN convolutional generator and discriminator (Radford et al. 2016), optionally class-conditional."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ganlit.networks.init import init_weights


def _num_upsamplings(image_size: int) -> int:
    n = math.log2(image_size / 4) if image_size >= 8 else -1
    if n < 1 or not n.is_integer():
        raise ValueError(f"image_size={image_size}: DCGAN networks need a power of two >= 8 (8, 16, 32, 64, ...)")
    return int(n)


class DCGANGenerator(nn.Module):
    """DCGAN generator: z (and a one-hot class when ``num_classes > 0``) -> 4x4 -> ... -> image, Tanh.

    Each stage is ConvTranspose 4x4 stride 2 + BatchNorm + ReLU; widths halve from ``ngf * 2**(n-1)``.
    """

    def __init__(self, z_dim: int = 100, image_size: int = 32, channels: int = 1, ngf: int = 64,
                 num_classes: int = 0) -> None:
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        n = _num_upsamplings(image_size)
        width = ngf * 2 ** (n - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim + num_classes, width, 4, 1, 0, bias=False), nn.BatchNorm2d(width), nn.ReLU(True),
        ]
        for _ in range(n - 1):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2),
                       nn.ReLU(True)]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.num_classes:
            if labels is None:
                raise ValueError("this DCGANGenerator is class-conditional: pass labels")
            z = torch.cat([z, nn.functional.one_hot(labels, self.num_classes).to(z.dtype)], dim=1)
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator: Conv 4x4 stride 2 + LeakyReLU(0.2) (+ BatchNorm after the first) down to 4x4, one logit.

    Class-conditional when ``num_classes > 0``: the one-hot class is tiled as extra input channels.
    """

    def __init__(self, image_size: int = 32, channels: int = 1, ndf: int = 64, num_classes: int = 0) -> None:
        super().__init__()
        self.num_classes = num_classes
        n = _num_upsamplings(image_size)
        layers: list[nn.Module] = [nn.Conv2d(channels + num_classes, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        width = ndf
        for _ in range(n - 1):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width * 2),
                       nn.LeakyReLU(0.2, True)]
            width *= 2
        layers += [nn.Conv2d(width, 1, 4, 1, 0)]
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.num_classes:
            if labels is None:
                raise ValueError("this DCGANDiscriminator is class-conditional: pass labels")
            onehot = nn.functional.one_hot(labels, self.num_classes).to(x.dtype)
            x = torch.cat([x, onehot[:, :, None, None].expand(-1, -1, *x.shape[2:])], dim=1)
        return self.net(x).flatten()
