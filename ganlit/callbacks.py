"""Callbacks and helpers around training: the run folder, last.ckpt and interrupts, sample grids, the prediction
writer of ``ganlit predict``."""

from __future__ import annotations

import shlex
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional

import lightning as L
from lightning.pytorch.callbacks import BasePredictionWriter, ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch import Tensor

from ganlit.errors import UsageError
# The run folder and the sample grids live below the models (ganlit.utils.rundir, ganlit.grids); importable from here.
from ganlit.grids import grid_pixels, save_and_log_grid  # noqa: F401
from ganlit.utils.rundir import RUN_DIR_ENV, run_dir  # noqa: F401


def to_unit(images: Tensor, value_range: tuple[float, float] = (-1.0, 1.0)) -> Tensor:
    """Map images from ``value_range`` to [0, 1]."""
    lo, hi = value_range
    return ((images - lo) / (hi - lo)).clamp(0, 1)


class LastCheckpoint(ModelCheckpoint):
    """Keeps ``checkpoints/last.ckpt`` of the run fresh, and saves it when the run is interrupted.

    ``last.ckpt`` is written at every epoch end, every ``every_n_minutes`` of training (default 10) and, when
    set, every ``every_n_iterations`` iterations of the module's own counter (one per batch), so a hard kill
    loses at most that much work. On SIGINT (Ctrl-C) or SIGTERM (Lightning's signal connector), the run
    finishes the step it is in, writes ``last.ckpt`` (atomically, through ganlit's checkpoint I/O), prints one
    line with its path and the command that resumes it, and exits with 130 (SIGINT) or 143 (SIGTERM). A second
    Ctrl-C quits at once; a save it cuts short leaves the previous ``last.ckpt`` whole.

    The CLI adds it to every ``fit`` (its options are the ``checkpoint:`` section of a recipe); with a plain
    ``Trainer``, add it to the callbacks. The W&B run id is saved in the checkpoint so a resume logs to the
    same W&B run.
    """

    def __init__(self, every_n_iterations: int = 0, every_n_minutes: Optional[float] = 10.0,
                 dirpath: Optional[str] = None) -> None:
        if every_n_iterations < 0:
            raise ValueError(f"checkpoint.every_n_iterations={every_n_iterations}: expected 0 (off) or more")
        if every_n_minutes is not None and every_n_minutes <= 0:
            raise ValueError(f"checkpoint.every_n_minutes={every_n_minutes}: expected a positive number or null")
        super().__init__(dirpath=dirpath, save_last=True, save_top_k=0, enable_version_counter=False)
        self.every_n_iterations, self.every_n_minutes = every_n_iterations, every_n_minutes
        self.resume_command: Optional[list[str]] = None  # the command line, set by the CLI
        self.interrupted_by: Optional[int] = None
        self._previous_sigint: Any = None
        self._fit_trainer: Optional[L.Trainer] = None
        self._clock = time.monotonic()

    @property
    def state_key(self) -> str:
        return "ganlit.LastCheckpoint"

    # ------------------------------------------------------------------ when to save
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        self._fit_trainer = trainer
        if stage == "fit" and threading.current_thread() is threading.main_thread():
            self._previous_sigint = signal.signal(signal.SIGINT, self._on_sigint)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._restore_sigint()

    def _restore_sigint(self) -> None:
        if self._previous_sigint is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self._previous_sigint)
            self._previous_sigint = None

    def _on_sigint(self, signum: int, frame: Any) -> None:
        trainer = self._fit_trainer
        if self.interrupted_by is not None or trainer is None:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            raise KeyboardInterrupt  # second Ctrl-C: quit now (an atomic save in progress removes its temp file)
        self.interrupted_by = signal.SIGINT
        # Lightning's loops stop after the current batch when this flag is set (as for SIGTERM).
        trainer._signal_connector.received_sigterm = True
        print("ganlit: Ctrl-C: finishing the current step, then saving last.ckpt (Ctrl-C again quits at once)",
              file=sys.stderr, flush=True)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._clock = time.monotonic()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        epoch_loop = trainer.fit_loop.epoch_loop
        if epoch_loop._num_ready_batches_reached() or trainer.sanity_checking:
            return  # the epoch-end save follows; a save here would skip the epoch-end hooks on resume
        iteration = int(getattr(pl_module, "iteration", trainer.global_step))
        due = bool(epoch_loop._is_training_done)  # max_steps reached mid-epoch: save it as an interruption
        due = due or (self.every_n_iterations > 0 and iteration % self.every_n_iterations == 0)
        if self.every_n_minutes is not None:
            due = due or time.monotonic() - self._clock >= 60.0 * self.every_n_minutes
        if trainer.strategy.broadcast(due):  # rank 0's clock decides for everyone
            self._save_last(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.fit_loop.epoch_loop._num_ready_batches_reached():
            self._save_last(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pass

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._save_last(trainer)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._restore_sigint()  # teardown hooks do not run after an exception
        if isinstance(exception, KeyboardInterrupt):  # the second Ctrl-C, or one outside the training loop
            raise SystemExit(130) from None
        if not isinstance(exception, SIGTERMException):
            return  # an error: keep the last good checkpoint rather than save a possibly broken state
        code = 130 if self.interrupted_by == signal.SIGINT else 143
        name = "SIGINT" if code == 130 else "SIGTERM"
        self._save_last(trainer)
        exception.code = code
        if trainer.is_global_zero:
            saved = (f"saved {self.last_model_path}; resume with: {self._resume_line()}" if self.last_model_path
                     else "stopped before the first step; nothing to save")
            print(f"ganlit: {name}: {saved}", file=sys.stderr, flush=True)

    def _save_last(self, trainer: L.Trainer) -> None:
        if self._should_skip_saving_checkpoint(trainer) or self.dirpath is None:
            return
        self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
        self._clock = time.monotonic()

    def _resume_line(self) -> str:
        if self.resume_command is None:
            return f"--ckpt_path {shlex.quote(self.last_model_path)}"
        args, skip = [], False
        for arg in self.resume_command:  # drop an earlier --ckpt_path
            if skip:
                skip = False
                continue
            if arg == "--ckpt_path":
                skip = True
                continue
            if not arg.startswith("--ckpt_path="):
                args.append(arg)
        return shlex.join(["ganlit", *args, "--ckpt_path", self.last_model_path])

    # ------------------------------------------------------------------ what the checkpoint records
    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        checkpoint["ganlit_run"] = {"dir": str(run_dir(trainer)), "wandb_id": wandb_run_id(trainer)}
        return super().on_save_checkpoint(trainer, pl_module, checkpoint)


def wandb_run_id(trainer: L.Trainer) -> Optional[str]:
    """The id of the W&B run the trainer logs to, or None without a W&B logger."""
    for logger in trainer.loggers:
        if type(logger).__name__ == "WandbLogger":
            return str(logger.version) if logger.version is not None else None
    return None


# ----------------------------------------------------------------------------- predictions
class PredictionsExistError(UsageError, FileExistsError):
    """The prediction folder holds files that ``ganlit predict`` was not asked to replace."""


def prediction_names(dataset: Any, conditional: bool) -> list[str]:
    """The PNG name of each item of a predict dataset: the stem of its file (folders of images, paired files), else
    ``<class>_<index>.png`` for the samples of a conditional model and ``<index>.png`` otherwise, as
    ``ganlit sample`` and ``ganlit translate`` name them."""
    from ganlit.data.base import SampleDataset
    from ganlit.utils.outputs import image_names, output_names

    files = getattr(dataset, "files", None)
    if isinstance(files, (list, tuple)) and len(files) == len(dataset) and all(isinstance(f, (str, Path))
                                                                                for f in files):
        return output_names([Path(f) for f in files])
    if conditional and isinstance(dataset, SampleDataset):
        return image_names(list(dataset.labels), len(dataset))
    return image_names(None, len(dataset))


class PredictionWriter(BasePredictionWriter):
    """Writes what ``predict_step`` returns (per output name, images in [-1, 1]) as one PNG per item.

    Output ``""`` goes to ``output_dir`` itself, any other (``AtoB``, ``BtoA``) to a sub-folder of that name; files
    are named by :func:`prediction_names` and written atomically, quantised as ``ganlit translate`` and
    ``ganlit sample`` do (``round((x + 1) / 2 * 255)``). The CLI adds it to every ``ganlit predict`` (its options are
    the ``prediction:`` section, ``--prediction.output_dir`` / ``--prediction.overwrite``).

    Args:
        output_dir: the folder (default ``<trainer.default_root_dir>/predictions``: the checkpoint's run folder
            when the checkpoint lies in one).
        overwrite: write into a folder that already holds files (default: refuse before predicting anything).
    """

    def __init__(self, output_dir: Optional[str] = None, overwrite: bool = False) -> None:
        super().__init__(write_interval="batch")
        self.output_dir, self.overwrite = output_dir, overwrite
        self.out: Optional[Path] = None
        self.written = 0
        self._names: dict[int, list[str]] = {}

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "predict":
            return
        out = Path(self.output_dir) if self.output_dir else Path(trainer.default_root_dir) / "predictions"
        self.out, self.written, self._names = out, 0, {}
        refusal = None
        if trainer.is_global_zero:
            if out.exists() and not out.is_dir():
                refusal = f"prediction.output_dir {out} is a file, expected a folder"
            elif out.is_dir() and any(out.iterdir()) and not self.overwrite:
                refusal = (f"{out} already holds files; choose an empty folder (--prediction.output_dir DIR) or pass "
                           "--prediction.overwrite true to replace them")
        refusal = trainer.strategy.broadcast(refusal)
        if refusal:
            raise PredictionsExistError(refusal)

    def _names_for(self, trainer: L.Trainer, pl_module: L.LightningModule, dataloader_idx: int) -> list[str]:
        if dataloader_idx not in self._names:
            loaders = trainer.predict_dataloaders
            loader = loaders[dataloader_idx] if isinstance(loaders, (list, tuple)) else loaders
            dataset = loader.dataset
            names = prediction_names(dataset, bool(pl_module.inference().classes))  # as the model declares it
            inputs = {Path(f).resolve() for f in getattr(dataset, "files", None) or []}
            hit = next((n for n in names if (self.out / n).resolve() in inputs), None)
            if hit is not None:
                raise PredictionsExistError(f"{self.out / hit} would replace an input image; choose another "
                                            "--prediction.output_dir")
            self._names[dataloader_idx] = names
        return self._names[dataloader_idx]

    def write_on_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, prediction: Any,
                           batch_indices: Optional[Any], batch: Any, batch_idx: int, dataloader_idx: int) -> None:
        from PIL import Image

        from ganlit.utils.atomic import atomic_write
        from ganlit.utils.outputs import rounded_uint8

        names = self._names_for(trainer, pl_module, dataloader_idx)
        loaders = trainer.predict_dataloaders
        base = self.out / f"dataloader_{dataloader_idx}" if isinstance(loaders, (list, tuple)) and len(loaders) > 1 \
            else self.out
        for key, images in prediction.items():
            if batch_indices:
                indices = list(batch_indices)
            else:  # a loader Lightning could not track: sequential batches of the loader's batch size
                size = getattr(trainer.predict_dataloaders, "batch_size", None) or images.size(0)
                indices = list(range(batch_idx * size, batch_idx * size + images.size(0)))
            folder = base / key if key else base
            for index, image in zip(indices, images):
                picture = Image.fromarray(rounded_uint8(image))
                atomic_write(folder / names[index], lambda f, p=picture: p.save(f, format="PNG"))
                self.written += 1

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            print(f"ganlit predict: wrote {self.written} image(s) to {self.out}", flush=True)
