"""PairedCycleGAN networks (Chang et al., "PairedCycleGAN: Asymmetric Style Transfer for Applying and
Removing Makeup", CVPR 2018): the transfer generator G(x, y_ref), the removal generator F(y) and the
style discriminator D_S on pairs of faces.

[unverified] Layer sizes are not checked against the paper: these networks are built from CycleGAN's
ResNet blocks and PatchGAN, keeping the paper's structure (two-stream G, one-stream F, pair-wise D_S).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ganlit.networks.init import init_weights
from ganlit.networks.norm import Norm, get_norm_layer, uses_bias
from ganlit.networks.resnet import ResnetBlock, ResnetGenerator


def _encoder(in_channels: int, ngf: int, norm: Norm) -> nn.Sequential:
    """c7s1-ngf, d(2ngf), d(4ngf): the stem of ``ResnetGenerator``, 1/4 resolution out."""
    norm_layer, bias = get_norm_layer(norm), uses_bias(norm)
    layers: list[nn.Module] = [
        nn.ReflectionPad2d(3),
        nn.Conv2d(in_channels, ngf, 7, bias=bias),
        norm_layer(ngf),
        nn.ReLU(True),
    ]
    for mult in (1, 2):
        layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, 2, 1, bias=bias), norm_layer(ngf * mult * 2), nn.ReLU(True)]
    return nn.Sequential(*layers)


class MakeupTransferGenerator(nn.Module):
    """The asymmetric makeup-transfer generator G(x, y_ref) of PairedCycleGAN (the paper's G).

    Two input streams: one encoder for the face without makeup ``x`` and one for the reference face
    ``y_ref`` wearing the makeup to apply (each c7s1-ngf, d(2ngf), d(4ngf)). Their features are
    concatenated (8ngf), fused by a 3x3 conv back to 4ngf, passed through ``n_blocks`` residual blocks,
    and decoded (u(2ngf), u(ngf), c7s1-out, Tanh) to ``x`` wearing ``y_ref``'s makeup, in [-1, 1].
    Height and width must be multiples of 4; the two faces must have the same size.
    [unverified] layer sizes (see the module docstring).
    """

    def __init__(
        self,
        in_channels: int = 3,
        ngf: int = 64,
        n_blocks: int = 6,
        norm: Norm = "instance",
        out_channels: int | None = None,
        init_gain: float = 0.02,
    ) -> None:
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        norm_layer, bias = get_norm_layer(norm), uses_bias(norm)
        self.encoder_source = _encoder(in_channels, ngf, norm)
        self.encoder_reference = _encoder(in_channels, ngf, norm)
        self.fuse = nn.Sequential(nn.Conv2d(ngf * 8, ngf * 4, 3, 1, 1, bias=bias), norm_layer(ngf * 4), nn.ReLU(True))
        self.blocks = nn.Sequential(*[ResnetBlock(ngf * 4, "reflect", norm, False) for _ in range(n_blocks)])
        layers: list[nn.Module] = []
        for mult in (4, 2):
            layers += [
                nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, 2, 1, output_padding=1, bias=bias),
                norm_layer(ngf * mult // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.decoder = nn.Sequential(*layers)
        init_weights(self, gain=init_gain)

    def forward(self, x: Tensor, y_ref: Tensor) -> Tensor:
        if x.shape != y_ref.shape:
            raise ValueError(
                f"MakeupTransferGenerator: source face {tuple(x.shape)} and reference face {tuple(y_ref.shape)} "
                "must have the same shape"
            )
        if x.shape[-2] % 4 or x.shape[-1] % 4:
            raise ValueError(f"MakeupTransferGenerator: image size {tuple(x.shape[-2:])} must be a multiple of 4")
        h = torch.cat([self.encoder_source(x), self.encoder_reference(y_ref)], dim=1)
        return self.decoder(self.blocks(self.fuse(h)))


class MakeupRemovalGenerator(ResnetGenerator):
    """The makeup-removal generator F(y) of PairedCycleGAN (the paper's F): one input stream, a
    CycleGAN ResNet generator (``ResnetGenerator``) with ``n_blocks`` residual blocks. F is a many-to-one
    mapping (every makeup style to the bare face), so it needs no reference; it is pre-trained as a
    CycleGAN generator and then trained together with G. [unverified] block count.
    """

    def __init__(
        self,
        in_channels: int = 3,
        ngf: int = 64,
        n_blocks: int = 6,
        norm: Norm = "instance",
        out_channels: int | None = None,
        init_gain: float = 0.02,
    ) -> None:
        out_channels = in_channels if out_channels is None else out_channels
        super().__init__(in_channels, out_channels, ngf=ngf, n_blocks=n_blocks, norm=norm, init_gain=init_gain)


class StyleDiscriminator(nn.Module):
    """The makeup style discriminator D_S of PairedCycleGAN (the style loss).

    It sees a pair of faces stacked on channels and says whether they wear the same makeup: a PatchGAN
    (``PatchDiscriminator`` on ``2 * in_channels`` channels) returning raw patch logits. Positive pairs are
    (y, y's makeup carried onto x), negative pairs (y, G(x, y)).
    """

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3, norm: Norm = "instance") -> None:
        super().__init__()
        from ganlit.networks.patchgan import PatchDiscriminator  # built by another module family; import on use

        self.in_channels = in_channels
        self.net = PatchDiscriminator(in_channels=2 * in_channels, ndf=ndf, n_layers=n_layers, norm=norm)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        if a.shape != b.shape or a.shape[1] != self.in_channels:
            raise ValueError(
                f"StyleDiscriminator: faces {tuple(a.shape)} and {tuple(b.shape)} must have the same shape "
                f"with {self.in_channels} channels"
            )
        return self.net(torch.cat([a, b], dim=1))
