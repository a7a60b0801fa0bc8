"""The folder of a run: where its samples, config and checkpoints go (read by the models, set by ``ganlit fit``)."""

from __future__ import annotations

import os
from pathlib import Path

import lightning as L

__all__ = ["RUN_DIR_ENV", "run_dir"]

# ganlit.run_config.place_run puts the run folder it chose here, for the processes of the run (DDP ranks included).
RUN_DIR_ENV = "_GANLIT_RUN_DIR"


def run_dir(trainer: L.Trainer) -> Path:
    """The folder of this run: the one ``ganlit fit`` chose for it, else the logger's run folder when it has one,
    else ``default_root_dir``."""
    placed = os.environ.get(RUN_DIR_ENV)
    if placed and Path(placed) == Path(trainer.default_root_dir):
        # ganlit.run_config.place_run pointed this trainer at its run folder; a logger may write elsewhere
        # (W&B under $WANDB_DIR), but samples and the config stay in the run folder.
        return Path(placed)
    logger = trainer.logger
    for attr in ("log_dir", "save_dir"):
        value = getattr(logger, attr, None) if logger is not None else None
        if value:
            return Path(value)
    return Path(trainer.default_root_dir)
