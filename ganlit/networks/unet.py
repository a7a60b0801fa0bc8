"""U-Net generator of pix2pix, built from the inside out as nested skip blocks."""

from __future__ import annotations

import torch
from torch import nn

from ganlit.networks.init import init_weights
from ganlit.networks.norm import Norm, get_norm_layer, uses_bias
from ganlit.networks.resnet import _check_multiple


class UnetSkipBlock(nn.Module):
    """One U-Net level: down (LeakyReLU, conv4x4 s2, norm), the inner block, up (ReLU, convT4x4 s2, norm).

    Every level but the outermost returns ``cat([x, up(...)])``. The outermost has no activation or
    norm on the way down and ends with a biased convT and Tanh; the innermost has no down norm.
    Layers sit in ``self.model`` at the official indices so nested keys read ``model.1.model.3...``.
    """

    def __init__(
        self,
        outer: int,
        inner: int,
        submodule: nn.Module | None = None,
        in_channels: int | None = None,
        outermost: bool = False,
        norm: Norm = "batch",
        use_dropout: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        norm_layer, bias = get_norm_layer(norm), uses_bias(norm)
        down = nn.Conv2d(in_channels or outer, inner, 4, stride=2, padding=1, bias=bias)
        if outermost:
            layers = [down, submodule, nn.ReLU(True), nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1), nn.Tanh()]
        elif submodule is None:  # innermost: the bottleneck has no skip inside, so its up conv sees `inner`
            up = nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), up, norm_layer(outer)]
        else:
            up = nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down, norm_layer(inner), submodule, nn.ReLU(True), up, norm_layer(outer)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """The pix2pix generator (Isola et al., 2017, Sec. 3.2.1): an encoder-decoder with U-Net skips.

    It is G in the pix2pix objective G* = arg min_G max_D L_cGAN(G, D) + lambda L_L1(G) (Eq. 4).
    Widths ngf, 2ngf, 4ngf, 8ngf, then 8ngf down to a 1x1 bottleneck; ``num_downs=8`` is ``unet_256``
    and ``num_downs=7`` ``unet_128``. Dropout 0.5 (the paper's noise z) sits in the ``num_downs - 5``
    8ngf levels next to the bottleneck. Inputs must be divisible by ``2**num_downs``.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        num_downs: int = 8,
        ngf: int = 64,
        norm: Norm = "batch",
        use_dropout: bool = True,
        init_gain: float = 0.02,
    ) -> None:
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"num_downs={num_downs}: the U-Net needs at least 5 downsamplings")
        self.in_channels, self.out_channels, self.num_downs = in_channels, out_channels, num_downs
        block = UnetSkipBlock(ngf * 8, ngf * 8, norm=norm)
        for _ in range(num_downs - 5):
            block = UnetSkipBlock(ngf * 8, ngf * 8, block, norm=norm, use_dropout=use_dropout)
        for mult in (4, 2, 1):
            block = UnetSkipBlock(ngf * mult, ngf * mult * 2, block, norm=norm)
        self.model = UnetSkipBlock(out_channels, ngf, block, in_channels=in_channels, outermost=True, norm=norm)
        init_weights(self, gain=init_gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        _check_multiple(x, 2**self.num_downs, f"UnetGenerator(num_downs={self.num_downs})")
        return self.model(x)
