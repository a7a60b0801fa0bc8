"""pix2pix: Isola et al. (2017), "Image-to-Image Translation with Conditional Adversarial Networks".

Also the part PAN shares with it (:class:`PairedTranslationGAN`): a U-Net from A to B trained on aligned
pairs, its test-time protocol, sample grids and evaluation images.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlit import losses
from ganlit.models.base import GANModule
from ganlit.models.draws import ItemDraws
from ganlit.models.inference import ImageNetwork, Inference, Input, apply_generator
from ganlit.networks.norm import Norm
from ganlit.networks.patchgan import PatchDiscriminator, PixelDiscriminator
from ganlit.networks.unet import UnetGenerator

__all__ = ["PairedTranslationGAN", "Pix2Pix", "apply_generator"]


class PairedTranslationGAN(GANModule):
    """What pix2pix and PAN share: a U-Net generator G: A -> B trained on aligned pairs (A, B).

    Batches are dicts with ``A`` (input) and ``B`` (target), ``[N, channels, H, W]`` in [-1, 1]
    (:class:`ganlit.data.paired.PairedImageDataModule` or the digits ``paired`` task). The data module's
    ``direction`` decides which half of a file is A, so the model always maps ``A`` to ``B`` ("AtoB").

    Args:
        channels, image_size: image geometry (linked from the data module by the CLI); ``image_size`` must
            be divisible by ``2**num_downs`` (256 for ``unet_256``, 32 with ``num_downs=5``).
        ngf, num_downs, norm, use_dropout: the :class:`UnetGenerator` (``num_downs=8``: unet_256).
        lambda_l1: weight of the L1 term ``||B - G(A)||_1`` in G's loss (official ``--lambda_L1``).
        loss: adversarial loss on D's logits (``vanilla``: the papers' cross-entropy).
        num_samples: pairs in the sample grid (taken from the first training batch).
        **kwargs: the :class:`GANModule` training arguments (learning rates, cadence, schedule, EMA, ...).

    The networks: :meth:`build_generator` builds ``generator`` (the U-Net; ``ngf``, ``num_downs``, ``norm``,
    ``use_dropout`` and the size check reach it alone), the paper's ``build_discriminator`` its ``discriminator``.
    Override one to try another network.
    """

    def __init__(
        self,
        channels: int = 3,
        image_size: int = 256,
        ngf: int = 64,
        num_downs: int = 8,
        norm: Norm = "batch",
        use_dropout: bool = True,
        lambda_l1: float = 100.0,
        loss: losses.GANMode = "vanilla",
        num_samples: int = 8,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.channels, self.image_size = channels, image_size
        self.lambda_l1, self.loss_mode, self.num_samples = lambda_l1, loss, num_samples
        self.ngf, self.num_downs, self.norm, self.use_dropout = ngf, num_downs, norm, use_dropout
        self.generator = self.build_generator()
        # Fixed sample inputs, filled from the first training batch (base.on_load_checkpoint resizes them).
        self.register_buffer("fixed_A", torch.empty(0))
        self.register_buffer("fixed_B", torch.empty(0))

    def build_generator(self) -> nn.Module:
        """G: A images ``[N, channels, H, W]`` -> B images of the same shape, in [-1, 1] (the U-Net)."""
        if self.image_size % 2**self.num_downs:
            raise ValueError(
                f"image_size={self.image_size} is not divisible by 2**num_downs={2**self.num_downs}: the U-Net halves "
                f"the image num_downs times; use num_downs={_max_downs(self.image_size)} or an image_size that is a "
                f"multiple of {2**self.num_downs}"
            )
        return UnetGenerator(self.channels, self.channels, self.num_downs, self.ngf, self.norm, self.use_dropout)

    # --------------------------------------------------------------- translation
    def forward(self, x: Tensor) -> Tensor:
        return self.generator(x)

    def translate(self, x: Tensor, direction: str = "AtoB", eval_mode: bool = False) -> Tensor:
        """Translate A images ``[N, channels, H, W]`` in [-1, 1] to B images in [-1, 1].

        The default follows the paper and the official test script: dropout on and per-image
        BatchNorm statistics (see :func:`apply_generator`); ``eval_mode=True`` uses the running
        statistics and no dropout. The generator learns one direction only: the data module's
        ``direction`` chose it at training time.
        """
        if direction != "AtoB":
            raise ValueError(
                f"{type(self).__name__} learns one mapping, A -> B (direction='AtoB'); got direction={direction!r}. "
                "To learn B -> A, train with the data module's direction: BtoA."
            )
        return apply_generator(self.sampling_nets(), x, eval_mode or self.inference().mode == "eval")

    def inference(self) -> Inference:
        """Translates A to B, by default as the paper and the official test: dropout on, BatchNorm with each image's
        own statistics (``eval_mode=True``: running statistics, no dropout). A subclass whose generator runs in eval
        mode at test time declares ``mode="eval"``; translate and export then follow it."""
        return super().inference().replace(channels=self.channels, options=("eval_mode",), mode="train")

    # Channels of what D sees: the image alone (PAN), or the input stacked with it (pix2pix); set by each paper.
    discriminator_channels: int = 0

    def image_networks(self) -> list[ImageNetwork]:
        return [ImageNetwork("generator", self.generator, True, (Input("x", "image", self.channels),), direction="AtoB"),
                ImageNetwork("discriminator", self.discriminator, False,
                             (Input("x", "image", self.discriminator_channels or self.channels),))]

    # --------------------------------------------------------------- training
    def forward_step(self, batch: dict) -> dict[str, Tensor]:
        if self.fixed_A.numel() == 0:
            self.fixed_A = batch["A"][: self.num_samples].detach().clone()
            self.fixed_B = batch["B"][: self.num_samples].detach().clone()
        return {"fake": self.generator(batch["A"])}

    def l1_term(self, batch: dict, fake: Tensor) -> Tensor:
        """``lambda_l1 * ||B - G(A)||_1`` (pix2pix eq. 3), averaged over pixels."""
        return self.lambda_l1 * F.l1_loss(fake, batch["B"])

    # --------------------------------------------------------------- samples and evaluation
    sample_columns = ("A", "G(A)", "B")

    @torch.no_grad()
    def sample_images(self) -> tuple[Tensor, int] | None:
        """Rows of (A, G(A), B) for the fixed training pairs, in [0, 1]."""
        if self.fixed_A.numel() == 0:
            return None
        fake = self.translate(self.fixed_A)
        rows = torch.stack([self.fixed_A, fake, self.fixed_B], dim=1).flatten(0, 1)
        return (rows.float() + 1) / 2, 3

    @torch.no_grad()
    def evaluation_images(self, batch: dict, draws: Optional[ItemDraws] = None) -> dict[str, tuple[Tensor, Tensor]]:
        """Real B and G(A) as :meth:`translate` gives it (dropout on), one image at a time with the item's own
        dropout draws."""
        draws = draws if draws is not None else ItemDraws.from_global(batch["A"].size(0))
        return {"AtoB": (batch["B"], draws.each(self.translate, batch["A"]))}


def _max_downs(image_size: int) -> int:
    n = 0
    while image_size % 2 ** (n + 1) == 0:
        n += 1
    return n


class Pix2Pix(PairedTranslationGAN):
    """pix2pix, Isola et al. (2017): G* = arg min_G max_D L_cGAN(G, D) + lambda L_L1(G) (eq. 4).

    * L_cGAN (eq. 1): D sees the input stacked with the output on channels, D(A, B) for real pairs and
      D(A, G(A)) for fakes; vanilla GAN on logits; G minimises the non-saturating -log D(A, G(A)).
    * L_L1 (eq. 3) with lambda = 100. The paper's noise z is dropout in G, kept on at test time.
    * D's loss is halved (sec. 3.3, "we divide the objective by 2 while optimizing D"); D is updated first,
      then G, once each per batch.
    * G: U-Net 256 (``UnetGenerator()``, 54,413,955 parameters); D: the 70x70 PatchGAN with BatchNorm on
      the 6-channel pair (2,768,705 parameters); ``d_arch="pixel"`` is the 1x1 PixelGAN, ``n_layers`` 1 the
      16x16 and 5 the 286x286 PatchGAN.
    * Adam 2e-4, betas (0.5, 0.999), batch 1 (the data module's default); learning rate constant for 100
      epochs, then linearly decayed to zero over 100 more (the official ``linear`` policy).

    Args:
        ndf, n_layers, d_norm, d_arch: the discriminator.

    See :class:`PairedTranslationGAN` for the generator and the other arguments.
    """

    paper = {"title": "Image-to-Image Translation with Conditional Adversarial Networks",
             "authors": "Phillip Isola, Jun-Yan Zhu, Tinghui Zhou, Alexei A. Efros",
             "year": "2017",
             "venue": "IEEE Conference on Computer Vision and Pattern Recognition (CVPR)",
             "url": "https://arxiv.org/abs/1611.07004",
             "key": "isola2017pix2pix"}

    def __init__(
        self,
        channels: int = 3,
        image_size: int = 256,
        ngf: int = 64,
        num_downs: int = 8,
        norm: Norm = "batch",
        use_dropout: bool = True,
        ndf: int = 64,
        n_layers: int = 3,
        d_norm: Norm = "batch",
        d_arch: Literal["patch", "pixel"] = "patch",
        lambda_l1: float = 100.0,
        loss: losses.GANMode = "vanilla",
        num_samples: int = 8,
        lr_g: float = 2e-4,
        lr_d: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        order: Literal["d_first", "g_first"] = "d_first",
        lr_constant: int = 100,
        lr_decay: int = 100,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            channels, image_size, ngf, num_downs, norm, use_dropout, lambda_l1, loss, num_samples,
            lr_g=lr_g, lr_d=lr_d, betas=betas, order=order, lr_constant=lr_constant, lr_decay=lr_decay, **kwargs,
        )
        self.ndf, self.n_layers, self.d_norm, self.d_arch = ndf, n_layers, d_norm, d_arch
        self.discriminator_channels = 2 * channels
        self.discriminator = self.build_discriminator()

    def build_discriminator(self) -> nn.Module:
        """D: the pair (A, B) stacked on channels ``[N, 2 * channels, H, W]`` -> patch logits."""
        if self.d_arch == "patch":
            return PatchDiscriminator(2 * self.channels, self.ndf, self.n_layers, self.d_norm)
        if self.d_arch == "pixel":
            return PixelDiscriminator(2 * self.channels, self.ndf, self.d_norm)
        raise ValueError(f"d_arch={self.d_arch!r}: expected 'patch' (PatchGAN) or 'pixel' (1x1 PixelGAN)")

    def discriminate(self, a: Tensor, b: Tensor) -> Tensor:
        """D's patch logits for the pair (a, b), stacked on channels."""
        return self.discriminator(torch.cat([a, b], dim=1))

    def discriminator_loss(self, batch: dict, out: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        fake_logit = self.discriminate(batch["A"], out["fake"].detach())  # fake first, as the official code
        real_logit = self.discriminate(batch["A"], batch["B"])
        loss_real, loss_fake = losses.d_loss_terms(self.loss_mode, real_logit, fake_logit)
        loss = 0.5 * (loss_real + loss_fake)
        # Official names for the official terms; d_real/d_fake are D's mean logits (as GAN, CGAN and PAN log them).
        return loss, {"d_loss": loss, "loss_D_real": loss_real, "loss_D_fake": loss_fake,
                      "d_real": real_logit.mean(), "d_fake": fake_logit.mean()}

    def generator_loss(self, batch: dict, out: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        adversarial = losses.g_loss(self.loss_mode, self.discriminate(batch["A"], out["fake"]))
        l1 = self.l1_term(batch, out["fake"])
        loss = adversarial + l1
        return loss, {"g_loss": loss, "loss_G_GAN": adversarial, "loss_G_L1": l1}
