"""ResNet generator of CycleGAN (and of pix2pix with ``--netG resnet_9blocks``)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ganlit.networks.init import init_weights
from ganlit.networks.norm import Norm, get_norm_layer, uses_bias

Padding = Literal["reflect", "replicate", "zero"]


def _pad_layers(padding: Padding, size: int) -> tuple[list[nn.Module], int]:
    """Explicit padding layers plus the conv's own padding (``zero`` pads inside the conv)."""
    if padding == "reflect":
        return [nn.ReflectionPad2d(size)], 0
    if padding == "replicate":
        return [nn.ReplicationPad2d(size)], 0
    if padding == "zero":
        return [], size
    raise ValueError(f"padding={padding!r}: expected 'reflect', 'replicate' or 'zero'")


class ResnetBlock(nn.Module):
    """Residual block ``x + F(x)``, F = pad, conv3x3, norm, ReLU, [dropout], pad, conv3x3, norm.

    Layers live in ``conv_block`` so the official keys (``conv_block.1``, ``conv_block.5``) map.
    """

    def __init__(self, dim: int, padding: Padding, norm: Norm, use_dropout: bool) -> None:
        super().__init__()
        norm_layer, bias = get_norm_layer(norm), uses_bias(norm)
        pad, p = _pad_layers(padding, 1)
        layers: list[nn.Module] = [*pad, nn.Conv2d(dim, dim, 3, padding=p, bias=bias), norm_layer(dim), nn.ReLU(True)]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        pad, p = _pad_layers(padding, 1)
        layers += [*pad, nn.Conv2d(dim, dim, 3, padding=p, bias=bias), norm_layer(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """Johnson et al. (2016) style ResNet generator, as used by CycleGAN (Zhu et al., 2017, appendix 7.2).

    c7s1-ngf, d(2ngf), d(4ngf), ``n_blocks`` x R(4ngf), u(2ngf), u(ngf), c7s1-out, Tanh. It is the mapping
    G: X -> Y of the CycleGAN objective (Eq. 3). Defaults give ``resnet_9blocks`` for 256 px images;
    ``n_blocks=6`` is the 128 px variant. Convs carry a bias exactly when ``norm="instance"``.
    Height and width must be multiples of 4 (two stride-2 downsamplings undone by two upsamplings).
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 64,
        n_blocks: int = 9,
        norm: Norm = "instance",
        use_dropout: bool = False,
        padding: Padding = "reflect",
        init_gain: float = 0.02,
    ) -> None:
        super().__init__()
        if n_blocks < 0:
            raise ValueError(f"n_blocks={n_blocks}: expected a number >= 0")
        self.in_channels, self.out_channels = in_channels, out_channels
        norm_layer, bias = get_norm_layer(norm), uses_bias(norm)
        # The stem and the head always reflect-pad, as the official code does whatever `padding` says.
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, ngf, 7, bias=bias),
            norm_layer(ngf),
            nn.ReLU(True),
        ]
        for mult in (1, 2):
            layers += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=bias),
                norm_layer(ngf * mult * 2),
                nn.ReLU(True),
            ]
        layers += [ResnetBlock(ngf * 4, padding, norm, use_dropout) for _ in range(n_blocks)]
        for mult in (4, 2):
            layers += [
                nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                norm_layer(ngf * mult // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        init_weights(self, gain=init_gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        _check_multiple(x, 4, "ResnetGenerator")
        return self.model(x)


def _check_multiple(x: torch.Tensor, multiple: int, who: str) -> None:
    """Raise a clear error instead of returning an image of another size (or a shape error deep inside)."""
    if torch.jit.is_tracing() or torch.compiler.is_exporting():
        return  # exported graphs must not bake in a Python-side check
    h, w = x.shape[-2:]
    if h % multiple or w % multiple:
        fit_h, fit_w = max(multiple, h // multiple * multiple), max(multiple, w // multiple * multiple)
        raise ValueError(
            f"{who} needs height and width that are multiples of {multiple}, got {h}x{w}; "
            f"resize or crop the image to a multiple of {multiple} (e.g. {fit_h}x{fit_w})"
        )
