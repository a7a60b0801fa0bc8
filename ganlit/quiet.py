"""Keeping the command line quiet: framework notices a ganlit user cannot act on never reach them.

Each filter names the one message it drops and why it does not concern the user; anything else (in particular
every warning about the user's own data, recipe or checkpoint) still shows.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import sys
import warnings
from pathlib import Path

# (message regex, why it is not the user's concern)
KNOWN_WARNINGS = (
    # GANModule computes its metrics in callbacks; the data modules offer val_dataloader for them and for users.
    (r".*val_dataloader.* but have no `validation_step`", "ganlit's evaluation runs in a callback"),
    # GANModule's validation_step serves `ganlit validate`; fit runs no validation loop (ganlit.models.steps).
    (r"You defined a `validation_step` but have no `val_dataloader`", "fit has no validation loop on purpose"),
    # GANModule moves batches to the device itself (on_after_batch_transfer), on purpose.
    (r".*overridden `on_after_batch_transfer` in `LightningModule`", "GANModule's own batch transfer"),
    # Lightning's own use of a torch API that torch deprecated; nothing in the user's code.
    (r".*isinstance\(treespec, LeafSpec\)` is deprecated", "Lightning internals"),
    # A resumed run continues in its own folder (every new run gets a new one), so its checkpoints are already there.
    (r"Checkpoint directory .* exists and is not empty", "a resumed run writes into its own folder"),
)


class _DropTips(logging.Filter):
    """Drops Lightning's advertisements for optional cloud packages (litlogger, litmodels)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith("💡 Tip:")


def quiet_known_warnings() -> None:
    """Install the filters for the command line (idempotent)."""
    for pattern, _why in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero",
                 "lightning_utilities.core.rank_zero", "pytorch_lightning.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropTips) for f in logger.filters):
            logger.addFilter(_DropTips())


def tidy_wandb_loggers(loggers: list) -> None:
    """Fix at the source what makes W&B warn on every run of Lightning's WandbLogger.

    Lightning always passes ``anonymous=None`` (W&B warns that the setting has no effect), and W&B looks for a git
    repository in the save folder before it exists ("git root ... does not exist").
    """
    for logger in loggers:
        init = getattr(logger, "_wandb_init", None)
        if type(logger).__name__ != "WandbLogger" or not isinstance(init, dict):
            continue
        if init.get("anonymous") is None:
            init.pop("anonymous", None)
        if init.get("dir"):
            Path(init["dir"]).mkdir(parents=True, exist_ok=True)


def discard_empty_wandb_run() -> None:
    """Finish and delete the W&B run of a command that failed before logging a single step."""
    wandb = sys.modules.get("wandb")
    run = getattr(wandb, "run", None) if wandb is not None else None
    if run is None:
        return
    try:
        logged = int(getattr(run, "step", 0) or 0) > 0
        run_dir = Path(run.dir).parent  # <save_dir>/wandb/<offline-run-...>/files -> the run folder
        offline = bool(getattr(run.settings, "_offline", False)) or run_dir.name.startswith("offline-run-")
    except Exception:  # a hint of tidiness only: never hide the user's real error behind this one
        return
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        wandb.finish(exit_code=1)  # its "sync this run" lines would name a folder about to be removed
    if logged or not offline or not run_dir.is_dir():
        return
    shutil.rmtree(run_dir, ignore_errors=True)
    for link in (run_dir.parent / "latest-run", run_dir.parent / "debug.log", run_dir.parent / "debug-internal.log"):
        if link.is_symlink() and not link.exists():  # they pointed into the run just removed
            link.unlink()
    if run_dir.parent.is_dir() and not any(run_dir.parent.iterdir()):
        run_dir.parent.rmdir()
