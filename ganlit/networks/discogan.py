"""DiscoGAN networks (Kim et al., "Learning to Discover Cross-Domain Relations with Generative Adversarial
Networks", ICML 2017), as in the official code (64 px, no extra layers); module names follow it so its
saved state dicts load."""

from __future__ import annotations

from torch import Tensor, nn


class DiscoGANGenerator(nn.Module):
    """DiscoGAN generator G_AB / G_BA : a conv encoder-decoder without skips.

    Encoder: Conv4x4 s2 p1 to ngf, 2ngf, 4ngf, 8ngf, LeakyReLU(0.2), BatchNorm after all but the first.
    Decoder: ConvTranspose4x4 s2 p1 to 4ngf, 2ngf, ngf, each BatchNorm + ReLU, then to ``out_channels``
    with Sigmoid: images are in [0, 1], as in the official code. No conv biases. Height and width must be
    multiples of 16. Default configuration: 5,513,856 parameters.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ngf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
        for mult in (1, 2, 4):
            layers += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ngf * mult * 2),
                nn.LeakyReLU(0.2, inplace=True),
            ]
        for mult in (8, 4, 2):
            layers += [
                nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ngf * mult // 2),
                nn.ReLU(inplace=True),
            ]
        layers += [nn.ConvTranspose2d(ngf, out_channels, 4, 2, 1, bias=False), nn.Sigmoid()]
        self.main = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-2] % 16 or x.shape[-1] % 16:
            raise ValueError(f"DiscoGANGenerator: image size {tuple(x.shape[-2:])} must be a multiple of 16")
        return self.main(x)


class DiscoGANDiscriminator(nn.Module):
    """DiscoGAN discriminator D_A / D_B: the generator's encoder, then Conv4x4 s1 p0 -> 1.

    ``forward`` returns ``(logits, [h2, h3, h4])``: raw logits, [N, 1, 1, 1] when the input is
    ``image_size`` (the official code applies a Sigmoid; ganlit uses BCE-with-logits), and the three inner
    LeakyReLU activations after the BatchNorm layers (2ndf, 4ndf, 8ndf channels at 1/4, 1/8, 1/16 of the
    input size) used by the feature-matching loss. No conv biases. Default configuration: 2,765,568 parameters.

    ``image_size`` sets the last kernel to ``image_size // 16`` (4 at the paper's 64 px), so smaller
    images (e.g. 32 px digits) still end in one logit; larger inputs give a grid of patch logits.
    """

    def __init__(self, in_channels: int = 3, ndf: int = 64, image_size: int = 64) -> None:
        super().__init__()
        if image_size < 16 or image_size % 16:
            raise ValueError(f"DiscoGANDiscriminator: image_size={image_size} must be a positive multiple of 16")
        self.image_size = image_size
        self.conv1 = nn.Conv2d(in_channels, ndf, 4, 2, 1, bias=False)
        self.relu1 = nn.LeakyReLU(0.2, inplace=True)
        self.conv2 = nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(ndf * 2)
        self.relu2 = nn.LeakyReLU(0.2, inplace=True)
        self.conv3 = nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(ndf * 4)
        self.relu3 = nn.LeakyReLU(0.2, inplace=True)
        self.conv4 = nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False)
        self.bn4 = nn.BatchNorm2d(ndf * 8)
        self.relu4 = nn.LeakyReLU(0.2, inplace=True)
        self.conv5 = nn.Conv2d(ndf * 8, 1, image_size // 16, 1, 0, bias=False)

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        if min(x.shape[-2:]) < self.image_size or x.shape[-2] % 16 or x.shape[-1] % 16:
            raise ValueError(
                f"DiscoGANDiscriminator: image size {tuple(x.shape[-2:])} must be multiples of 16 and at least "
                f"image_size={self.image_size}"
            )
        h = self.relu1(self.conv1(x))
        h2 = self.relu2(self.bn2(self.conv2(h)))
        h3 = self.relu3(self.bn3(self.conv3(h2)))
        h4 = self.relu4(self.bn4(self.conv4(h3)))
        return self.conv5(h4), [h2, h3, h4]
