"""StarGAN generator and discriminator (Choi et al., "StarGAN: Unified Generative Adversarial Networks for
Multi-Domain Image-to-Image Translation", CVPR 2018), laid out like the official code so its
``<iter>-G.ckpt`` / ``<iter>-D.ckpt`` state dicts load with ``strict=True``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class _InstanceNorm(nn.InstanceNorm2d):
    """InstanceNorm2d(affine, running stats) that can keep per-image statistics in eval mode.

    The official StarGAN test never calls ``eval()``, so its generator always normalises with the
    statistics of each image; the running averages it tracks are never used. ``use_batch_stats``
    reproduces that in eval mode without updating the running buffers.
    """

    use_batch_stats: bool = True

    def forward(self, x: Tensor) -> Tensor:
        if not self.training and self.use_batch_stats:
            return F.instance_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)
        return super().forward(x)


def _norm(channels: int) -> _InstanceNorm:
    return _InstanceNorm(channels, affine=True, track_running_stats=True)


class _ResidualBlock(nn.Module):
    """Conv3x3-IN-ReLU-Conv3x3-IN plus identity; the inner Sequential is ``main`` as in the official code."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False),
            _norm(dim),
            nn.ReLU(inplace=True),
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False),
            _norm(dim),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.main(x)


class StarGANGenerator(nn.Module):
    """StarGAN generator G(x, c) (the paper's appendix, generator architecture table).

    The target label ``c`` is tiled over space and concatenated to the image (3 + c_dim channels).
    Convs are bias-free with zero padding; InstanceNorm has affine parameters and running statistics.
    Layout of ``main``: 0 conv7, 1 IN, 3/6 down convs, 4/7 IN, 9..(8+repeat_num) residual blocks, then
    two transposed convs with IN, conv7 and Tanh (``main.21`` is the last conv with 6 blocks).
    Default configuration: 8,430,528 parameters.

    ``use_batch_stats`` (default True): in eval mode the norms still use per-image statistics, as the
    official test does (it never calls ``eval()``), so ``G.eval()`` gives the same output as train
    mode. Set it to False to normalise with the tracked running averages instead.
    """

    def __init__(self, conv_dim: int = 64, c_dim: int = 5, repeat_num: int = 6, use_batch_stats: bool = True) -> None:
        super().__init__()
        self.c_dim = c_dim
        layers: list[nn.Module] = [
            nn.Conv2d(3 + c_dim, conv_dim, 7, 1, 3, bias=False),
            _norm(conv_dim),
            nn.ReLU(inplace=True),
        ]
        dim = conv_dim
        for _ in range(2):
            layers += [nn.Conv2d(dim, dim * 2, 4, 2, 1, bias=False), _norm(dim * 2), nn.ReLU(inplace=True)]
            dim *= 2
        layers += [_ResidualBlock(dim) for _ in range(repeat_num)]
        for _ in range(2):
            layers += [nn.ConvTranspose2d(dim, dim // 2, 4, 2, 1, bias=False), _norm(dim // 2), nn.ReLU(inplace=True)]
            dim //= 2
        layers += [nn.Conv2d(dim, 3, 7, 1, 3, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.use_batch_stats = use_batch_stats

    @property
    def use_batch_stats(self) -> bool:
        return self._use_batch_stats

    @use_batch_stats.setter
    def use_batch_stats(self, value: bool) -> None:
        self._use_batch_stats = bool(value)
        for m in self.modules():
            if isinstance(m, _InstanceNorm):
                m.use_batch_stats = self._use_batch_stats

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        if c.dim() != 2 or c.shape != (x.shape[0], self.c_dim):
            raise ValueError(
                f"StarGANGenerator: labels c have shape {tuple(c.shape)}, expected ({x.shape[0]}, {self.c_dim})"
            )
        if x.shape[-2] % 4 or x.shape[-1] % 4:
            raise ValueError(f"StarGANGenerator: image size {tuple(x.shape[-2:])} must be a multiple of 4")
        c = c.to(x.dtype)[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        return self.main(torch.cat([x, c], dim=1))


class StarGANDiscriminator(nn.Module):
    """StarGAN discriminator with two heads D_src and D_cls (the paper's appendix, discriminator table).

    ``main``: ``repeat_num`` Conv4x4 s2 p1 (with bias) + LeakyReLU(0.01), widths conv_dim * 2^i, no norm.
    ``conv1``: Conv3x3 -> 1 (PatchGAN real/fake scores, [N, 1, H/2^r, W/2^r]); ``conv2``: a conv with kernel
    image_size / 2^r -> c_dim (attribute logits, [N, c_dim]). Both heads are bias-free.
    Default configuration (128 px): 44,762,048 parameters.
    """

    def __init__(self, image_size: int = 128, conv_dim: int = 64, c_dim: int = 5, repeat_num: int = 6) -> None:
        super().__init__()
        if image_size % 2**repeat_num:
            raise ValueError(
                f"StarGANDiscriminator: image_size={image_size} must be a multiple of 2**repeat_num={2**repeat_num}"
            )
        self.image_size = image_size
        layers: list[nn.Module] = [nn.Conv2d(3, conv_dim, 4, 2, 1), nn.LeakyReLU(0.01)]
        dim = conv_dim
        for _ in range(1, repeat_num):
            layers += [nn.Conv2d(dim, dim * 2, 4, 2, 1), nn.LeakyReLU(0.01)]
            dim *= 2
        self.main = nn.Sequential(*layers)
        self.conv1 = nn.Conv2d(dim, 1, 3, 1, 1, bias=False)
        self.conv2 = nn.Conv2d(dim, c_dim, image_size // 2**repeat_num, bias=False)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(
                f"StarGANDiscriminator: input is {tuple(x.shape[-2:])}, expected {self.image_size}x{self.image_size} "
                "(the classification head's kernel is fixed by image_size)"
            )
        h = self.main(x)
        return self.conv1(h), self.conv2(h).flatten(1)
