"""CycleGAN: Zhu et al. (2017), Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks."""

from __future__ import annotations

from typing import Any, Literal, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlit import losses
from ganlit.models.base import GANModule
from ganlit.models.draws import ItemDraws
from ganlit.models.inference import ExportedNetwork, ImageNetwork, Inference, Input
from ganlit.networks.norm import Norm
from ganlit.networks.patchgan import PatchDiscriminator
from ganlit.networks.resnet import Padding, ResnetGenerator
from ganlit.pool import ImagePool
from ganlit.utils.modes import evaluating

DIRECTIONS = {"AtoB": "A2B", "BtoA": "B2A"}
DIRECTION_NAMES = tuple(DIRECTIONS)


def generator_key(direction: str) -> str:
    """``"AtoB"`` -> ``"A2B"``, ``"BtoA"`` -> ``"B2A"`` (the keys of ``generators``)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction={direction!r}: expected 'AtoB' or 'BtoA'")
    return DIRECTIONS[direction]


def keep_fixed_inputs(model: GANModule, batch: dict, num: int) -> None:
    """Fill ``model.fixed_A``/``fixed_B`` from the first training batches until they hold ``num`` images each,
    so the sample grid follows the same images all run long (with batch 1, from the first ``num`` batches)."""
    have = model.fixed_A.size(0) if model.fixed_A.numel() else 0
    if have >= num:
        return
    for key in ("A", "B"):
        new = batch[key][: num - have].detach().clone()
        old = getattr(model, f"fixed_{key}")
        setattr(model, f"fixed_{key}", new if have == 0 else torch.cat([old, new]))


@torch.no_grad()
def translate_eval(model: GANModule, x: Tensor, direction: str) -> Tensor:
    """``model.translate`` with the sampling networks in eval mode, restoring their mode afterwards."""
    with evaluating(model.sampling_nets()):
        return model.translate(x, direction)


def two_way_networks(model: GANModule, channels_a: int, channels_b: int) -> list[ImageNetwork]:
    """The image networks of a two-way translator: ``generators["A2B"]`` / ``["B2A"]`` and ``discriminators["A"]`` /
    ``["B"]``, each taking one image of its domain's channels."""
    a, b = (Input("x", "image", channels_a),), (Input("x", "image", channels_b),)
    return [ImageNetwork("generators['A2B']", model.generators["A2B"], True, a, direction="AtoB"),
            ImageNetwork("generators['B2A']", model.generators["B2A"], True, b, direction="BtoA"),
            ImageNetwork("discriminators['A']", model.discriminators["A"], False, a),
            ImageNetwork("discriminators['B']", model.discriminators["B"], False, b)]


