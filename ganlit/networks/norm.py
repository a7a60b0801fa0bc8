"""Normalisation layers by name, as the pix2pix/CycleGAN code selects them."""

from __future__ import annotations

from typing import Callable, Literal

from torch import nn

Norm = Literal["batch", "instance", "none"]


class Identity(nn.Module):
    def forward(self, x):  # noqa: D102
        return x


def get_norm_layer(norm: Norm = "instance") -> Callable[[int], nn.Module]:
    """Return a constructor ``f(num_features) -> nn.Module``.

    ``batch``: BatchNorm2d with affine parameters and running statistics; ``instance``: InstanceNorm2d
    without affine parameters or running statistics; ``none``: identity.
    """
    if norm == "batch":
        return lambda c: nn.BatchNorm2d(c, affine=True, track_running_stats=True)
    if norm == "instance":
        return lambda c: nn.InstanceNorm2d(c, affine=False, track_running_stats=False)
    if norm == "none":
        return lambda c: Identity()
    raise ValueError(f"norm={norm!r}: expected 'batch', 'instance' or 'none'")


def uses_bias(norm: Norm) -> bool:
    """Convs carry a bias exactly when the norm is InstanceNorm (the official pix2pix/CycleGAN rule,
    which also leaves the convs bias-free with ``norm="none"``)."""
    return norm == "instance"
