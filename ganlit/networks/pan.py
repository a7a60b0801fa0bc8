"""PAN discriminator (Wang et al., "Perceptual Adversarial Networks for Image-to-Image Transformation",
IEEE TIP 2018). The transformer T is a U-Net (``ganlit.networks.unet.UnetGenerator``)."""

from __future__ import annotations

from torch import Tensor, nn


def _block(c_in: int, c_out: int, stride: int, norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, stride, 1)]
    if norm:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


class PANDiscriminator(nn.Module):
    """PAN's discriminative network D, whose hidden layers also define the perceptual adversarial loss
    (the perceptual adversarial loss: P_j = ``mean |H_j(y) - H_j(T(x))|``, weighted by lambda_j).

    Nine 3x3 conv blocks (``layers.0`` .. ``layers.8``, the paper's layers 1..9): widths ndf, 2ndf, 2ndf,
    4ndf, 4ndf, 8ndf, 8ndf, 8ndf, 8 with strides 1, 2, 1, 2, 1, 2, 1, 2, 2; BatchNorm in blocks 2..8,
    LeakyReLU(0.2) everywhere; then a linear layer to one logit (no Sigmoid: use BCE-with-logits).
    ``forward`` returns ``(logits [N, 1], [H_1, H_4, H_6, H_8])``: the four hidden activations used by the
    perceptual loss, with weights ``feature_weights`` = (5, 1.5, 1.5, 1) and hinge margin ``margin`` = 3.

    [unverified] The widths, strides, the missing BatchNorm in the 9-th block, the choice of layers, the
    weights and the margin come from a public reimplementation, not the authors' code. The paper's D sees
    the image alone (``in_channels=3``); the default ``in_channels=6`` is the conditional variant that
    sees the input and the (real or transformed) output stacked on channels, as pix2pix's D does.
    ``image_size`` fixes the linear layer's input (8 * (image_size / 32)^2 features).
    """

    feature_weights: tuple[float, ...] = (5.0, 1.5, 1.5, 1.0)
    margin: float = 3.0
    feature_layers: tuple[int, ...] = (0, 3, 5, 7)  # indices into ``layers`` (paper layers 1, 4, 6, 8)

    def __init__(self, in_channels: int = 6, ndf: int = 64, image_size: int = 256) -> None:
        super().__init__()
        if image_size < 32 or image_size % 32:
            raise ValueError(f"PANDiscriminator: image_size={image_size} must be a positive multiple of 32")
        self.image_size = image_size
        widths = [ndf, 2 * ndf, 2 * ndf, 4 * ndf, 4 * ndf, 8 * ndf, 8 * ndf, 8 * ndf, 8]
        strides = [1, 2, 1, 2, 1, 2, 1, 2, 2]
        blocks, c_in = [], in_channels
        for i, (c_out, stride) in enumerate(zip(widths, strides)):
            blocks.append(_block(c_in, c_out, stride, norm=0 < i < 8))
            c_in = c_out
        self.layers = nn.ModuleList(blocks)
        self.fc = nn.Linear(8 * (image_size // 32) ** 2, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        if x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(
                f"PANDiscriminator: input is {tuple(x.shape[-2:])}, expected {self.image_size}x{self.image_size}"
            )
        features = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in self.feature_layers:
                features.append(x)
        return self.fc(x.flatten(1)), features
