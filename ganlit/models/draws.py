"""Random draws keyed by item: what makes FID/KID/IS independent of how many processes generated the images.

The metrics judge a set of generated images. When each process draws its share from its own stream, the set (and so
every number) depends on the number of processes and on how the items fell into batches. Here item ``i`` of an
evaluation draws from a stream seeded by ``(seed, i)`` alone: one process or eight, batch size 1 or 64, the same
images come out. :func:`ganlit.metrics.evaluate_model` gives a model's ``evaluation_images`` an :class:`ItemDraws`
for the global indices of the batch's items.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ["DATA_STREAM", "MODEL_STREAM", "ItemDraws", "item_seed", "seeded_globally"]

MODEL_STREAM = 0  # the model's draws for an item (noise, dropout)
DATA_STREAM = 1  # the dataset's draws for an item (a reference, a partner image, attributes drawn at random)


def item_seed(seed: int, index: int, stream: int = MODEL_STREAM) -> int:
    """A 63-bit seed that depends on ``(seed, stream, index)`` only (numpy's SeedSequence mixes them)."""
    state = np.random.SeedSequence([seed % 2**64, stream, index]).generate_state(1, np.uint64)[0]
    return int(state) >> 1


@contextlib.contextmanager
def seeded_globally(seed: int, devices: Sequence[torch.device] = ()) -> Iterator[None]:
    """torch's global RNG (CPU and the given CUDA devices) seeded with ``seed`` inside the block, restored after."""
    with torch.random.fork_rng(devices=[d for d in devices if d.type == "cuda"]):
        torch.manual_seed(seed)
        yield


class ItemDraws:
    """The random draws of a batch, one stream per item: item ``k`` draws from ``item_seed(seed, indices[k])``.

    Args:
        seed: the evaluation's seed.
        indices: the global index of each item of the batch (the index of the generated image in the
            evaluation, the same whichever process generates it).

    A model draws its noise with :meth:`randn` / :meth:`rand` / :meth:`randint` (item ``k``'s rows come from its
    own generator, on the CPU, so a GPU run draws the same numbers), and runs a network whose randomness is inside
    (dropout kept on at test time) through :meth:`each`. :attr:`indices` serves choices that cycle by item
    (StarGAN's target attributes).
    """

    def __init__(self, seed: int, indices: Sequence[int]) -> None:
        self.seed = int(seed)
        self.indices = torch.as_tensor(list(indices), dtype=torch.long)
        self._seeds = [item_seed(self.seed, int(i)) for i in self.indices]

    @classmethod
    def from_global(cls, n: int) -> "ItemDraws":
        """Draws for ``n`` items (indices 0..n-1) with a seed taken from torch's global RNG: what a model uses when it is
        called without draws (``ganlit predict`` seeds the global RNG per batch, so its images are reproducible)."""
        return cls(int(torch.randint(2**62, (1,))), range(n))

    def __len__(self) -> int:
        return len(self._seeds)

    def generator(self, k: int) -> torch.Generator:
        """A CPU generator seeded for item ``k`` of the batch (a new one on each call: same seed, same draws)."""
        return torch.Generator().manual_seed(self._seeds[k])

    def _stack(self, draw: Callable[[torch.Generator], Tensor], device: Optional[torch.device],
               dtype: Optional[torch.dtype]) -> Tensor:
        rows = torch.stack([draw(self.generator(k)) for k in range(len(self))])
        return rows.to(device=device, dtype=dtype if dtype is not None else rows.dtype)

    def randn(self, *shape: int, device: Optional[torch.device] = None, dtype: Optional[torch.dtype] = None) -> Tensor:
        """Standard normal ``[len(self), *shape]``: row ``k`` from item ``k``'s stream."""
        return self._stack(lambda g: torch.randn(shape, generator=g), device, dtype)

    def rand(self, *shape: int, device: Optional[torch.device] = None, dtype: Optional[torch.dtype] = None) -> Tensor:
        """Uniform on [0, 1) ``[len(self), *shape]``: row ``k`` from item ``k``'s stream."""
        return self._stack(lambda g: torch.rand(shape, generator=g), device, dtype)

    def randint(self, high: int, *shape: int, device: Optional[torch.device] = None) -> Tensor:
        """Integers in [0, high) ``[len(self), *shape]``: row ``k`` from item ``k``'s stream."""
        return self._stack(lambda g: torch.randint(high, shape, generator=g), device, None)

    def each(self, fn: Callable[..., Tensor], *inputs: Tensor) -> Tensor:
        """``fn`` on each item alone (``inputs`` sliced to one row), torch's global RNG seeded for that item, the
        results concatenated: randomness inside ``fn`` (dropout) is the item's own, and so is any statistic ``fn``
        takes over its batch (BatchNorm in training mode sees that one image, as the official pix2pix test)."""
        devices = sorted({t.device for t in inputs if t.device.type == "cuda"}, key=str)
        outs = []
        for k in range(len(self)):
            with seeded_globally(self._seeds[k], devices):
                outs.append(fn(*(t[k:k + 1] for t in inputs)))
        return torch.cat(outs)
