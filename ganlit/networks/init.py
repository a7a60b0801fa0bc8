"""Weight initialisation used by the pix2pix/CycleGAN family (and DCGAN)."""

from __future__ import annotations

from typing import Literal

from torch import nn


def init_weights(
    module: nn.Module,
    init_type: Literal["normal", "xavier", "kaiming", "orthogonal"] = "normal",
    gain: float = 0.02,
) -> nn.Module:
    """Initialise conv/linear weights (``N(0, gain)`` by default), biases to 0, BatchNorm weight ``N(1, gain)``.

    Matches ``init_weights`` of the official pix2pix/CycleGAN code. Returns ``module`` for chaining.
    """

    def init_fn(m: nn.Module) -> None:
        name = type(m).__name__
        if hasattr(m, "weight") and m.weight is not None and ("Conv" in name or "Linear" in name):
            if init_type == "normal":
                nn.init.normal_(m.weight, 0.0, gain)
            elif init_type == "xavier":
                nn.init.xavier_normal_(m.weight, gain=gain)
            elif init_type == "kaiming":
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            elif init_type == "orthogonal":
                nn.init.orthogonal_(m.weight, gain=gain)
            else:
                raise ValueError(f"init_type={init_type!r}: expected normal, xavier, kaiming or orthogonal")
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif "BatchNorm2d" in name and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)

    module.apply(init_fn)
    return module
