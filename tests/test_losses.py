"""Adversarial losses and the gradient penalty on hand-computed values."""

import math

import pytest
import torch

from ganlit import losses


def sp(x: float) -> float:  # softplus: BCE-with-logits(x, 0) = softplus(x); BCE(x, 1) = softplus(-x)
    return math.log1p(math.exp(x))


REAL = torch.tensor([2.0, -1.0])
FAKE = torch.tensor([0.5, -3.0])


def test_vanilla_matches_hand_computed_bce():
    d = (sp(-2.0) + sp(1.0)) / 2 + (sp(0.5) + sp(-3.0)) / 2
    g = (sp(-0.5) + sp(3.0)) / 2
    assert losses.d_loss("vanilla", REAL, FAKE).item() == pytest.approx(d, rel=1e-6)
    assert losses.g_loss("vanilla", FAKE).item() == pytest.approx(g, rel=1e-6)


def test_lsgan():
    d = ((2 - 1) ** 2 + (-1 - 1) ** 2) / 2 + (0.5**2 + 3.0**2) / 2
    g = ((0.5 - 1) ** 2 + (-3 - 1) ** 2) / 2
    assert losses.d_loss("lsgan", REAL, FAKE).item() == pytest.approx(d)
    assert losses.g_loss("lsgan", FAKE).item() == pytest.approx(g)


def test_hinge():
    d = (max(0, 1 - 2) + max(0, 1 + 1)) / 2 + (max(0, 1 + 0.5) + max(0, 1 - 3)) / 2
    assert losses.d_loss("hinge", REAL, FAKE).item() == pytest.approx(d)
    assert losses.g_loss("hinge", FAKE).item() == pytest.approx(1.25)


def test_wgan():
    assert losses.d_loss("wgan", REAL, FAKE).item() == pytest.approx(-1.25 - 0.5)
    assert losses.g_loss("wgan", FAKE).item() == pytest.approx(1.25)


def test_unknown_mode_is_named():
    with pytest.raises(ValueError, match="'bce'"):
        losses.d_loss("bce", REAL, FAKE)


def test_gradient_penalty_of_a_linear_critic():
    # critic(x) = sum(w * x): its gradient is w everywhere, so the penalty is (||w|| - 1)^2 = (5 - 1)^2.
    w = torch.tensor([3.0, 4.0])
    critic = lambda x: (x * w).sum(1)  # noqa: E731
    real, fake = torch.randn(4, 2), torch.randn(4, 2)
    assert losses.gradient_penalty(critic, real, fake).item() == pytest.approx(16.0)


def test_gradient_penalty_at_hand_points():
    # critic(x) = ||x||^2 has gradient 2x: at x = (0.3, 0.4) the norm is 1.0 -> 0; at (3, 4) it is 10 -> 81.
    critic = lambda x: (x**2).sum(1)  # noqa: E731
    x = torch.tensor([[0.3, 0.4], [3.0, 4.0]], requires_grad=True)
    assert losses.penalty_at(critic, x).item() == pytest.approx((0.0 + 81.0) / 2)


def test_gradient_penalty_is_differentiable_wrt_critic():
    lin = torch.nn.Linear(3, 1)
    gp = losses.gradient_penalty(lambda x: lin(x), torch.randn(5, 3), torch.randn(5, 3))
    gp.backward()
    assert lin.weight.grad is not None and lin.weight.grad.abs().sum() > 0


def test_feature_matching_hand_case():
    real = [torch.tensor([[1.0, 2.0], [3.0, 4.0]])]  # batch mean (2, 3)
    fake = [torch.tensor([[0.0, 0.0], [2.0, 2.0]])]  # batch mean (1, 1)
    assert losses.feature_matching(real, fake).item() == pytest.approx((1.0 + 4.0) / 2)
