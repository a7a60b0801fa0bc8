"""GAN: Goodfellow et al. (2014), Generative Adversarial Nets."""

from __future__ import annotations

from typing import Any, Literal, Optional

import torch
from torch import Tensor, nn

from ganlit import losses
from ganlit.models.base import GANModule
from ganlit.models.inference import Inference
from ganlit.networks.dcgan import DCGANDiscriminator, DCGANGenerator
from ganlit.networks.mlp import MaxoutDiscriminator, MLPGenerator
from ganlit.utils.modes import evaluating


class GAN(GANModule):
    """Goodfellow et al. (2014): D maximises eq. 1, G minimises the non-saturating -log D(G(z)) (sec. 3).

    ``arch="dcgan"`` (default) uses DCGAN conv nets (Radford et al. 2016); ``arch="mlp"`` the paper's MLP G
    and maxout D. Batches are dicts with ``image`` in [-1, 1].

    Args:
        image_size, channels: image geometry (linked from the data module by the CLI).
        z_dim: noise dimension (100 in both papers).
        loss: adversarial loss on logits (``vanilla`` is the paper's).
        num_samples: images in the fixed sample grid.
        **kwargs: the :class:`GANModule` training arguments (learning rates, cadence, EMA, ...).

    Networks: :meth:`build_generator` and :meth:`build_discriminator` build ``generator`` and ``discriminator``
    (override one to try your own network; ``arch``, ``ngf``, ``ndf`` only reach the default ones).
    """

    paper = {"title": "Generative Adversarial Nets",
             "authors": "Ian J. Goodfellow, Jean Pouget-Abadie, Mehdi Mirza, Bing Xu, David Warde-Farley, "
                        "Sherjil Ozair, Aaron Courville, Yoshua Bengio",
             "year": "2014",
             "venue": "Advances in Neural Information Processing Systems (NeurIPS)",
             "url": "https://arxiv.org/abs/1406.2661",
             "key": "goodfellow2014gan"}

    conditional = False

    def __init__(
        self,
        image_size: int = 32,
        channels: int = 1,
        z_dim: int = 100,
        arch: Literal["dcgan", "mlp"] = "dcgan",
        ngf: int = 64,
        ndf: int = 64,
        loss: losses.GANMode = "vanilla",
        num_samples: int = 64,
        lr_g: float = 2e-4,
        lr_d: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        **kwargs: Any,
    ) -> None:
        super().__init__(lr_g=lr_g, lr_d=lr_d, betas=betas, **kwargs)
        self.z_dim, self.loss_mode, self.image_size, self.channels = z_dim, loss, image_size, channels
        self.arch, self.ngf, self.ndf = arch, ngf, ndf
        self.generator = self.build_generator()
        self.discriminator = self.build_discriminator()
        self.register_buffer("fixed_z", torch.randn(num_samples, z_dim, generator=torch.Generator().manual_seed(0)))

    # --------------------------------------------------------------- networks (override to change one)
    def build_generator(self) -> nn.Module:
        """G: noise ``[N, z_dim]`` -> images ``[N, channels, image_size, image_size]`` in [-1, 1] (DCGAN's or the
        paper's MLP, by ``arch``)."""
        if self.arch == "dcgan":
            return DCGANGenerator(self.z_dim, self.image_size, self.channels, self.ngf)
        if self.arch == "mlp":
            return MLPGenerator(self.z_dim, image_size=self.image_size, channels=self.channels)
        raise ValueError(f"arch={self.arch!r}: expected 'dcgan' or 'mlp'")

    def build_discriminator(self) -> nn.Module:
        """D: images -> one logit per image (DCGAN's or the paper's maxout MLP, by ``arch``)."""
        if self.arch == "dcgan":
            return DCGANDiscriminator(self.image_size, self.channels, self.ndf)
        if self.arch == "mlp":
            return MaxoutDiscriminator(self.image_size, self.channels)
        raise ValueError(f"arch={self.arch!r}: expected 'dcgan' or 'mlp'")

    # --------------------------------------------------------------- generation
    def forward(self, z: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        return self.generator(z)

    def generate(self, z: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        """Images in [-1, 1] from noise (with the EMA generator when EMA is on)."""
        return self.sampling_nets()(z)

    def inference(self) -> Inference:
        """Samples ``G(z)``, z ~ N(0, 1) of ``z_dim``; ``sample`` and ``export`` come from the base."""
        return super().inference().replace(task="sample", z_dim=self.z_dim, channels=self.channels)

    # --------------------------------------------------------------- losses
    def forward_step(self, batch: dict) -> dict[str, Tensor]:
        real = batch["image"]
        z = torch.randn(real.size(0), self.z_dim, device=real.device, dtype=real.dtype)
        return {"fake": self.generator(z)}

    def discriminator_loss(self, batch: dict, out: dict[str, Tensor]):
        real_logit = self.discriminator(batch["image"])
        fake_logit = self.discriminator(out["fake"].detach())
        loss = losses.d_loss(self.loss_mode, real_logit, fake_logit)
        return loss, {"d_loss": loss, "d_real": real_logit.mean(), "d_fake": fake_logit.mean()}

    def generator_loss(self, batch: dict, out: dict[str, Tensor]):
        loss = losses.g_loss(self.loss_mode, self.discriminator(out["fake"]))
        return loss, {"g_loss": loss}

    def predict_images(self, batch: dict) -> dict[str, Tensor]:
        """``ganlit predict``: :meth:`sample` for a batch of :class:`ganlit.data.base.SampleDataset` (its ``seed`` and, for
        conditional models, ``label``); the noise of the batch is drawn from the seed of its first item, as
        ``ganlit sample`` draws a batch. A batch of real images gets as many samples, from a random draw."""
        seeds = batch.get("seed")
        n = len(seeds) if seeds is not None else batch["image"].size(0)
        labels = batch.get("label") if self.conditional else None
        images, _ = self.sample(n, labels, seed=int(seeds[0]) if seeds is not None else None)
        return {"": images}

    def sample_images(self):
        with evaluating(self.sampling_nets()), torch.no_grad():
            images = self.generate(self.fixed_z, None)
        return (images + 1) / 2, 8
