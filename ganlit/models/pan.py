"""PAN: Wang, Xu, Wang & Tao (2018), "Perceptual Adversarial Networks for Image-to-Image Transformation",
IEEE Transactions on Image Processing 27(8)."""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlit import losses
from ganlit.models.pix2pix import PairedTranslationGAN
from ganlit.networks.norm import Norm
from ganlit.networks.pan import PANDiscriminator


def perceptual_adversarial_loss(real: list[Tensor], fake: list[Tensor], weights: tuple[float, ...]) -> Tensor:
    """sum_j lambda_j P_j with P_j = ``mean |H_j(y) - H_j(T(x))|``: the L1 distance between D's hidden
    activations of the target and of the transformed image, normalised by the layer's size."""
    if not (len(real) == len(fake) == len(weights)):
        raise ValueError(f"{len(weights)} feature weights for {len(real)} real and {len(fake)} fake feature maps")
    total = real[0].new_zeros(())
    for w, r, f in zip(weights, real, fake):
        total = total + w * F.l1_loss(f, r)
    return total


class PAN(PairedTranslationGAN):
    """Perceptual Adversarial Networks, Wang et al. (2018): an image transformation network T (a U-Net,
    shared with pix2pix) against a discriminative network D whose hidden layers H_j also measure how far
    T(x) is from the ground truth y.

    * Perceptual adversarial loss: P_j(y, T(x)) = ||H_j(y) - H_j(T(x))||_1, normalised by the size of
      layer j (:func:`perceptual_adversarial_loss`), on four hidden layers of D weighted by
      ``feature_weights`` lambda_j.
    * T minimises the adversarial term plus sum_j lambda_j P_j:
      L_T = -log D(T(x)) + sum_j lambda_j P_j (+ ``lambda_l1`` * L1, 0 by default: the paper has no pixel loss).
    * D minimises its real/fake loss plus a hinge on the margin m:
      L_D = -log D(y) - log(1 - D(T(x))) + [m - sum_j lambda_j P_j]^+,
      i.e. D keeps looking for feature spaces where T(x) and y still differ by at least m; once they
      differ by more than m the hinge gives D no reason to push further.

    [unverified] The paper's equation numbers, D's layout (:class:`PANDiscriminator`: nine 3x3 conv blocks,
    features after blocks 1, 4, 6, 8), lambda = (5, 1.5, 1.5, 1), m = 3, the use of dropout in T and the
    learning-rate schedule come from a public reimplementation, not the authors' code.
    T's adversarial term is the usual non-saturating -log D(T(x)) instead of the minimax log(1 - D(T(x))).
    D sees the image alone (y or T(x)), as the paper describes D; ``conditional_d=True`` stacks the input x
    with it on channels, as pix2pix's D does. Adam 2e-4, beta1 0.5, constant learning rate.

    Args:
        ndf: D's base width.
        conditional_d: D sees (x, image) stacked on channels instead of the image alone.
        feature_weights: lambda_j for D's four hidden feature maps.
        margin: m of D's hinge.

    See :class:`ganlit.models.pix2pix.PairedTranslationGAN` for the generator and the other arguments.
    """

    paper = {"title": "Perceptual Adversarial Networks for Image-to-Image Transformation",
             "authors": "Chaoyue Wang, Chang Xu, Chaohui Wang, Dacheng Tao",
             "year": "2018",
             "venue": "IEEE Transactions on Image Processing",
             "url": "https://arxiv.org/abs/1706.09138",
             "key": "wang2018pan"}

    def __init__(
        self,
        channels: int = 3,
        image_size: int = 256,
        ngf: int = 64,
        num_downs: int = 8,
        norm: Norm = "batch",
        use_dropout: bool = True,
        ndf: int = 64,
        conditional_d: bool = False,
        feature_weights: tuple[float, ...] = (5.0, 1.5, 1.5, 1.0),
        margin: float = 3.0,
        lambda_l1: float = 0.0,
        loss: losses.GANMode = "vanilla",
        num_samples: int = 8,
        lr_g: float = 2e-4,
        lr_d: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        order: Literal["d_first", "g_first"] = "d_first",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            channels, image_size, ngf, num_downs, norm, use_dropout, lambda_l1, loss, num_samples,
            lr_g=lr_g, lr_d=lr_d, betas=betas, order=order, **kwargs,
        )
        self.discriminator_channels = (2 if conditional_d else 1) * channels
        if margin < 0:
            raise ValueError(f"margin={margin}: expected a value >= 0 (the paper uses 3)")
        self.ndf, self.conditional_d = ndf, conditional_d
        self.feature_weights = tuple(float(w) for w in feature_weights)
        self.margin = float(margin)
        self.discriminator = self.build_discriminator()

    def build_discriminator(self) -> nn.Module:
        """The perceptual discriminator: an image (stacked after the input when ``conditional_d``) -> its logit and
        the hidden feature maps H_j, one per weight of ``feature_weights``."""
        n_features = len(PANDiscriminator.feature_layers)
        if len(self.feature_weights) != n_features:
            raise ValueError(
                f"feature_weights={self.feature_weights}: expected {n_features} weights, one per hidden layer"
                f" of the PAN discriminator (default (5, 1.5, 1.5, 1))"
            )
        return PANDiscriminator((2 if self.conditional_d else 1) * self.channels, self.ndf, self.image_size)

    def discriminate(self, a: Tensor, image: Tensor) -> tuple[Tensor, list[Tensor]]:
        """D's logit and hidden features for ``image`` (stacked after the input ``a`` when conditional)."""
        return self.discriminator(torch.cat([a, image], dim=1) if self.conditional_d else image)

    def discriminator_loss(self, batch: dict, out: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        fake_logit, fake_feats = self.discriminate(batch["A"], out["fake"].detach())
        real_logit, real_feats = self.discriminate(batch["A"], batch["B"])
        adversarial = losses.d_loss(self.loss_mode, real_logit, fake_logit)
        perceptual = perceptual_adversarial_loss(real_feats, fake_feats, self.feature_weights)
        hinge = F.relu(self.margin - perceptual)
        loss = adversarial + hinge
        logs = {"d_loss": loss, "d_gan": adversarial, "d_hinge": hinge, "d_perceptual": perceptual,
                "d_real": real_logit.mean(), "d_fake": fake_logit.mean()}
        return loss, logs

    def generator_loss(self, batch: dict, out: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        fake_logit, fake_feats = self.discriminate(batch["A"], out["fake"])
        with torch.no_grad():  # the targets H_j(y): T cannot change them
            _, real_feats = self.discriminate(batch["A"], batch["B"])
        adversarial = losses.g_loss(self.loss_mode, fake_logit)
        perceptual = perceptual_adversarial_loss(real_feats, fake_feats, self.feature_weights)
        loss = adversarial + perceptual
        logs = {"g_gan": adversarial, "g_perceptual": perceptual}
        if self.lambda_l1:
            l1 = self.l1_term(batch, out["fake"])
            loss = loss + l1
            logs["g_l1"] = l1
        logs["g_loss"] = loss
        return loss, logs
