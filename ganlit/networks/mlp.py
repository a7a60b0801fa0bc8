"""The fully connected networks of the GAN (Goodfellow et al. 2014) and CGAN (Mirza & Osindero 2014) papers."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn


class Maxout(nn.Module):
    """Linear layer of ``units`` maxout units with ``pieces`` pieces each (Goodfellow et al. 2013)."""

    def __init__(self, in_features: int, units: int, pieces: int) -> None:
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(in_features, units * pieces)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).view(x.size(0), self.units, self.pieces).amax(dim=2)


def _output(activation: str) -> nn.Module:
    if activation == "tanh":
        return nn.Tanh()
    if activation == "sigmoid":
        return nn.Sigmoid()
    raise ValueError(f"output activation {activation!r}: expected 'tanh' (data in [-1, 1]) or 'sigmoid' (data in [0, 1])")


class MLPGenerator(nn.Module):
    """GAN paper generator: z -> ReLU 1200 -> ReLU 1200 -> image.

    The paper ends in a sigmoid over [0, 1] pixels; ganlit data is in [-1, 1], so ``tanh`` is the default.
    """

    def __init__(self, z_dim: int = 100, hidden: int = 1200, image_size: int = 28, channels: int = 1,
                 output: Literal["tanh", "sigmoid"] = "tanh") -> None:
        super().__init__()
        self.z_dim, self.image_shape = z_dim, (channels, image_size, image_size)
        out = channels * image_size * image_size
        self.net = nn.Sequential(
            nn.Linear(z_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, out), _output(output),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(z.size(0), *self.image_shape)


class MaxoutDiscriminator(nn.Module):
    """GAN paper discriminator: two maxout layers (240 units x 5 pieces) with dropout, one logit out."""

    def __init__(self, image_size: int = 28, channels: int = 1, units: int = 240, pieces: int = 5,
                 dropout: float = 0.5) -> None:
        super().__init__()
        d = channels * image_size * image_size
        self.net = nn.Sequential(
            nn.Dropout(0.2), Maxout(d, units, pieces), nn.Dropout(dropout), Maxout(units, units, pieces),
            nn.Dropout(dropout), nn.Linear(units, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1)).squeeze(1)


class ConditionalMLPGenerator(nn.Module):
    """CGAN paper generator: z -> ReLU 200 and one-hot y -> ReLU 1000, joined -> ReLU 1200 -> image."""

    def __init__(self, num_classes: int = 10, z_dim: int = 100, image_size: int = 28, channels: int = 1,
                 output: Literal["tanh", "sigmoid"] = "tanh") -> None:
        super().__init__()
        self.num_classes, self.z_dim, self.image_shape = num_classes, z_dim, (channels, image_size, image_size)
        self.z_path = nn.Sequential(nn.Linear(z_dim, 200), nn.ReLU())
        self.y_path = nn.Sequential(nn.Linear(num_classes, 1000), nn.ReLU())
        self.joint = nn.Sequential(
            nn.Linear(1200, 1200), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(1200, channels * image_size * image_size), _output(output),
        )

    def forward(self, z: Tensor, labels: Tensor) -> Tensor:
        y = nn.functional.one_hot(labels, self.num_classes).to(z.dtype)
        h = torch.cat([self.z_path(z), self.y_path(y)], dim=1)
        return self.joint(h).view(z.size(0), *self.image_shape)


class ConditionalMaxoutDiscriminator(nn.Module):
    """CGAN paper discriminator: x -> maxout 240x5, y -> maxout 50x5, joined -> maxout 240x4 -> one logit."""

    def __init__(self, num_classes: int = 10, image_size: int = 28, channels: int = 1, dropout: float = 0.5) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.x_path = nn.Sequential(nn.Dropout(0.2), Maxout(channels * image_size * image_size, 240, 5))
        self.y_path = Maxout(num_classes, 50, 5)
        self.joint = nn.Sequential(nn.Dropout(dropout), Maxout(290, 240, 4), nn.Dropout(dropout), nn.Linear(240, 1))

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        y = nn.functional.one_hot(labels, self.num_classes).to(x.dtype)
        return self.joint(torch.cat([self.x_path(x.flatten(1)), self.y_path(y)], dim=1)).squeeze(1)
