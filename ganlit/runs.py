"""Run folders: one ``<root>/version_<n>/`` per run, a ``latest`` pointer, and finding the run to resume.

A run folder holds everything a run writes: the resolved config, ``checkpoints/``, ``samples/`` and the W&B
files. ``root`` is the recipe's ``trainer.default_root_dir`` (``runs/<recipe>``), so that one option moves
everything.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from lightning.pytorch.utilities import rank_zero_warn


VERSION = re.compile(r"^version_(\d+)$")
LATEST = "latest"


class ResumeError(ValueError):
    """``--ckpt_path`` cannot be resumed; the message is one line that says why and what to do."""


class RunFinished(ResumeError):
    """The run to resume already reached the configured ``max_epochs``/``max_steps``."""


def versions(root: Path) -> list[Path]:
    """The run folders under ``root``, oldest first."""
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := VERSION.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found)]


def new_run_dir(root: Union[str, Path]) -> Path:
    """Create and return the next free ``root/version_<n>``; two runs starting together never get the same one."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    existing = versions(root)
    n = int(VERSION.match(existing[-1].name).group(1)) + 1 if existing else 0
    while True:
        path = root / f"version_{n}"
        try:
            path.mkdir()  # atomic: whoever creates it owns it
        except FileExistsError:
            n += 1
            continue
        point_latest(root, path)
        return path


def point_latest(root: Path, run: Path) -> None:
    """Make ``root/latest`` a relative symlink to ``run``, replaced atomically."""
    tmp = root / f".{LATEST}-{os.getpid()}"
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        tmp.symlink_to(run.name, target_is_directory=True)
        os.replace(tmp, root / LATEST)
    except OSError:  # a file system without symlinks: the version numbers still order the runs
        if tmp.is_symlink():
            tmp.unlink()


# What a fit writes into its folder before its first step: nothing a user could want back.
_SCAFFOLD = {".ganlit.lock", "config.yaml", "slurm_job_id"}


def discard_unused_run(run: Path) -> bool:
    """Remove the run folder ``run`` of a fit that failed before it saved or logged anything; True if removed.

    Anything beyond the lock, the saved config and W&B's log links (a checkpoint, a sample grid, a W&B run that
    logged a step) keeps the folder. ``latest`` then points at the newest remaining run, or is removed.
    """
    if not run.is_dir():
        return False
    for path in run.rglob("*"):
        rel = path.relative_to(run)
        if path.is_dir() and not path.is_symlink():
            continue
        if rel.as_posix() in _SCAFFOLD or (rel.parts[0] == "wandb" and path.is_symlink() and not path.exists()):
            continue
        return False
    shutil.rmtree(run, ignore_errors=True)
    root = run.parent
    latest = root / LATEST
    if latest.is_symlink() and not latest.exists():
        remaining = versions(root)
        if remaining:
            point_latest(root, remaining[-1])
        else:
            latest.unlink()
    return True


@dataclass
class SavedRun:
    """What a ``last.ckpt`` says about its run: where it stopped and which W&B run it logged to."""

    path: Path
    class_path: Optional[str]
    epochs_done: int
    global_step: int
    wandb_id: Optional[str]

    @property
    def run_dir(self) -> Optional[Path]:
        """The ``version_<n>`` folder holding this checkpoint, or None for a file kept elsewhere."""
        folder = self.path.parent.parent
        ok = self.path.parent.name == "checkpoints" and VERSION.match(folder.resolve().name)
        return folder if ok else None

    def finished(self, max_epochs: Optional[int], max_steps: int) -> bool:
        """Whether a fit with these limits would stop at once (Lightning's defaults: 1000 epochs, no step limit)."""
        if max_steps is not None and max_steps != -1 and self.global_step >= max_steps:
            return True
        if max_epochs is None:
            max_epochs = 1000 if max_steps in (None, -1) else -1
        return max_epochs != -1 and self.epochs_done >= max_epochs


