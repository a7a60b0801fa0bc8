"""How long a fit trains, in the module's iterations: the ``max_iterations`` limit and the progress bar of ``ganlit fit``.

Lightning's ``max_steps`` counts optimizer steps, and a GAN iteration takes one per phase (D then G: 2; StarGAN's
five D iterations and one G: 6 steps per 5 iterations). Its progress bar then counts against the wrong total, and
with no epoch limit (``max_epochs: -1``) reads ``Epoch 0/-2``. Here the limit and the bar speak iterations: the
module's ``iteration`` counter, one per batch, the one its schedules, samples and evaluations follow.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import lightning as L
from lightning.pytorch.callbacks import RichProgressBar, TQDMProgressBar
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.imports import _RICH_AVAILABLE

__all__ = ["IterationLimit", "IterationRichProgressBar", "IterationTQDMProgressBar", "iteration_limit",
           "progress_bar"]

_SCAN_LIMIT = 10_000_000  # iterations walked to turn max_steps into an iteration count (StarGAN's run: 200,000)


class IterationLimit(L.Callback):
    """Stop a fit once the module's ``iteration`` counter reaches ``max_iterations`` (``ganlit fit --max_iterations N``).

    Whichever limit comes first stops the fit, as with Lightning's ``max_epochs`` and ``max_steps``; a run resumed
    at or past the limit stops before its first step.
    """

    def __init__(self, max_iterations: int) -> None:
        if not isinstance(max_iterations, int) or isinstance(max_iterations, bool) or max_iterations < 1:
            raise ValueError(f"max_iterations={max_iterations!r}: expected an integer >= 1 (or null: no limit)")
        self.max_iterations = max_iterations

    def _check(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        iteration = int(getattr(pl_module, "iteration", 0))
        if iteration >= self.max_iterations and not trainer.should_stop:
            trainer.should_stop = True
            rank_zero_info(f"ganlit: max_iterations={self.max_iterations} reached (iteration {iteration})")

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._check(trainer, pl_module)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self._check(trainer, pl_module)


def iteration_limit(trainer: L.Trainer, pl_module: L.LightningModule) -> Optional[int]:
    """The iteration at which this fit stops by ``max_iterations`` or ``max_steps`` (the earlier), or None when only
    epochs limit it. ``max_steps`` is turned into iterations by walking the module's cadence (``phases_at``) from
    where the run stands: D then G is 2 optimizer steps per iteration, so ``max_steps: 4`` stops at iteration 2."""
    iteration = int(getattr(pl_module, "iteration", trainer.global_step))
    limits = [c.max_iterations for c in trainer.callbacks if isinstance(c, IterationLimit)]
    max_steps = trainer.max_steps
    phases_at = getattr(pl_module, "phases_at", None)
    if max_steps is not None and max_steps > 0:
        remaining, it = max_steps - trainer.global_step, iteration
        while remaining > 0 and it - iteration < _SCAN_LIMIT:
            remaining -= len(phases_at(it)) if phases_at is not None else 1
            it += 1
        limits.append(it)
    return min(limits) if limits else None


class _IterationDisplay:
    """What both bars change: the epoch bar's total stops at the iteration limit, and the bar shows the module's
    iteration (against the limit when there is one). The limit is worked out once per epoch."""

    _limit: Optional[int] = None
    _limit_epoch: Optional[int] = None

    def _iteration_limit(self) -> Optional[int]:
        trainer = self.trainer  # type: ignore[attr-defined]
        if self._limit_epoch != trainer.current_epoch:
            self._limit, self._limit_epoch = iteration_limit(trainer, trainer.lightning_module), trainer.current_epoch
        return self._limit

    @property
    def total_train_batches(self) -> Union[int, float]:
        trainer = self.trainer  # type: ignore[attr-defined]
        limit = self._iteration_limit()
        if limit is None:
            return trainer.num_training_batches
        done = int(getattr(trainer.lightning_module, "iteration", trainer.global_step))
        return min(trainer.num_training_batches, max(0, limit - done))

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Union[int, str, float]]:
        metrics = super().get_metrics(trainer, pl_module)  # type: ignore[misc]
        if hasattr(pl_module, "iteration"):
            limit, iteration = self._iteration_limit(), int(pl_module.iteration)
            metrics = {"iteration": f"{iteration}/{limit}" if limit is not None else str(iteration), **metrics}
        return metrics


class IterationRichProgressBar(_IterationDisplay, RichProgressBar):
    """Lightning's rich bar, in iterations; ``Epoch e/E`` only when epochs limit the fit (never ``Epoch 0/-2``)."""

    def _get_train_description(self, current_epoch: int) -> str:
        max_epochs = self.trainer.max_epochs
        description = f"Epoch {current_epoch}" + (f"/{max_epochs - 1}" if max_epochs not in (None, -1) else "")
        if len(self.validation_description) > len(description):
            description = f"{description:{len(self.validation_description)}}"  # as Lightning pads it
        return description


class IterationTQDMProgressBar(_IterationDisplay, TQDMProgressBar):
    """Lightning's tqdm bar, in iterations."""


def progress_bar() -> Union[IterationRichProgressBar, IterationTQDMProgressBar]:
    """The bar Lightning would choose (rich when installed, else tqdm), in iterations."""
    return IterationRichProgressBar() if _RICH_AVAILABLE else IterationTQDMProgressBar()
