"""StarGAN: Choi et al. (2018), Unified Generative Adversarial Networks for Multi-Domain Image-to-Image Translation."""

from __future__ import annotations

import copy
from typing import Any, Literal, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlit import losses
from ganlit.attributes import CELEBA_DEFAULT_ATTRS, HAIR_COLOURS, Target, official_test_labels, target_vector
from ganlit.models.base import GANModule
from ganlit.models.draws import ItemDraws
from ganlit.models.inference import ExportedNetwork, ImageNetwork, Inference, Input
from ganlit.networks.stargan import StarGANDiscriminator, StarGANGenerator
from ganlit.utils.modes import evaluating

__all__ = ["StarGAN", "official_test_labels", "CELEBA_DEFAULT_ATTRS", "HAIR_COLOURS", "Target"]


class StarGAN(GANModule):
    """Choi et al. (2018): one generator G(x, c) for all attribute domains, a D with two heads (sec. 3).

    Losses (eqs. 1-3, 5, 6 of the paper; WGAN-GP of Gulrajani et al. 2017, eq. 8 of StarGAN):

    * D: ``-mean(D_src(x)) + mean(D_src(G(x, c))) + lambda_cls * L_cls(D_cls(x), c_org) + lambda_gp * GP``,
      the penalty on the real/fake head only, at interpolates with one alpha ~ U(0, 1) per sample.
    * G (every ``n_critic``-th iteration): ``-mean(D_src(G(x, c))) + lambda_cls * L_cls(D_cls(G(x, c)), c)
      + lambda_rec * mean|x - G(G(x, c), c_org)|``.
    * ``L_cls``: BCE with logits summed over attributes and averaged over the batch (multi-label, CelebA);
      cross-entropy over classes (``single_label``, RaFD).
    * Target labels ``c``: the batch's own labels in a random order (the official ``rand_idx``).

    Extension points for the randomness of an iteration: :meth:`sample_target_labels` (the target labels,
    drawn first) and :meth:`gp_alpha` (the gradient-penalty interpolation weights, drawn second). Override
    them in a subclass (or assign them on an instance) to replay recorded draws or to try another sampling.
    The networks come from :meth:`build_generator` and :meth:`build_discriminator` (override one to try another).

    One difference from the official solver: its G step recomputes ``G(x_real, c_trg)``, so the official G
    runs three times in an iteration with a G step and ganlit's twice (the fake of the D step is reused; G
    has not changed in between, so the values are the same). The only observable effect is on the running
    statistics of G's InstanceNorm layers, which neither code uses at test time (``use_batch_stats``); they
    matter only for exported buffers or for ``use_batch_stats=False`` in ``eval()``.

    Learning rate (``lr_schedule="official"``, the default): the official solver subtracts
    ``lr / num_iters_decay`` every ``lr_update_step`` iterations once past ``num_iters - num_iters_decay``.
    With its defaults (lr_constant = lr_decay = 100,000, lr_update_step = 1,000) that is 100 decrements of
    lr * 1e-5: the factor is 1.0 up to iteration 100,999, 0.99999 from 101,000, ... and 0.999 at 200,000, so
    the official models trained at a practically constant rate (the paper says "linearly decay to 0").
    ``lr_schedule="linear"`` is what the paper describes: the same 1,000-iteration steps, each subtracting
    ``lr * lr_update_step / lr_decay``, reaching 0 at ``lr_constant + lr_decay``.

    Batches are dicts with ``image`` in [-1, 1] and float ``label`` [N, num_attrs] (0/1; one-hot when
    ``single_label``), as :class:`ganlit.data.celeba.CelebADataModule`, ``RaFDDataModule`` and the digits
    ``attributes`` task give them.

    Args:
        image_size: image side (D's classification kernel follows it); linked from the data module.
        num_attrs: the number of attributes ``c_dim``; linked from the data module.
        attr_names: their names (default the official five CelebA attributes); linked from the data module.
        single_label: one class per image (RaFD); linked from the data module.
        exclusive_attrs: attributes that form one exclusive group in the test label sets (default the CelebA
            hair colours; the digits world uses its colours).
        conv_dim, repeat_num: G width and residual blocks (64, 6).
        d_conv_dim, d_repeat_num: D width (default ``conv_dim``) and strided convs (6).
        use_batch_stats: G normalises with per-image statistics at inference too, as the official test does.
        lambda_cls, lambda_rec, lambda_gp: loss weights (1, 10, 10).
        num_samples: images of the fixed sample batch (rows of the sample grid).
        lr_update_step, lr_schedule: see above; ``lr_constant``/``lr_decay`` are ``num_iters - num_iters_decay``
            and ``num_iters_decay`` in iterations.
        **kwargs: the :class:`GANModule` training arguments (EMA, clipping, sampling cadence, ...).
    """

    paper = {"title": "StarGAN: Unified Generative Adversarial Networks for Multi-Domain Image-to-Image Translation",
             "authors": "Yunjey Choi, Minje Choi, Munyoung Kim, Jung-Woo Ha, Sunghun Kim, Jaegul Choo",
             "year": "2018",
             "venue": "IEEE Conference on Computer Vision and Pattern Recognition (CVPR)",
             "url": "https://arxiv.org/abs/1711.09020",
             "key": "choi2018stargan"}

    def __init__(
        self,
        image_size: int = 128,
        num_attrs: int = 5,
        attr_names: Optional[list[str]] = None,
        single_label: bool = False,
        exclusive_attrs: Optional[list[str]] = None,
        conv_dim: int = 64,
        repeat_num: int = 6,
        d_conv_dim: Optional[int] = None,
        d_repeat_num: int = 6,
        use_batch_stats: bool = True,
        lambda_cls: float = 1.0,
        lambda_rec: float = 10.0,
        lambda_gp: float = 10.0,
        num_samples: int = 16,
        lr_update_step: int = 1000,
        lr_schedule: Literal["official", "linear"] = "official",
        lr_g: float = 1e-4,
        lr_d: float = 1e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        n_critic: int = 5,
        lr_constant: int = 100_000,
        lr_decay: int = 100_000,
        schedule_unit: Literal["epoch", "iteration"] = "iteration",
        **kwargs: Any,
    ) -> None:
        super().__init__(lr_g=lr_g, lr_d=lr_d, betas=betas, n_critic=n_critic, lr_constant=lr_constant,
                         lr_decay=lr_decay, schedule_unit=schedule_unit, **kwargs)
        if attr_names is None:
            attr_names = list(CELEBA_DEFAULT_ATTRS) if num_attrs == 5 else [f"attr{i}" for i in range(num_attrs)]
        if len(attr_names) != num_attrs:
            raise ValueError(f"num_attrs={num_attrs} but attr_names has {len(attr_names)} names: {attr_names}")
        if lr_schedule not in ("official", "linear"):
            raise ValueError(f"lr_schedule={lr_schedule!r}: expected 'official' or 'linear'")
        if lr_update_step < 1:
            raise ValueError(f"lr_update_step={lr_update_step}: expected an integer >= 1")
        self.image_size, self.num_attrs, self.attr_names = image_size, num_attrs, list(attr_names)
        self.single_label = single_label
        self.exclusive_attrs = list(HAIR_COLOURS if exclusive_attrs is None else exclusive_attrs)
        self.lambda_cls, self.lambda_rec, self.lambda_gp = lambda_cls, lambda_rec, lambda_gp
        self.num_samples = num_samples
        self.lr_update_step, self.lr_schedule = lr_update_step, lr_schedule
        self.conv_dim, self.repeat_num, self.use_batch_stats = conv_dim, repeat_num, use_batch_stats
        self.d_conv_dim, self.d_repeat_num = d_conv_dim or conv_dim, d_repeat_num
        self.generator = self.build_generator()
        self.discriminator = self.build_discriminator()
        # The official sample grid translates one fixed batch; it is taken from the first training batch.
        self.register_buffer("fixed_image", torch.zeros(0, 3, image_size, image_size))
        self.register_buffer("fixed_label", torch.zeros(0, num_attrs))

    # --------------------------------------------------------------- networks (override to change one)
    def build_generator(self) -> nn.Module:
        """G(x, c): images ``[N, 3, H, W]`` in [-1, 1] and target labels ``[N, num_attrs]`` -> images."""
        return StarGANGenerator(self.conv_dim, self.num_attrs, self.repeat_num, self.use_batch_stats)

    def build_discriminator(self) -> nn.Module:
        """D(x) -> (patch realness ``[N, 1, h, w]``, attribute logits ``[N, num_attrs]``)."""
        return StarGANDiscriminator(self.image_size, self.d_conv_dim, self.num_attrs, self.d_repeat_num)

    @classmethod
    def from_generator(cls, generator: StarGANGenerator, attr_names: list[str], image_size: int = 128,
                       single_label: bool = False, **kwargs: Any) -> "StarGAN":
        """A module around an existing generator (e.g. ``ganlit.hub.load_official("stargan", path)``), whose
        width, depth and ``c_dim`` are read from the network; its weights are copied in."""
        conv_dim = generator.main[0].out_channels
        repeat_num = sum(type(m).__name__ == "_ResidualBlock" for m in generator.main)
        model = cls(image_size=image_size, num_attrs=generator.c_dim, attr_names=list(attr_names),
                    single_label=single_label, conv_dim=conv_dim, repeat_num=repeat_num,
                    use_batch_stats=generator.use_batch_stats, **kwargs)
        model.generator.load_state_dict(generator.state_dict())
        return model

    # --------------------------------------------------------------- schedule
    def lr_lambda(self, t: int) -> float:
        """Factor after ``t`` iterations: ``1 - n * step_size`` with ``n`` the multiples of ``lr_update_step``
        in (lr_constant, t] (the official decrements) and ``step_size`` 1 / lr_decay (official) or
        lr_update_step / lr_decay (linear)."""
        if self.lr_decay <= 0:
            return 1.0
        s = self.lr_update_step
        n = max(0, t // s - self.lr_constant // s)
        per_step = (1.0 if self.lr_schedule == "official" else float(s)) / self.lr_decay
        return max(0.0, 1.0 - n * per_step)

    # --------------------------------------------------------------- labels
    def classification_loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        """BCE with logits summed over attributes / batch size; cross-entropy for single-label data."""
        if self.single_label:
            return F.cross_entropy(logits, labels.argmax(1))
        return F.binary_cross_entropy_with_logits(logits, labels, reduction="sum") / logits.size(0)

    def test_labels(self, c_org: Tensor) -> list[Tensor]:
        """The official test label sets for the original labels ``c_org`` (see :func:`official_test_labels`)."""
        return official_test_labels(c_org, self.attr_names, self.single_label, self.exclusive_attrs)

    def target_labels(self, target: Target, n: int, c_org: Optional[Tensor] = None) -> Tensor:
        """Target labels [n, num_attrs] from a tensor/list or ``{attribute: value}`` (see :func:`target_vector`)."""
        return target_vector(target, self.attr_names, n, c_org)

    # --------------------------------------------------------------- translation
    def inference(self) -> Inference:
        """Translates to target attributes (``target``), or into the official test row of the inputs' own labels
        (``c_org``); one generator serves every target, so there is no direction."""
        return super().inference().replace(
            channels=3, directions=(), options=("target", "c_org"), attributes=tuple(self.attr_names),
            exclusive=tuple(self.attr_names if self.single_label else
                            [n for n in self.attr_names if n in self.exclusive_attrs]),
            single_label=self.single_label)

    def image_networks(self) -> list[ImageNetwork]:
        image = Input("x", "image", 3)
        return [ImageNetwork("generator", self.generator, True, (image, Input("c", "attributes", self.num_attrs))),
                ImageNetwork("discriminator", self.discriminator, False, (image,))]

    def export_network(self, direction: Optional[str] = None, eval_mode: bool = False) -> ExportedNetwork:
        """``G(x, c)``, c the float 0/1 target labels; eval mode with per-image statistics, as the official test."""
        inputs = (Input("x", "image", 3), Input("c", "attributes", self.num_attrs, option="target",
                                                names=tuple(self.attr_names)))
        return ExportedNetwork(copy.deepcopy(self.sampling_nets()).eval(), inputs,
                               "eval, per-image InstanceNorm statistics (the official test)",
                               meta={"attr_names": list(self.attr_names), "single_label": self.single_label})

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        return self.generator(x, c)

    @torch.no_grad()
    def translate(self, x: Tensor, direction: str = "AtoB", target: Optional[Target] = None,
                  c_org: Optional[Tensor] = None) -> Tensor:
        """Translate images ``x`` [N, 3, H, W] in [-1, 1] (output in [-1, 1]).

        With ``target`` (a label vector/tensor or ``{attribute: value}``): G(x, target), [N, 3, H, W].
        Without it: the official test row of each image, the input followed by one translation per label
        set of :meth:`test_labels` (needs ``c_org``), joined along the width: [N, 3, H, W * (1 + K)].
        ``direction`` is accepted for the common interface and unused (one G serves every domain). G runs in
        eval mode with per-image normalisation statistics (``use_batch_stats``), as the official test.
        """
        if c_org is not None:
            c_org = torch.as_tensor(c_org, dtype=torch.float32, device=x.device)
            if c_org.dim() == 1:
                c_org = c_org.unsqueeze(0).expand(x.size(0), -1)
        if target is None and c_org is None:
            raise ValueError("translate: give a target (labels or {attribute: value}) or c_org (the input's labels)"
                             " for the official test grid")
        net = self.sampling_nets()
        with evaluating(net):
            if target is not None:
                return net(x, self.target_labels(target, x.size(0), c_org).to(x))
            return torch.cat([x] + [net(x, c.to(x)) for c in self.test_labels(c_org)], dim=3)

    # --------------------------------------------------------------- randomness (extension points)
    def sample_target_labels(self, labels: Tensor) -> Tensor:
        """Target labels of a training batch: its own ``labels`` in a random order (the official
        ``label_org[torch.randperm(N)]``). Override to choose targets otherwise."""
        return labels[torch.randperm(labels.size(0), device=labels.device)]

    def gp_alpha(self, real: Tensor) -> Tensor:
        """Interpolation weights of the gradient penalty, one per sample of ``real``, shaped ``[N, 1, 1, 1]``
        (the official ``torch.rand(N, 1, 1, 1)``, drawn after :meth:`sample_target_labels`). Override to
        choose them otherwise."""
        return torch.rand(real.size(0), 1, 1, 1, device=real.device, dtype=real.dtype)

    # --------------------------------------------------------------- losses
    def forward_step(self, batch: dict) -> dict[str, Tensor]:
        c_trg = self.sample_target_labels(batch["label"].float())
        return {"fake": self.generator(batch["image"], c_trg), "c_trg": c_trg}

    def gradient_penalty(self, real: Tensor, fake: Tensor) -> Tensor:
        """WGAN-GP on the real/fake head only, at ``alpha * real + (1 - alpha) * fake``, alpha from :meth:`gp_alpha`."""
        return losses.gradient_penalty(lambda x: self.discriminator(x)[0], real, fake, alpha=self.gp_alpha(real))

    # Logged under the official names (the locals of the official Solver.train); gp and rec unweighted as there.
    def discriminator_loss(self, batch: dict, out: dict[str, Tensor]):
        real, label = batch["image"], batch["label"].float()
        fake = out["fake"].detach()
        src_real, cls_real = self.discriminator(real)
        src_fake, _ = self.discriminator(fake)
        loss_real, loss_fake = -src_real.mean(), src_fake.mean()
        loss_cls = self.classification_loss(cls_real, label)
        loss_gp = self.gradient_penalty(real, fake)
        loss = loss_real + loss_fake + self.lambda_cls * loss_cls + self.lambda_gp * loss_gp
        return loss, {"d_loss": loss, "d_loss_real": loss_real, "d_loss_fake": loss_fake, "d_loss_cls": loss_cls,
                      "d_loss_gp": loss_gp}

    def generator_loss(self, batch: dict, out: dict[str, Tensor]):
        real, label = batch["image"], batch["label"].float()
        fake, c_trg = out["fake"], out["c_trg"]
        src_fake, cls_fake = self.discriminator(fake)
        rec = self.generator(fake, label)
        loss_fake = -src_fake.mean()
        loss_cls = self.classification_loss(cls_fake, c_trg)
        loss_rec = (real - rec).abs().mean()
        loss = loss_fake + self.lambda_rec * loss_rec + self.lambda_cls * loss_cls
        return loss, {"g_loss": loss, "g_loss_fake": loss_fake, "g_loss_cls": loss_cls, "g_loss_rec": loss_rec}

    # --------------------------------------------------------------- samples and evaluation
    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if self.fixed_image.size(0) == 0:
            self.fixed_image = batch["image"][: self.num_samples].detach().clone()
            self.fixed_label = batch["label"][: self.num_samples].detach().float().clone()

    @property
    def sample_columns(self) -> tuple[str, ...]:
        """The sample grid's columns: the input, then the test label set of each attribute (named after it)."""
        return ("input", *self.attr_names)

    def sample_images(self) -> Optional[tuple[Tensor, int]]:
        """The official test layout: one row per fixed image, the input then one translation per label set."""
        if self.fixed_image.size(0) == 0:
            return None
        rows = self.translate(self.fixed_image, c_org=self.fixed_label)  # [N, 3, H, W * (1 + K)]
        tiles = rows.unflatten(3, (1 + self.num_attrs, self.fixed_image.size(-1))).permute(0, 3, 1, 2, 4).flatten(0, 1)
        return (tiles + 1) / 2, 1 + self.num_attrs

    def predict_images(self, batch: dict) -> dict[str, Tensor]:
        """``ganlit predict``: the official test row of each image (input, then one translation per attribute);
        images without labels (a folder) are taken to have every attribute 0, as ``ganlit translate`` takes them."""
        x = batch["image"]
        labels = batch["label"].float() if "label" in batch else x.new_zeros(x.size(0), self.num_attrs)
        return {"": self.translate(x, c_org=labels)}

    @torch.no_grad()
    def evaluation_images(self, batch: dict, draws: Optional[ItemDraws] = None) -> dict[str, tuple[Tensor, Tensor]]:
        """Real test images and one translation of each: item ``i`` of the evaluation (``draws.indices``; without
        draws, image ``i`` of the batch) goes to the ``i mod K``-th official test label set, so every attribute
        change is evaluated equally often, whichever process or batch the item falls in."""
        real, c_org = batch["image"], batch["label"].float()
        sets = torch.stack(self.test_labels(c_org))  # [K, N, K]
        draws = draws if draws is not None else ItemDraws.from_global(real.size(0))
        pick = draws.indices.to(real.device) % len(sets)
        return {"": (real, self.translate(real, target=sets[pick, torch.arange(real.size(0), device=real.device)]))}