class CycleGAN(GANModule):
    """Zhu et al. (2017): two mappings G: A -> B and F: B -> A trained with the full objective of Eq. 3,
    L_GAN(G, D_B) + L_GAN(F, D_A) + lambda L_cyc(G, F) (Eq. 2), plus the identity loss of sec. 5.2.

    As the official code: least-squares GAN (sec. 4), G loss = GAN_A + GAN_B + lambda_A * L1(F(G(a)), a)
    + lambda_B * L1(G(F(b)), b) + lambda_identity * (lambda_B * L1(G(b), b) + lambda_A * L1(F(a), a));
    one Adam over both generators, one over both discriminators; each iteration updates G first (D frozen),
    then D_A and D_B, each on 0.5 * (MSE(D(real), 1) + MSE(D(pool(fake)), 0)) with a 50-image
    :class:`~ganlit.pool.ImagePool` of fakes per domain; Adam 2e-4, betas (0.5, 0.999); learning rate constant
    for 100 epochs then linearly decayed to 0 over 100.

    Networks: ``generators["A2B"]`` (G), ``generators["B2A"]`` (F), and ``discriminators["A"]`` /
    ``discriminators["B"]``, keyed by the domain each one judges (the official code calls the judge of
    domain B ``netD_A``). Batches are dicts with ``A`` and ``B`` in [-1, 1]. The losses are logged under the
    official names and weights (``loss_G_A``, ``loss_cycle_A``, ``loss_idt_A``, ``loss_D_A``, ...), so
    ``loss_D_A`` is the loss of ``discriminators["B"]``. :meth:`build_generator` (``"A2B"``, ``"B2A"``) and
    :meth:`build_discriminator` (``"A"``, ``"B"``) build them: override one to try another network.

    Args:
        channels: channels of domain A images (linked from the data module by the CLI).
        channels_b: channels of domain B (``None``: same as A). The identity loss needs both equal.
        ngf, n_blocks, norm, use_dropout, padding: the :class:`ResnetGenerator` (9 blocks at 256 px, 6 at 128 px).
        ndf, n_layers: the :class:`PatchDiscriminator` (70x70 PatchGAN by default; same norm as G).
        lambda_a, lambda_b: cycle-consistency weights (10).
        lambda_identity: identity weight relative to the cycle weight (0.5; 0 turns it off).
        gan_loss: adversarial loss on the raw D outputs (``lsgan`` is the paper's).
        pool_size: images per fake pool (50; 0 means no pool).
        num_samples: images per domain in the sample grid (the first ones trained on).
        **kwargs: the :class:`GANModule` training arguments (cadence, schedule, EMA, ...).
    """

    paper = {"title": "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks",
             "authors": "Jun-Yan Zhu, Taesung Park, Phillip Isola, Alexei A. Efros",
             "year": "2017",
             "venue": "IEEE International Conference on Computer Vision (ICCV)",
             "url": "https://arxiv.org/abs/1703.10593",
             "key": "zhu2017cyclegan"}

    def __init__(
        self,
        channels: int = 3,
        channels_b: Optional[int] = None,
        ngf: int = 64,
        n_blocks: int = 9,
        ndf: int = 64,
        n_layers: int = 3,
        norm: Norm = "instance",
        use_dropout: bool = False,
        padding: Padding = "reflect",
        lambda_a: float = 10.0,
        lambda_b: float = 10.0,
        lambda_identity: float = 0.5,
        gan_loss: losses.GANMode = "lsgan",
        pool_size: int = 50,
        num_samples: int = 4,
        lr_g: float = 2e-4,
        lr_d: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        order: Literal["d_first", "g_first"] = "g_first",
        lr_constant: int = 100,
        lr_decay: int = 100,
        **kwargs: Any,
    ) -> None:
        super().__init__(lr_g=lr_g, lr_d=lr_d, betas=betas, order=order, lr_constant=lr_constant,
                         lr_decay=lr_decay, **kwargs)
        channels_b = channels if channels_b is None else channels_b
        self.channels, self.channels_b = channels, channels_b
        if lambda_identity > 0 and channels != channels_b:
            raise ValueError(
                f"CycleGAN: lambda_identity={lambda_identity} compares G(b) with b, so it needs as many channels "
                f"in A as in B (got channels={channels}, channels_b={channels_b}); set lambda_identity: 0"
            )
        self.lambda_a, self.lambda_b, self.lambda_identity = lambda_a, lambda_b, lambda_identity
        self.gan_mode, self.num_samples = gan_loss, num_samples
        self.channels, self.channels_b = channels, channels_b
        self.ngf, self.n_blocks, self.ndf, self.n_layers = ngf, n_blocks, ndf, n_layers
        self.norm, self.use_dropout, self.padding = norm, use_dropout, padding
        self.generators = nn.ModuleDict({key: self.build_generator(key) for key in ("A2B", "B2A")})
        self.discriminators = nn.ModuleDict({domain: self.build_discriminator(domain) for domain in ("A", "B")})
        # Fakes of domain A (from B2A) feed D_A, fakes of B feed D_B. Not modules: saved by the checkpoint hooks.
        self.pools = {"A": ImagePool(pool_size), "B": ImagePool(pool_size)}
        self.register_buffer("fixed_A", torch.empty(0))
        self.register_buffer("fixed_B", torch.empty(0))

    # --------------------------------------------------------------- networks (override to change one)
    def channels_of(self, domain: str) -> int:
        return self.channels if domain == "A" else self.channels_b

    def build_generator(self, key: str) -> nn.Module:
        """``generators[key]``: ``"A2B"`` (G) maps domain A images to B, ``"B2A"`` (F) back; [-1, 1] both ways."""
        return ResnetGenerator(self.channels_of(key[0]), self.channels_of(key[-1]), self.ngf, self.n_blocks,
                               self.norm, self.use_dropout, self.padding)

    def build_discriminator(self, domain: str) -> nn.Module:
        """``discriminators[domain]``: images of ``domain`` (``"A"`` or ``"B"``) -> patch scores."""
        return PatchDiscriminator(self.channels_of(domain), self.ndf, self.n_layers, self.norm)

    # --------------------------------------------------------------- translation
    def inference(self) -> Inference:
        """Translates both ways, in eval mode (domain B images have ``channels_b`` channels)."""
        return super().inference().replace(channels=self.channels, channels_b=self.channels_b, directions=DIRECTION_NAMES)

    def inference_network(self, direction: Optional[str] = None) -> nn.Module:
        return self.sampling_nets()[generator_key(direction or "AtoB")]

    def image_networks(self) -> list[ImageNetwork]:
        return two_way_networks(self, self.channels, self.channels_b)

    def export_network(self, direction: Optional[str] = None, eval_mode: bool = False) -> ExportedNetwork:
        exported = super().export_network(direction, eval_mode)
        ema = " (EMA average)" if self.generator_ema is not None else ""
        exported.meta["network"] = f"generators[{generator_key(direction or 'AtoB')!r}]{ema}"
        return exported

    def forward(self, x: Tensor, direction: str = "AtoB") -> Tensor:
        return self.generators[generator_key(direction)](x)

    def translate(self, x: Tensor, direction: str = "AtoB", **options: Any) -> Tensor:
        """Translate images in [-1, 1] from one domain to the other (``AtoB`` or ``BtoA``), in [-1, 1].

        Uses the EMA generators when EMA is on; runs in whatever train/eval mode the module is in.
        """
        if options:
            raise TypeError(f"CycleGAN.translate: unexpected options {sorted(options)}")
        return self.sampling_nets()[generator_key(direction)](x)

    # --------------------------------------------------------------- losses
    def forward_step(self, batch: dict) -> dict[str, Tensor]:
        real_a, real_b = batch["A"], batch["B"]
        g = self.generators
        # The official order: it fixes the order in which backward sums each generator's gradient contributions.
        fake_b = g["A2B"](real_a)
        rec_a = g["B2A"](fake_b)
        fake_a = g["B2A"](real_b)
        return {"fake_B": fake_b, "rec_A": rec_a, "fake_A": fake_a, "rec_B": g["A2B"](fake_a)}

    def generator_loss(self, batch: dict, out: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        # Logged under the official names, weighted as the official attributes are (netG_A is A2B, netD_A judges B),
        # and summed in the official order.
        real_a, real_b = batch["A"], batch["B"]
        g, d = self.generators, self.discriminators
        logs: dict[str, Tensor] = {}
        if self.lambda_identity > 0:
            # G should leave images that already look like B alone (sec. 5.2, photo generation from paintings).
            logs["loss_idt_A"] = F.l1_loss(g["A2B"](real_b), real_b) * self.lambda_b * self.lambda_identity
            logs["loss_idt_B"] = F.l1_loss(g["B2A"](real_a), real_a) * self.lambda_a * self.lambda_identity
        logs["loss_G_A"] = losses.g_loss(self.gan_mode, d["B"](out["fake_B"]))
        logs["loss_G_B"] = losses.g_loss(self.gan_mode, d["A"](out["fake_A"]))
        logs["loss_cycle_A"] = F.l1_loss(out["rec_A"], real_a) * self.lambda_a
        logs["loss_cycle_B"] = F.l1_loss(out["rec_B"], real_b) * self.lambda_b
        loss = logs["loss_G_A"] + logs["loss_G_B"] + logs["loss_cycle_A"] + logs["loss_cycle_B"]
        if self.lambda_identity > 0:
            loss = loss + logs["loss_idt_A"] + logs["loss_idt_B"]
        logs["g_loss"] = loss
        return loss, logs

    def discriminator_loss(self, batch: dict, out: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        logs, total = {}, 0.0
        for domain, official in (("A", "loss_D_B"), ("B", "loss_D_A")):  # the official netD_A judges domain B
            # The pool is part of training; a held-out batch (validate/test, eval mode) is judged on its own fakes.
            fake = self.pools[domain].query(out[f"fake_{domain}"]) if self.training else out[f"fake_{domain}"].detach()
            real_logit = self.discriminators[domain](batch[domain])
            fake_logit = self.discriminators[domain](fake)
            # Halved, as the paper does, so D learns more slowly than G.
            loss = losses.d_loss(self.gan_mode, real_logit, fake_logit) * 0.5
            logs[official] = loss
            total = total + loss
        logs["d_loss"] = total
        return total, logs

    # --------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["image_pools"] = {k: pool.state_dict() for k, pool in self.pools.items()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        for k, state in checkpoint.get("image_pools", {}).items():
            self.pools[k].load_state_dict(state)

    # --------------------------------------------------------------- samples and evaluation
    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        keep_fixed_inputs(self, batch, self.num_samples)

    sample_rows = ("A", "G(A)", "F(G(A))", "B", "F(B)", "G(F(B))")

    def sample_images(self) -> Optional[tuple[Tensor, int]]:
        """Rows: A, G(A), F(G(A)), B, F(B), G(F(B)), in [0, 1]."""
        if self.fixed_A.numel() == 0:
            return None
        a, b = self.fixed_A, self.fixed_B
        fake_b, fake_a = translate_eval(self, a, "AtoB"), translate_eval(self, b, "BtoA")
        rows = [a, fake_b, translate_eval(self, fake_b, "BtoA"), b, fake_a, translate_eval(self, fake_a, "AtoB")]
        if a.size(1) != b.size(1):  # channels_b differs: one grid needs one channel count
            rows = [r.expand(-1, 3, -1, -1) if r.size(1) == 1 else r for r in rows]
        return (torch.cat(rows) + 1) / 2, a.size(0)

    def evaluation_images(self, batch: dict, draws: Optional[ItemDraws] = None) -> dict[str, tuple[Tensor, Tensor]]:
        """Both translations in eval mode (no dropout, running statistics): nothing random, so ``draws`` is unused."""
        return {
            "AtoB": (batch["B"], translate_eval(self, batch["A"], "AtoB")),
            "BtoA": (batch["A"], translate_eval(self, batch["B"], "BtoA")),
        }
