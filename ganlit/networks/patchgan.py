"""PatchGAN (Markovian) discriminators of pix2pix and CycleGAN."""

from __future__ import annotations

import torch
from torch import nn

from ganlit.networks.init import init_weights
from ganlit.networks.norm import Norm, get_norm_layer, uses_bias


class PatchDiscriminator(nn.Module):
    """The PatchGAN discriminator of pix2pix (Isola et al., 2017, Sec. 3.2.2), also CycleGAN's D.

    D in L_cGAN(G, D) (pix2pix Eq. 1) judged per overlapping patch: kernel 4 convs, a stride-2 stem
    with bias and no norm, ``n_layers - 1`` more stride-2 convs, one stride-1 conv, all with norm and
    LeakyReLU(0.2), then a stride-1 conv to one channel. ``n_layers=3`` is the 70x70 PatchGAN (30x30
    raw logits at 256 px), 1 the 16x16 and 5 the 286x286 one. Conditional use stacks A and B on
    channels (``in_channels=6``).

    ``forward(x, return_features=True)`` (or ``features(x)``) also returns the LeakyReLU activation of
    every hidden layer, the feature spaces of PAN's perceptual loss and of feature matching.
    """

    def __init__(
        self,
        in_channels: int = 3,
        ndf: int = 64,
        n_layers: int = 3,
        norm: Norm = "instance",
        init_gain: float = 0.02,
    ) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers={n_layers}: expected a number >= 1")
        norm_layer, bias = get_norm_layer(norm), uses_bias(norm)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        width = ndf
        for n in range(1, n_layers + 1):
            stride = 2 if n < n_layers else 1  # the last hidden conv keeps the resolution
            out = ndf * min(2**n, 8)
            layers += [nn.Conv2d(width, out, 4, stride=stride, padding=1, bias=bias), norm_layer(out), nn.LeakyReLU(0.2)]
            width = out
        layers.append(nn.Conv2d(width, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)
        init_weights(self, gain=init_gain)

    def forward(
        self, x: torch.Tensor, return_features: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """Raw patch logits, or ``(logits, hidden_features)`` when ``return_features``."""
        if not return_features:
            return self.model(x)
        feats: list[torch.Tensor] = []
        for layer in self.model:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                feats.append(x)
        return x, feats

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The ``n_layers + 1`` hidden LeakyReLU activations, shallowest first."""
        return self(x, return_features=True)[1]


class PixelDiscriminator(nn.Module):
    """The 1x1 PixelGAN of pix2pix (Isola et al., 2017, "From PixelGANs to PatchGANs to ImageGANs").

    A PatchGAN whose patch is one pixel (D of pix2pix Eq. 1 judged per pixel).

    1x1 convs in->ndf (bias), LeakyReLU, ndf->2ndf, norm, LeakyReLU, 2ndf->1; raw logits per pixel.
    """

    def __init__(self, in_channels: int = 6, ndf: int = 64, norm: Norm = "batch", init_gain: float = 0.02) -> None:
        super().__init__()
        norm_layer, bias = get_norm_layer(norm), uses_bias(norm)
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, ndf, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(ndf, ndf * 2, 1, bias=bias),
            norm_layer(ndf * 2),
            nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * 2, 1, 1, bias=bias),
        )
        init_weights(self, gain=init_gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.net(x)
