"""DiscoGAN: Kim et al. (2017), Learning to Discover Cross-Domain Relations with Generative Adversarial Networks."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlit import losses
from ganlit.models.base import GANModule
from ganlit.models.draws import ItemDraws
from ganlit.models.cyclegan import DIRECTION_NAMES, generator_key, keep_fixed_inputs, translate_eval, two_way_networks
from ganlit.models.inference import ExportedNetwork, ImageNetwork, Inference
from ganlit.networks.discogan import DiscoGANDiscriminator, DiscoGANGenerator


class UnitRange(nn.Module):
    """Runs a [0, 1] network on [-1, 1] images and returns [-1, 1] (what :meth:`DiscoGAN.translate` does)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net((x + 1) / 2) * 2 - 1


class DiscoGAN(GANModule):
    """Kim et al. (2017): the DiscoGAN objective, L_G = L_GAN_B + L_CONST_A + L_GAN_A + L_CONST_B for G_AB and
    G_BA, L_D = L_D_A + L_D_B for D_A and D_B, weighted as the official code weighs them.

    Per direction (A -> B shown): ``(1 - rate) * (0.1 * BCE(D_B(G_AB(a)) -> real) + 0.9 * FM_B) +
    rate * MSE(G_BA(G_AB(a)), a)``, where FM_B is feature matching on D_B's three inner layers (squared
    difference of the batch means, :func:`ganlit.losses.feature_matching`) between real b and G_AB(a), and
    ``rate`` is ``starting_rate`` (0.01) for the first ``gan_curriculum`` (10,000) iterations of the module's
    counter, then ``default_rate`` (0.5). D loss per domain: ``0.5 * BCE(D(real) -> 1) + 0.5 * BCE(D(fake) -> 0)``.
    Cadence ``D,G,G``: D on every third iteration, starting with the first, G on the other two.
    Adam 2e-4, betas (0.5, 0.999), weight decay 1e-5 for both; 64 px, batch 64 in the paper.

    Data range: the official networks work in [0, 1] (the generator ends in a Sigmoid). Batches ``A``/``B``
    are taken as [0, 1] (``UnpairedImageDataModule(normalize=False)``); with ``normalized=True`` they are
    [-1, 1] (the digits world, normalize=True modules) and are mapped to [0, 1] on the way in. Either way
    :meth:`translate` and :meth:`evaluation_images` speak [-1, 1], and :meth:`sample_images` gives [0, 1].

    Networks: ``generators["A2B"]`` (the official ``generator_B``), ``generators["B2A"]`` (``generator_A``),
    ``discriminators["A"]`` / ``discriminators["B"]``, keyed by the domain each one judges, built by
    :meth:`build_generator` / :meth:`build_discriminator` (override one to try another network).

    Args:
        image_size, channels: image geometry (linked from the data module by the CLI); sizes are multiples of 16.
        ngf, ndf: network widths (64).
        gan_weight, fm_weight: the weights of the GAN and feature-matching terms (0.1, 0.9).
        starting_rate, default_rate, gan_curriculum: the reconstruction rate schedule (0.01 -> 0.5 at 10,000).
        normalized: batches are in [-1, 1] instead of [0, 1].
        num_samples: images per domain in the sample grid (the first ones trained on).
        **kwargs: the :class:`GANModule` training arguments.
    """

    paper = {"title": "Learning to Discover Cross-Domain Relations with Generative Adversarial Networks",
             "authors": "Taeksoo Kim, Moonsu Cha, Hyunsoo Kim, Jung Kwon Lee, Jiwon Kim",
             "year": "2017",
             "venue": "International Conference on Machine Learning (ICML)",
             "url": "https://arxiv.org/abs/1703.05192",
             "key": "kim2017discogan"}

    def __init__(
        self,
        image_size: int = 64,
        channels: int = 3,
        ngf: int = 64,
        ndf: int = 64,
        gan_weight: float = 0.1,
        fm_weight: float = 0.9,
        starting_rate: float = 0.01,
        default_rate: float = 0.5,
        gan_curriculum: int = 10_000,
        normalized: bool = False,
        num_samples: int = 8,
        lr_g: float = 2e-4,
        lr_d: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        weight_decay: float = 1e-5,
        cadence: Optional[str] = "D,G,G",
        **kwargs: Any,
    ) -> None:
        super().__init__(lr_g=lr_g, lr_d=lr_d, betas=betas, weight_decay=weight_decay, cadence=cadence, **kwargs)
        self.gan_weight, self.fm_weight = gan_weight, fm_weight
        self.starting_rate, self.default_rate, self.gan_curriculum = starting_rate, default_rate, gan_curriculum
        self.normalized, self.num_samples = normalized, num_samples
        self.image_size, self.channels, self.ngf, self.ndf = image_size, channels, ngf, ndf
        self.generators = nn.ModuleDict({key: self.build_generator(key) for key in ("A2B", "B2A")})
        self.discriminators = nn.ModuleDict({domain: self.build_discriminator(domain) for domain in ("A", "B")})
        self.register_buffer("fixed_A", torch.empty(0))
        self.register_buffer("fixed_B", torch.empty(0))

    # --------------------------------------------------------------- networks (override to change one)
    def build_generator(self, key: str) -> nn.Module:
        """``generators[key]`` (``"A2B"``, ``"B2A"``): images in [0, 1] -> images in [0, 1]."""
        return DiscoGANGenerator(self.channels, self.channels, self.ngf)

    def build_discriminator(self, domain: str) -> nn.Module:
        """``discriminators[domain]``: images in [0, 1] -> (logit, the inner feature maps feature matching uses)."""
        return DiscoGANDiscriminator(self.channels, self.ndf, self.image_size)

    # --------------------------------------------------------------- ranges and translation
    def _unit(self, x: Tensor) -> Tensor:
        """Batch images -> the networks' [0, 1]."""
        return (x + 1) / 2 if self.normalized else x

    def rate(self, iteration: Optional[int] = None) -> float:
        """The reconstruction weight at ``iteration`` (default: the module's counter)."""
        it = int(self.iteration) if iteration is None else iteration
        return self.starting_rate if it < self.gan_curriculum else self.default_rate

    def inference(self) -> Inference:
        """Translates both ways in [-1, 1], in eval mode."""
        return super().inference().replace(directions=DIRECTION_NAMES)

    def inference_network(self, direction: Optional[str] = None) -> nn.Module:
        """The raw generator of ``direction``, [0, 1] in and out (:meth:`translate` maps the ranges)."""
        return self.sampling_nets()[generator_key(direction or "AtoB")]

    def image_networks(self) -> list[ImageNetwork]:
        channels = self.inference().channels
        return two_way_networks(self, channels, channels)

    def export_network(self, direction: Optional[str] = None, eval_mode: bool = False) -> ExportedNetwork:
        """The generator of ``direction`` wrapped so that, like :meth:`translate`, images go in and come out in
        [-1, 1]; eval mode."""
        exported = super().export_network(direction, eval_mode)
        ema = " (EMA average)" if self.generator_ema is not None else ""
        exported.meta["network"] = f"generators[{generator_key(direction or 'AtoB')!r}]{ema}"
        return replace(exported, net=UnitRange(exported.net))

    def forward(self, x: Tensor, direction: str = "AtoB") -> Tensor:
        """The raw generator: [0, 1] in and out."""
        return self.generators[generator_key(direction)](x)

    def translate(self, x: Tensor, direction: str = "AtoB", **options: Any) -> Tensor:
        """Translate images in [-1, 1] (``AtoB`` or ``BtoA``); the result is in [-1, 1].

        Uses the EMA generators when EMA is on; runs in whatever train/eval mode the module is in
        (the official code never switched to eval mode: its BatchNorm used the batch statistics).
        """
        if options:
            raise TypeError(f"DiscoGAN.translate: unexpected options {sorted(options)}")
        return self.sampling_nets()[generator_key(direction)]((x + 1) / 2) * 2 - 1

    # --------------------------------------------------------------- losses
    def forward_step(self, batch: dict) -> dict[str, Tensor]:
        # Only the translations: the D iterations (one in three) need no reconstructions.
        a, b = self._unit(batch["A"]), self._unit(batch["B"])
        return {"A": a, "B": b, "AB": self.generators["A2B"](a), "BA": self.generators["B2A"](b)}

    def discriminator_loss(self, batch: dict, out: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        logs, total = {}, 0.0
        for domain, fake in (("A", out["BA"]), ("B", out["AB"])):
            real_logit, _ = self.discriminators[domain](out[domain])
            fake_logit, _ = self.discriminators[domain](fake.detach())
            loss = 0.5 * losses.d_loss("vanilla", real_logit, fake_logit)
            logs[f"d_loss_{domain}"] = loss
            total = total + loss
        logs["d_loss"] = total
        return total, logs

    def generator_loss(self, batch: dict, out: dict[str, Tensor]) -> tuple[Tensor, dict[str, Any]]:
        rate = self.rate()
        logs: dict[str, Any] = {}
        total = 0.0
        # (target domain judged, its fake, the source images, the generator back)
        for target, fake, source, back, name in (("B", out["AB"], out["A"], "B2A", "A2B"),
                                                 ("A", out["BA"], out["B"], "A2B", "B2A")):
            d = self.discriminators[target]
            with torch.no_grad():
                _, real_feats = d(out[target])
            fake_logit, fake_feats = d(fake)
            gan = losses.g_loss("vanilla", fake_logit)
            fm = losses.feature_matching(real_feats, fake_feats)
            recon = F.mse_loss(self.generators[back](fake), source)
            loss = (1 - rate) * (self.gan_weight * gan + self.fm_weight * fm) + rate * recon
            logs |= {f"g_gan_{name}": gan, f"fm_{name}": fm, f"recon_{name[0]}": recon}
            total = total + loss
        logs |= {"g_loss": total, "rate": rate}
        return total, logs

    # --------------------------------------------------------------- samples and evaluation
    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        keep_fixed_inputs(self, batch, self.num_samples)

    def _symmetric(self, x: Tensor) -> Tensor:
        """Batch images -> [-1, 1]."""
        return x if self.normalized else x * 2 - 1

    sample_rows = ("A", "G_AB(A)", "G_BA(G_AB(A))", "B", "G_BA(B)", "G_AB(G_BA(B))")

    def sample_images(self) -> Optional[tuple[Tensor, int]]:
        """Rows: A, G_AB(A), G_BA(G_AB(A)), B, G_BA(B), G_AB(G_BA(B)), in [0, 1]."""
        if self.fixed_A.numel() == 0:
            return None
        a, b = self._symmetric(self.fixed_A), self._symmetric(self.fixed_B)
        ab, ba = translate_eval(self, a, "AtoB"), translate_eval(self, b, "BtoA")
        rows = [a, ab, translate_eval(self, ab, "BtoA"), b, ba, translate_eval(self, ba, "AtoB")]
        return (torch.cat(rows) + 1) / 2, a.size(0)

    def evaluation_images(self, batch: dict, draws: Optional[ItemDraws] = None) -> dict[str, tuple[Tensor, Tensor]]:
        """Both translations in eval mode (running statistics): nothing random, so ``draws`` is unused."""
        a, b = self._symmetric(batch["A"]), self._symmetric(batch["B"])
        return {"AtoB": (b, translate_eval(self, a, "AtoB")), "BtoA": (a, translate_eval(self, b, "BtoA"))}
