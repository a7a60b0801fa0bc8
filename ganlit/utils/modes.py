"""The one eval-mode context: run networks in eval mode for a block and give each its own mode back afterwards."""

from __future__ import annotations

import contextlib
from typing import Iterator

from torch import nn

__all__ = ["evaluating"]


@contextlib.contextmanager
def evaluating(*nets: nn.Module) -> Iterator[None]:
    """``net.eval()`` for each of ``nets`` inside the block; each is restored to the mode it had, even on error."""
    modes = [(net, net.training) for net in nets]
    for net in nets:
        net.eval()
    try:
        yield
    finally:
        for net, was_training in modes:
            net.train(was_training)
