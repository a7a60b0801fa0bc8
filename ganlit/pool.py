"""The history of generated images that CycleGAN's discriminators learn from."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


class ImagePool:
    """Shrivastava et al. (2017), sec. 2.3, as CycleGAN uses it (Zhu et al., 2017, sec. 4): D is updated
    with a history of generated images rather than only the latest ones, which damps oscillation.

    ``query(images)`` works per image: while fewer than ``pool_size`` images are stored, each one is
    stored and returned; once full, each one is, with probability 1/2, swapped for a random stored
    image (the stored one is returned and the new one takes its place), else returned itself.
    ``pool_size=0`` returns the input unchanged.

    The coin flips and slots come from torch's global RNG, which ``GANModule`` saves in its checkpoints,
    restores on resume and gives each DDP rank its own stream of; :meth:`state_dict` holds the images, so
    a resumed run continues with the same history and the same draws.
    """

    def __init__(self, pool_size: int = 50) -> None:
        if pool_size < 0:
            raise ValueError(f"ImagePool: pool_size={pool_size}: expected 0 (no pool) or a positive size")
        self.pool_size = pool_size
        self.images: list[Tensor] = []

    def __len__(self) -> int:
        return len(self.images)

    @torch.no_grad()
    def query(self, images: Tensor) -> Tensor:
        """A batch of the same shape: the new images, some swapped for older ones (detached)."""
        images = images.detach()
        if self.pool_size == 0:
            return images
        out = []
        for image in images:
            # Clone: a view would keep the whole batch (and its device memory) alive in the pool.
            image = image.clone()
            if len(self.images) < self.pool_size:
                self.images.append(image)
                out.append(image)
            elif torch.rand(()).item() < 0.5:
                k = int(torch.randint(self.pool_size, ()))
                old = self.images[k].to(device=image.device, dtype=image.dtype)
                self.images[k] = image
                out.append(old)
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict[str, Any]:
        """The pool size and the stored images (stacked, on the CPU)."""
        stacked = torch.stack([im.cpu() for im in self.images]) if self.images else torch.empty(0)
        return {"pool_size": self.pool_size, "images": stacked}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        missing = {"pool_size", "images"} - set(state)
        if missing:
            raise KeyError(f"ImagePool.load_state_dict: missing {sorted(missing)}; expected what state_dict() wrote")
        if int(state["pool_size"]) != self.pool_size:
            raise ValueError(
                f"ImagePool: the saved pool holds up to {state['pool_size']} images, this one {self.pool_size}; "
                "build the model with the pool_size it was trained with"
            )
        self.images = list(state["images"].unbind(0)) if state["images"].numel() else []