def read_saved_run(path: Union[str, Path]) -> SavedRun:
    """Read the run facts of a checkpoint without loading its tensors (``mmap``)."""
    from ganlit.checkpoint import read_checkpoint

    path = Path(path)
    ckpt = read_checkpoint(path, mmap=True)
    progress = ckpt.get("loops", {}).get("fit_loop", {}).get("epoch_progress", {}).get("current", {})
    run = ckpt.get("ganlit_run", {})
    return SavedRun(path=path, class_path=ckpt.get("ganlit_class"),
                    epochs_done=int(progress.get("processed", ckpt.get("epoch", 0))),
                    global_step=int(ckpt.get("global_step", 0)), wandb_id=run.get("wandb_id"))


def find_last(root: Path, max_epochs: Optional[int], max_steps: int) -> SavedRun:
    """The newest run under ``root`` whose ``last.ckpt`` is unfinished under these limits (``--ckpt_path last``).

    A damaged ``last.ckpt`` (a run killed while its disk filled, a file copied halfway) is skipped with a warning,
    so one broken old run never blocks resuming the others.
    """
    from ganlit.checkpoint import CheckpointError

    saved, damaged = [], []
    for folder in reversed(versions(root)):
        path = folder / "checkpoints" / "last.ckpt"
        if not path.is_file():
            continue
        try:
            run = read_saved_run(path)
        except CheckpointError as err:
            damaged.append(path)
            rank_zero_warn(f"ganlit: --ckpt_path last skips {path}: {err}")
            continue
        if not run.finished(max_epochs, max_steps):
            return run
        saved.append(run)
    if saved:
        raise RunFinished(finished_message(saved[0], max_epochs, max_steps))
    skipped = f" that can be read ({len(damaged)} damaged: {', '.join(map(str, damaged))})" if damaged else ""
    raise ResumeError(f"--ckpt_path last: no run under {root} has a checkpoints/last.ckpt to resume{skipped};"
                      " start a new run without --ckpt_path")


def finished_message(run: SavedRun, max_epochs: Optional[int], max_steps: int) -> str:
    limit = (f"max_steps={max_steps} reached (step {run.global_step})" if max_steps not in (None, -1)
             and run.global_step >= max_steps else f"max_epochs={max_epochs} reached ({run.epochs_done} epochs done)")
    return (f"the run of {run.path} has already finished: {limit}. To train it further, raise the limit, e.g. "
            f"--trainer.max_epochs {run.epochs_done * 2 or 2} --ckpt_path {run.path}")


def check_class(run: SavedRun, model_class_path: Optional[str]) -> None:
    """Refuse a checkpoint naming anything but a ganlit model, or a model of another class than the config's."""
    if run.class_path is None:
        return
    from ganlit.checkpoint import model_class
    from ganlit.utils.imports import import_object

    saved = model_class(run.class_path, "ganlit_class", str(run.path))  # checked before anything is called
    if model_class_path is None:
        return
    try:
        same = saved is import_object(model_class_path, "model.class_path")
    except (ImportError, AttributeError, ValueError):
        same = run.class_path == model_class_path
    if not same:
        raise ResumeError(f"{run.path} is a checkpoint of {run.class_path}, but the config trains "
                          f"{model_class_path}; resume it with the config it was trained with")


def resume_target(ckpt_path: Any, root: Path, max_epochs: Optional[int], max_steps: int) -> Optional[SavedRun]:
    """The run ``--ckpt_path`` names (``last``: see :func:`find_last`), or None for Lightning's own values."""
    if ckpt_path in (None, "best", "hpc", "registry"):
        return None
    if ckpt_path == "last":
        return find_last(root, max_epochs, max_steps)
    path = Path(ckpt_path)
    if not path.is_file():
        raise ResumeError(f"--ckpt_path {path}: no such file")
    run = read_saved_run(path)
    if run.finished(max_epochs, max_steps):
        raise RunFinished(finished_message(run, max_epochs, max_steps))
    return run
