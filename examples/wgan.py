"""WGAN, Arjovsky, Chintala & Bottou (2017), "Wasserstein GAN", written on ``ganlit.GANModule`` in a file of one's own.

The base module runs the loop (cadence, checkpoints, resume, sample grids, EMA); this file states the paper: its
networks, its losses, its optimizer, its weight clipping, and that it samples from noise. Train it on the digits
world from this folder:

    ganlit fit --config wgan.yaml
"""

from typing import Any

import torch
from torch import Tensor

import ganlit
from ganlit.models.inference import Inference
from ganlit.networks.dcgan import DCGANDiscriminator, DCGANGenerator


class WGAN(ganlit.GANModule):
    """Arjovsky et al. (2017), Algorithm 1: the critic f maximises E[f(x)] - E[f(G(z))] (eq. 3) for ``n_critic``
    steps per generator step, its weights clipped to [-clip, clip] after every step; the generator minimises
    -E[f(G(z))]. RMSProp for both, lr 5e-5, clip 0.01, n_critic 5; DCGAN networks, the critic without a sigmoid.

    Args:
        image_size: image side (a power of 2, at least 16); channels: image channels.
        z_dim: noise dimension. ngf, ndf: widths of the generator and of the critic.
        clip: the critic's weights stay in [-clip, clip].
        **kwargs: the ``ganlit.GANModule`` training arguments (EMA, schedules, ...).
    """

    paper = {"title": "Wasserstein GAN", "authors": "Martin Arjovsky, Soumith Chintala, Léon Bottou",
             "year": "2017", "venue": "ICML", "url": "https://arxiv.org/abs/1701.07875", "key": "arjovsky2017wgan"}

    def __init__(self, image_size: int = 16, channels: int = 1, z_dim: int = 64, ngf: int = 32, ndf: int = 32,
                 clip: float = 0.01, lr_g: float = 5e-5, lr_d: float = 5e-5, n_critic: int = 5,
                 **kwargs: Any) -> None:
        super().__init__(lr_g=lr_g, lr_d=lr_d, n_critic=n_critic, **kwargs)
        self.image_size, self.channels, self.z_dim, self.clip = image_size, channels, z_dim, clip
        self.generator = DCGANGenerator(z_dim, image_size, channels, ngf)
        self.discriminator = DCGANDiscriminator(image_size, channels, ndf)  # the critic: a score per image

    def inference(self) -> Inference:
        """It samples from ``z_dim``-dimensional noise; the defaults give sample, evaluate, export and the demo."""
        return super().inference().replace(task="sample", z_dim=self.z_dim)

    # ------------------------------------------------------------------ where WGAN differs from the GAN loop
    def build_optimizer(self, phase: str, params: Any) -> torch.optim.Optimizer:
        """RMSProp: the paper found momentum-based optimizers unstable for the critic."""
        return torch.optim.RMSprop([p for p in params if p.requires_grad], lr=self.lr_g if phase == "G" else self.lr_d)

    def on_after_optimizer_step(self, phase: str, optimizer: torch.optim.Optimizer) -> None:
        if phase == "D":  # keeps f K-Lipschitz for some K
            for p in self.discriminator.parameters():
                p.clamp_(-self.clip, self.clip)

    # ------------------------------------------------------------------ losses
    def forward_step(self, batch: dict) -> dict[str, Tensor]:
        real = batch["image"]
        return {"fake": self.generator(torch.randn(real.size(0), self.z_dim, device=real.device))}

    def discriminator_loss(self, batch: dict, out: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        distance = self.discriminator(batch["image"]).mean() - self.discriminator(out["fake"].detach()).mean()
        return -distance, {"d_loss": -distance, "wasserstein": distance}

    def generator_loss(self, batch: dict, out: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        loss = -self.discriminator(out["fake"]).mean()
        return loss, {"g_loss": loss}

    def sample_images(self) -> tuple[Tensor, int]:
        """The sample grid of the run folder: the same 64 samples at every epoch (noise from seed 0, eval mode)."""
        images, _ = self.sample(64, seed=0)
        return (images.clamp(-1, 1) + 1) / 2, 8
