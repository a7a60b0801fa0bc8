"""Functional GAN losses. Every adversarial loss takes raw discriminator outputs (logits or critic scores).

Discriminator losses return the *sum* of the real and fake terms; the papers that halve it (pix2pix,
CycleGAN) say so in their module.
"""

from __future__ import annotations

from typing import Callable, Literal, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

GANMode = Literal["vanilla", "lsgan", "hinge", "wgan"]


def d_loss(mode: GANMode, real: Tensor, fake: Tensor) -> Tensor:
    """Discriminator loss on raw outputs for real and fake inputs.

    vanilla: BCE(real -> 1) + BCE(fake -> 0) on logits (Goodfellow et al. 2014, eq. 1);
    lsgan: MSE(real, 1) + MSE(fake, 0) (Mao et al. 2017); hinge: E[relu(1 - real)] + E[relu(1 + fake)];
    wgan: E[fake] - E[real] (Arjovsky et al. 2017).
    """
    if mode == "wgan":
        return fake.mean() - real.mean()
    real_term, fake_term = d_loss_terms(mode, real, fake)
    return real_term + fake_term


def d_loss_terms(mode: GANMode, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
    """The real and the fake term of :func:`d_loss`, separately (the official pix2pix/CycleGAN log both)."""
    if mode == "vanilla":
        return (F.binary_cross_entropy_with_logits(real, torch.ones_like(real)),
                F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
    if mode == "lsgan":
        return F.mse_loss(real, torch.ones_like(real)), F.mse_loss(fake, torch.zeros_like(fake))
    if mode == "hinge":
        return F.relu(1.0 - real).mean(), F.relu(1.0 + fake).mean()
    if mode == "wgan":
        return -real.mean(), fake.mean()
    raise ValueError(f"GAN loss mode {mode!r}: expected vanilla, lsgan, hinge or wgan")


def g_loss(mode: GANMode, fake: Tensor) -> Tensor:
    """Generator loss on the discriminator's raw output for fakes.

    vanilla is the non-saturating loss BCE(fake -> 1) (Goodfellow et al. 2014, sec. 3); lsgan MSE(fake, 1);
    hinge and wgan: -E[fake].
    """
    if mode == "vanilla":
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
    if mode == "lsgan":
        return F.mse_loss(fake, torch.ones_like(fake))
    if mode in ("hinge", "wgan"):
        return -fake.mean()
    raise ValueError(f"GAN loss mode {mode!r}: expected vanilla, lsgan, hinge or wgan")


def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    target: float = 1.0,
    alpha: Optional[Tensor] = None,
) -> Tensor:
    """WGAN-GP penalty E[(||grad_x critic(x_hat)||_2 - target)^2] (Gulrajani et al. 2017, eq. 3).

    ``x_hat = alpha * real + (1 - alpha) * fake`` with one alpha per sample: the given ``alpha``
    (broadcastable to ``real``, e.g. ``[N, 1, 1, 1]``), else drawn ~ U(0, 1) as ``torch.rand(N, 1, 1, 1)``.
    ``critic`` returns the score to differentiate (for StarGAN, only the real/fake head).
    """
    if alpha is None:
        alpha = torch.rand(real.size(0), *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    return penalty_at(critic, x_hat, target)


def penalty_at(critic: Callable[[Tensor], Tensor], x_hat: Tensor, target: float = 1.0) -> Tensor:
    """(||grad critic(x_hat)||_2 - target)^2 averaged over the batch, at the given points."""
    out = critic(x_hat)
    (grad,) = torch.autograd.grad(out, x_hat, torch.ones_like(out), create_graph=True)
    # sqrt of the summed squares rather than Tensor.norm: the official StarGAN's arithmetic, bit for bit.
    norm = torch.sqrt(torch.sum(grad.flatten(1) ** 2, dim=1))
    return ((norm - target) ** 2).mean()


def feature_matching(real_features: Sequence[Tensor], fake_features: Sequence[Tensor]) -> Tensor:
    """Sum over layers of the squared difference of batch-mean features (DiscoGAN's official feature loss)."""
    total = real_features[0].new_zeros(())
    for real, fake in zip(real_features, fake_features):
        total = total + ((real.mean(0) - fake.mean(0)) ** 2).mean()
    return total
