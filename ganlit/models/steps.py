"""What ``GANModule`` does outside training: the validation/test steps (``ganlit validate`` / ``ganlit test``) and the
predict step (``ganlit predict``).

* ``validation_step`` / ``test_step`` log the terms of both phases' training losses on the held-out batch, with no
  update, under ``val/<term>`` / ``test/<term>`` (epoch means). The paper's evaluation (FID/KID/IS) is not computed
  here: :class:`ganlit.metrics.Evaluation` computes it at the end of the loop, with the protocol it uses during fit.
* ``predict_step`` returns :meth:`predict_images` of the batch: per output name (``""`` for one output, e.g.
  ``"AtoB"`` / ``"BtoA"``) the images in [-1, 1]; :class:`ganlit.callbacks.PredictionWriter` saves them as PNGs.

A paper overrides :meth:`evaluation_losses` or :meth:`predict_images` only where the defaults do not fit it.
Both steps run with the global RNG forked and seeded with the batch index, so their draws (noise, target labels,
dropout) are the same on every run and the training streams are left as they were.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch
from lightning.fabric.utilities.apply_func import apply_to_collection
from torch import Tensor



@contextlib.contextmanager
def seeded(device: torch.device, seed: int) -> Iterator[None]:
    """The global torch RNG (CPU and this CUDA device) seeded with ``seed`` inside the block, restored after."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


class EvaluationSteps:
    """The validation, test and predict steps of :class:`ganlit.models.base.GANModule` (mixed into it; see the module docstring).

    ``validate_during_fit``: whether ``fit`` runs the validation loop too. Off: the papers' training loops have no
    validation pass (their metrics run in the Evaluation callback), and one would draw from the training RNG streams
    between epochs. A subclass sets it to True to get Lightning's usual validation during fit.
    """

    validate_during_fit: bool = False

    # ----------------------------------------------------------------- what a paper states or may override
    def evaluation_losses(self, batch: Any) -> dict[str, Tensor]:
        """The logged terms of the D and G losses on a held-out ``batch``, no update.

        The fakes come without gradients; D's loss is computed with gradients enabled, as a gradient penalty
        (StarGAN's WGAN-GP) differentiates D at interpolates, even inside Lightning's inference mode.
        """
        with torch.inference_mode(False):
            batch = apply_to_collection(batch, Tensor, lambda t: t.clone())  # inference tensors cannot enter autograd
            with torch.no_grad():
                out = self.forward_step(batch)
            with torch.enable_grad():
                _, d_logs = self.discriminator_loss(batch, out)
            with torch.no_grad():
                _, g_logs = self.generator_loss(batch, out)
        return {k: v.detach() if torch.is_tensor(v) else v for k, v in {**d_logs, **g_logs}.items()}

    def predict_images(self, batch: Any) -> dict[str, Tensor]:
        """Per output name, the model's images for ``batch`` in [-1, 1]: by default the generated half of
        :meth:`evaluation_images` (the translations, by the model's own ``translate``, that the metrics judge); a
        batch of a folder of images (:class:`ganlit.data.folder.ImageFolderDataModule`: ``image``, ``path``) goes through
        ``translate(image)`` in its default direction, as ``ganlit translate`` does."""
        if isinstance(batch, dict) and "image" in batch and set(batch) <= {"image", "path"}:
            return {"": self.translate(batch["image"])}
        return {direction: fake for direction, (_real, fake) in self.evaluation_images(batch).items()}

    # ----------------------------------------------------------------- Lightning's steps
    def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._log_evaluation_losses(batch, batch_idx, "val")

    def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._log_evaluation_losses(batch, batch_idx, "test")

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Tensor]:
        with seeded(self.device, batch_idx):
            return {k: v.detach() for k, v in self.predict_images(batch).items()}

    def _log_evaluation_losses(self, batch: Any, batch_idx: int, split: str) -> None:
        with seeded(self.device, batch_idx):
            logs = self.evaluation_losses(batch)
        sizes = [v.size(0) for v in (batch.values() if isinstance(batch, dict) else [batch]) if torch.is_tensor(v)]
        multi = self._trainer is not None and self.trainer.world_size > 1
        self.log_dict({f"{split}/{k}": v for k, v in logs.items()}, on_step=False, on_epoch=True,
                      batch_size=sizes[0] if sizes else None, sync_dist=multi)

    # ----------------------------------------------------------------- no validation loop in fit (see the class)
    def _hide_validation_in_fit(self) -> None:
        trainer = self.trainer
        if not self.validate_during_fit and trainer.limit_val_batches != 0:
            self._limit_val_batches = trainer.limit_val_batches
            trainer.limit_val_batches = 0

    def teardown(self, stage: str) -> None:
        if stage == "fit" and getattr(self, "_limit_val_batches", None) is not None and self._trainer is not None:
            self.trainer.limit_val_batches = self._limit_val_batches  # a later trainer.validate() sees all batches
            self._limit_val_batches = None
