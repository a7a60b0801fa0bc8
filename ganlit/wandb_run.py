"""The process-wide W&B run of a command: offline without a login, and closed when the command ends."""

from __future__ import annotations

import os
import sys

from lightning.pytorch.utilities import rank_zero_info


def ensure_wandb_mode() -> None:
    """With no W&B login, log offline (``wandb sync`` later) instead of failing or prompting."""
    if os.environ.get("WANDB_MODE") or os.environ.get("WANDB_API_KEY"):
        return
    try:
        import netrc

        logged_in = netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        logged_in = False
    if not logged_in:
        os.environ["WANDB_MODE"] = "offline"
        rank_zero_info("ganlit: no W&B login found; logging offline (run `wandb sync <run dir>` later to upload).")


def finish_wandb_run() -> None:
    """Close the W&B run this command opened, so a second command in the same process starts its own run.

    Lightning's WandbLogger reuses ``wandb.run`` when one is still open, which would log a second fit (a notebook,
    a sweep script) into the first one's run.
    """
    wandb = sys.modules.get("wandb")
    if wandb is None:
        return
    if getattr(wandb, "run", None) is not None:
        wandb.finish()
    # wandb caches its settings (WANDB_MODE included) process-wide; the next command reads them afresh.
    wandb.teardown()
