"""What each kind of logger needs beyond ``log_metrics`` to show evaluations well: W&B keeps the best FID/KID/IS in
its run summary; TensorBoard's HParams dashboard shows the hyperparameters, the protocol and the metric columns."""

from __future__ import annotations

from typing import Any, Iterable, Optional


def metric_goal(key: str, prefix: str = "") -> Optional[str]:
    """``"min"`` for a FID or KID mean key (``digits_fid``, ``fid_AtoB``, ``kid_mean``), ``"max"`` for an IS mean, else
    None (the spreads, ``*_std``, have no better direction)."""
    name = key[len(prefix):] if prefix and key.startswith(prefix) else key
    for base, goal in (("fid", "min"), ("kid_mean", "min"), ("is_mean", "max")):
        if name == base or name.startswith(base + "_"):
            return goal
    return None


def define_wandb_summaries(loggers: Iterable[Any], keys: Iterable[str], prefix: str = "") -> None:
    """For each W&B logger, let the run summary of each FID/KID (IS) key ``val/<key>`` hold its lowest (highest)
    value instead of its last one."""
    for logger in loggers:
        if type(logger).__name__ != "WandbLogger":
            continue
        for key in keys:
            goal = metric_goal(key, prefix)
            if goal is not None:
                # A definition of its own replaces Lightning's glob `*` for this key: restate its x-axis.
                logger.experiment.define_metric(f"val/{key}", summary=goal, step_metric="trainer/global_step",
                                                step_sync=True)


def is_tensorboard(logger: Any) -> bool:
    return type(logger).__name__ == "TensorBoardLogger" and hasattr(logger, "_default_hp_metric")


def hold_tensorboard_hparams(loggers: Iterable[Any]) -> None:
    """Keep Lightning from writing its placeholder HParams summary (``hp_metric -1``) at fit start.

    TensorBoard shows only the first HParams summary of a run folder, and the protocol is only known at the first
    evaluation: :func:`write_tensorboard_hparams` writes the one summary then. ``hparams.yaml`` is unaffected.
    """
    for logger in loggers:
        if is_tensorboard(logger):
            logger._default_hp_metric = False


def write_tensorboard_hparams(logger: Any, metric_keys: Iterable[str]) -> None:
    """Write ``logger``'s HParams summary: every hyperparameter it holds (the model's, the data's, ``eval_protocol``)
    and ``metric_keys`` as the dashboard's metric columns (read from the scalars of those tags)."""
    from lightning.fabric.loggers.tensorboard import _TENSORBOARD_AVAILABLE
    from lightning.fabric.utilities.logger import _flatten_dict

    if _TENSORBOARD_AVAILABLE:
        from torch.utils.tensorboard.summary import hparams
    else:
        from tensorboardX.summary import hparams  # type: ignore[no-redef]
    params = logger._sanitize_params(_flatten_dict(dict(logger.hparams)))  # as Lightning's log_hyperparams does
    # The values are not written (the scalars already are): only the names become the dashboard's columns.
    summaries = hparams(params, {key: 0.0 for key in metric_keys})
    writer = logger.experiment._get_file_writer()
    for summary in summaries:
        writer.add_summary(summary)
