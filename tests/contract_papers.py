"""Papers written as a researcher writes one in a file of their own, for tests/test_contract.py: each states its
losses and, where it differs from the defaults, what it does at inference (ganlit.models.inference)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganlit import losses
from ganlit.models import GANModule, Pix2Pix


class OneSidedTranslator(GANModule):
    """A one-sided unpaired translator G: A -> B judged by D_B with the least-squares loss (Mao et al. 2017, eq. 9),
    plus an identity term ||G(b) - b||_1. It states nothing about inference: the defaults translate A to B with
    ``self.generator`` in eval mode (running BatchNorm statistics), export it, and evaluate A -> B."""

    def __init__(self, channels: int = 3, width: int = 8, lambda_identity: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.channels, self.lambda_identity = channels, lambda_identity
        self.generator = nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                                       nn.Conv2d(width, channels, 3, padding=1), nn.Tanh())
        self.discriminator = nn.Sequential(nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2),
                                           nn.Conv2d(width, 1, 3, 1, 1))

    def forward_step(self, batch: dict) -> dict:
        return {"fake": self.generator(batch["A"])}

    def discriminator_loss(self, batch: dict, out: dict):
        loss = losses.d_loss("lsgan", self.discriminator(batch["B"]), self.discriminator(out["fake"].detach()))
        return loss, {"d_loss": loss}

    def generator_loss(self, batch: dict, out: dict):
        adversarial = losses.g_loss("lsgan", self.discriminator(out["fake"]))
        loss = adversarial + self.lambda_identity * F.l1_loss(self.generator(batch["B"]), batch["B"])
        return loss, {"g_loss": loss}


class MLPSampler(GANModule):
    """Goodfellow et al. (2014), eq. 1 with the non-saturating G loss, on two small MLPs in ``nn.Sequential``. It
    states one thing about inference, that it samples from ``z_dim``-dimensional noise; sample, export, evaluate
    and the demo's sample grid come from the defaults."""

    def __init__(self, image_size: int = 16, channels: int = 1, z_dim: int = 8, width: int = 32, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.image_size, self.channels, self.z_dim = image_size, channels, z_dim
        pixels = channels * image_size * image_size
        self.generator = nn.Sequential(nn.Linear(z_dim, width), nn.ReLU(), nn.Linear(width, pixels), nn.Tanh(),
                                       nn.Unflatten(1, (channels, image_size, image_size)))
        self.discriminator = nn.Sequential(nn.Flatten(), nn.Linear(pixels, width), nn.LeakyReLU(0.2), nn.Linear(width, 1))

    def inference(self):
        return super().inference().replace(task="sample", z_dim=self.z_dim)

    def forward_step(self, batch: dict) -> dict:
        real = batch["image"]
        return {"fake": self.generator(torch.randn(real.size(0), self.z_dim, device=real.device))}

    def discriminator_loss(self, batch: dict, out: dict):
        loss = losses.d_loss("vanilla", self.discriminator(batch["image"]), self.discriminator(out["fake"].detach()))
        return loss, {"d_loss": loss}

    def generator_loss(self, batch: dict, out: dict):
        loss = losses.g_loss("vanilla", self.discriminator(out["fake"]))
        return loss, {"g_loss": loss}


class CUTLikePix2Pix(Pix2Pix):
    """pix2pix with an identity term ||G(B) - B||_1 added to G's loss, whose generator runs in eval mode at test
    time, as CUT's (Park et al. 2020) does: running BatchNorm statistics and no dropout. It declares that one
    difference; its translate and its export follow the declaration."""

    def inference(self):
        return super().inference().replace(mode="eval", options=())

    def generator_loss(self, batch: dict, out: dict):
        loss, logs = super().generator_loss(batch, out)
        identity = F.l1_loss(self.generator(batch["B"]), batch["B"])
        return loss + identity, {**logs, "g_identity": identity}


class UndeclaredEvalPix2Pix(Pix2Pix):
    """pix2pix whose translate always runs in eval mode without declaring it: export must refuse to describe it as
    pix2pix's training-mode test."""

    def translate(self, x, direction="AtoB", eval_mode=False):
        return super().translate(x, direction, eval_mode=True)
