"""The Lightning callback that evaluates FID / KID / IS during training and logs them with their protocol."""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

import lightning as L
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch import nn
from torch.utils.data import Dataset

from ganlit.metrics.evaluation import Dist, EvalResult, describe_data, evaluate_model
from ganlit.metrics.features import FeatureNet, build_features
from ganlit.metrics.loggers import (define_wandb_summaries, hold_tensorboard_hparams, is_tensorboard,
                                    write_tensorboard_hparams)
from ganlit.weights import MissingWeightsError


class Evaluation(L.Callback):
    """FID / KID / IS during training (Heusel et al. 2017, eq. 6; Binkowski et al. 2018; Salimans et al. 2016).

    Every ``every_n_epochs`` epochs (or ``every_n_steps`` training iterations: the module's ``iteration``
    counter, one per batch) the model's ``evaluation_images`` over the ``split`` give real and generated
    images; their metrics are logged as ``val/fid``, ``val/kid_mean``, ``val/kid_std``, ``val/is_mean``,
    ``val/is_std`` (``val/digits_fid`` ... with ``features="digits"``), per direction for translation
    models (``val/fid_AtoB``) with ``val/fid`` their mean, so a ModelCheckpoint can monitor one key.

    ``ganlit validate`` / ``ganlit test`` (``trainer.validate`` / ``trainer.test``) evaluate once, at the end of their
    loop, with the same protocol (features, counts, seed) on the loop's own split: the data module's ``val_set``
    logged as ``val/...``, its ``test_set`` logged as ``test/...``; ``split`` only chooses the split of fit.

    Args:
        features: ``"inception"``, ``"digits"`` or an ``nn.Module`` (images in [-1, 1] -> features).
        every_n_epochs: evaluate at the end of every n-th epoch (0: never).
        every_n_steps: evaluate every n training iterations (0: never).
        num_samples: generated images for sampling models (default: as many as the split has).
        num_real: real images, the first ones of the split (default: all of it).
        split: ``val`` or ``test`` (the data module's ``val_set``/``test_set``).
        inception_weights: path of the Inception weights (default: ``$TORCH_HOME/hub/checkpoints``).
        on_missing_weights: ``raise`` stops training at setup with the clear message; ``warn`` disables the
            evaluation with a loud warning.
        batch_size, cache, seed, kid_subsets, kid_subset_size, is_splits: see :func:`evaluate_model`.
    """

    def __init__(
        self,
        features: Union[str, nn.Module] = "inception",
        every_n_epochs: int = 1,
        every_n_steps: int = 0,
        num_samples: Optional[int] = None,
        num_real: Optional[int] = None,
        split: Literal["val", "test"] = "val",
        inception_weights: Optional[str] = None,
        on_missing_weights: Literal["raise", "warn"] = "raise",
        batch_size: int = 64,
        cache: bool = True,
        seed: int = 0,
        kid_subsets: int = 100,
        kid_subset_size: int = 1000,
        is_splits: int = 10,
    ) -> None:
        super().__init__()
        if not isinstance(features, nn.Module) and features not in ("inception", "digits"):
            raise ValueError(f"features={features!r}: expected 'inception', 'digits' or an nn.Module")
        if on_missing_weights not in ("raise", "warn"):
            raise ValueError(f"on_missing_weights={on_missing_weights!r}: expected 'raise' or 'warn'")
        if split not in ("val", "test"):
            raise ValueError(f"split={split!r}: expected 'val' or 'test'")
        self.spec = features
        self.every_n_epochs, self.every_n_steps = every_n_epochs, every_n_steps
        self.num_samples, self.num_real, self.split = num_samples, num_real, split
        self.inception_weights, self.on_missing_weights = inception_weights, on_missing_weights
        self.options = dict(batch_size=batch_size, cache=cache, seed=seed, kid_subsets=kid_subsets,
                            kid_subset_size=kid_subset_size, is_splits=is_splits)
        self.features: Optional[FeatureNet] = None
        self.last: Optional[EvalResult] = None
        self._logged_protocol: Optional[dict[str, Any]] = None
        self._summarised: set[str] = set()  # the keys already given their W&B summary
        # Every evaluation of the fit (epoch, iteration, numbers, protocol), saved in the checkpoints: a model card
        # (ganlit pack) shows the best and the last of each number with the protocol they were measured under.
        self.history: list[dict[str, Any]] = []

    @property
    def state_key(self) -> str:
        spec = self.spec if isinstance(self.spec, str) else type(self.spec).__qualname__
        return self._generate_state_key(features=spec, split=self.split)

    def state_dict(self) -> dict[str, Any]:
        return {"history": [dict(h) for h in self.history]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict.get("history", []))

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage not in ("fit", "validate", "test") or self.features is not None:
            return
        if trainer.fast_dev_run:
            rank_zero_info("ganlit.metrics: evaluation skipped under fast_dev_run")
            return
        try:
            self.features = build_features(self.spec, self.inception_weights)
        except MissingWeightsError as err:
            if self.on_missing_weights == "raise":
                raise
            rank_zero_warn(f"ganlit.metrics: EVALUATION DISABLED, no FID/KID/IS will be logged. {err}")

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.features is not None:
            hold_tensorboard_hparams(trainer.loggers)  # the protocol goes into TensorBoard's one HParams summary

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.every_n_epochs and (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self.run(trainer, pl_module, on_step=False)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        it = int(getattr(pl_module, "iteration", trainer.global_step))
        if self.every_n_steps and it % self.every_n_steps == 0:
            self.run(trainer, pl_module, on_step=True)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == TrainerFn.VALIDATING:  # in fit, the epoch/step hooks above evaluate
            self.run(trainer, pl_module, split="val", prefix="val")

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.run(trainer, pl_module, split="test", prefix="test")

    def _dataset(self, trainer: L.Trainer, wanted_split: str) -> tuple[Dataset, str, dict[str, Any]]:
        dm = trainer.datamodule
        if dm is None:
            raise RuntimeError("ganlit.metrics.Evaluation needs a data module (trainer.fit(model, datamodule=...))")
        wanted = f"{wanted_split}_set"
        if getattr(dm, wanted, None) is None:
            dm.setup("validate" if wanted_split == "val" else "test")
        dataset, split = getattr(dm, wanted, None), wanted_split
        if wanted_split == "val" and (dataset is None or dataset is getattr(dm, "test_set", None)):
            dataset, split = dm.test_set, "test"  # say which split really served
        if dataset is None:
            raise RuntimeError(f"{type(dm).__name__} has no {wanted_split} split to evaluate on")
        return dataset, split, describe_data(dm)

    def run(self, trainer: L.Trainer, pl_module: L.LightningModule, on_step: bool = False,
            split: Optional[str] = None, prefix: str = "val") -> Optional[EvalResult]:
        """Evaluate now on ``split`` (default: the configured one) and log the numbers as ``<prefix>/<metric>``
        (every rank takes part; see the class docstring)."""
        if self.features is None or trainer.sanity_checking:
            return None
        dataset, split, data_key = self._dataset(trainer, split or self.split)
        result = evaluate_model(pl_module, dataset, self.features, split=split, data_key=data_key,
                                num_samples=self.num_samples, num_real=self.num_real, device=pl_module.device,
                                dist=Dist.from_trainer(trainer), **self.options)
        self.last = result
        self.history.append({"epoch": int(trainer.current_epoch),
                             "iteration": int(getattr(pl_module, "iteration", trainer.global_step)),
                             "metrics": {k: float(v) for k, v in result.metrics.items()},
                             "protocol": _plain(result.protocol)})
        if trainer.is_global_zero:
            new = [k for k in result.metrics if k not in self._summarised]
            self._summarised.update(new)
            define_wandb_summaries(trainer.loggers, new, self.features.prefix)
        for key, value in result.metrics.items():
            pl_module.log(f"{prefix}/{key}", value, on_step=on_step, on_epoch=not on_step,
                          sync_dist=trainer.world_size > 1, prog_bar=key == f"{self.features.prefix}fid")
        self._log_protocol(trainer, result.protocol, list(result.metrics))
        shown = "  ".join(f"{k} {v:.4g}" for k, v in result.metrics.items() if not k.endswith("_std"))
        rank_zero_info(f"ganlit.metrics: {split} split, epoch {trainer.current_epoch} iteration "
                       f"{int(getattr(pl_module, 'iteration', trainer.global_step))}: {shown}")
        return result

    def _log_protocol(self, trainer: L.Trainer, protocol: dict[str, Any], keys: list[str]) -> None:
        if protocol == self._logged_protocol:
            return
        first = self._logged_protocol is None
        self._logged_protocol = dict(protocol)
        rank_zero_info("ganlit.metrics: protocol\n" + "\n".join(f"  {k:<12} {v}" for k, v in protocol.items()))
        if not trainer.is_global_zero:
            return
        for logger in trainer.loggers:
            logger.log_hyperparams({"eval_protocol": protocol})  # W&B: run config; TensorBoard/CSV: hparams.yaml
            if first and is_tensorboard(logger):  # TensorBoard shows the first HParams summary only
                write_tensorboard_hparams(logger, [f"val/{k}" for k in keys])


def _plain(value: Any) -> Any:
    """``value`` as plain JSON-like types (what ``weights_only`` checkpoints and model cards hold)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
