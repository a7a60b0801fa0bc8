"""Conditional GAN: Mirza & Osindero (2014), Conditional Generative Adversarial Nets."""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor, nn

from ganlit import losses
from ganlit.models.gan import GAN
from ganlit.models.inference import ImageNetwork, Inference, Input, class_labels
from ganlit.networks.dcgan import DCGANDiscriminator, DCGANGenerator
from ganlit.networks.mlp import ConditionalMaxoutDiscriminator, ConditionalMLPGenerator
from ganlit.utils.modes import evaluating


class CGAN(GAN):
    """Mirza & Osindero (2014), eq. 2: G and D both see the class label y; min_G max_D V(D, G | y).

    ``arch="dcgan"`` conditions DCGAN nets (one-hot y joined to z; tiled as channels for D);
    ``arch="mlp"`` builds the paper's MLP G and maxout D. Batches carry ``image`` and ``label``.
    """

    paper = {"title": "Conditional Generative Adversarial Nets",
             "authors": "Mehdi Mirza, Simon Osindero",
             "year": "2014",
             "venue": "arXiv preprint arXiv:1411.1784",
             "url": "https://arxiv.org/abs/1411.1784",
             "key": "mirza2014cgan"}

    conditional = True

    def __init__(self, num_classes: int = 10, *args: Any, **kwargs: Any) -> None:
        self.num_classes = num_classes
        super().__init__(*args, **kwargs)
        n = self.fixed_z.size(0)
        self.register_buffer("fixed_labels", torch.arange(n) % num_classes)

    def build_generator(self) -> nn.Module:
        """G(z, labels): noise ``[N, z_dim]`` and classes ``[N]`` -> images in [-1, 1]."""
        if self.arch == "dcgan":
            return DCGANGenerator(self.z_dim, self.image_size, self.channels, self.ngf, num_classes=self.num_classes)
        if self.arch == "mlp":
            return ConditionalMLPGenerator(self.num_classes, self.z_dim, self.image_size, self.channels)
        raise ValueError(f"arch={self.arch!r}: expected 'dcgan' or 'mlp'")

    def build_discriminator(self) -> nn.Module:
        """D(images, labels): one logit per image."""
        if self.arch == "dcgan":
            return DCGANDiscriminator(self.image_size, self.channels, self.ndf, num_classes=self.num_classes)
        if self.arch == "mlp":
            return ConditionalMaxoutDiscriminator(self.num_classes, self.image_size, self.channels)
        raise ValueError(f"arch={self.arch!r}: expected 'dcgan' or 'mlp'")

    def forward(self, z: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        return self.generator(z, self._labels(labels, z.size(0), z.device))

    def generate(self, z: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        return self.sampling_nets()(z, self._labels(labels, z.size(0), z.device))

    def _labels(self, labels: Optional[Tensor], n: int, device) -> Tensor:
        return class_labels(labels, n, self.num_classes, device)

    def inference(self) -> Inference:
        """Samples ``G(z, y)`` for the classes ``0 .. num_classes - 1``."""
        return super().inference().replace(classes=tuple(str(k) for k in range(self.num_classes)))

    def image_networks(self) -> list[ImageNetwork]:
        """D judges an image together with its class label."""
        inputs = (Input("x", "image", self.channels), Input("labels", "labels", self.num_classes))
        return [ImageNetwork("discriminator", self.discriminator, False, inputs)]

    def forward_step(self, batch: dict) -> dict[str, Tensor]:
        real, labels = batch["image"], batch["label"]
        z = torch.randn(real.size(0), self.z_dim, device=real.device, dtype=real.dtype)
        return {"fake": self.generator(z, labels)}

    def discriminator_loss(self, batch: dict, out: dict[str, Tensor]):
        labels = batch["label"]
        real_logit = self.discriminator(batch["image"], labels)
        fake_logit = self.discriminator(out["fake"].detach(), labels)
        loss = losses.d_loss(self.loss_mode, real_logit, fake_logit)
        return loss, {"d_loss": loss, "d_real": real_logit.mean(), "d_fake": fake_logit.mean()}

    def generator_loss(self, batch: dict, out: dict[str, Tensor]):
        loss = losses.g_loss(self.loss_mode, self.discriminator(out["fake"], batch["label"]))
        return loss, {"g_loss": loss}

    def sample_images(self):
        with evaluating(self.sampling_nets()), torch.no_grad():
            images = self.generate(self.fixed_z, self.fixed_labels)
        return (images + 1) / 2, self.num_classes
