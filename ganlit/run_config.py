"""Pointing a fit's config at its run folder: checkpoints, loggers, samples and config all land in one place."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Optional

from lightning.pytorch.utilities import rank_zero_info

from ganlit.runs import LATEST, check_class, new_run_dir, resume_target, versions
from ganlit.utils.rundir import RUN_DIR_ENV

# Set by rank 0 for the processes Lightning launches for DDP, so that every rank writes into the same run.
SLURM_FILE = "slurm_job_id"


def _as_list(value: Any) -> list:
    if value is None or isinstance(value, bool):
        return []
    return list(value) if isinstance(value, list) else [value]


def _slurm_job_id() -> Optional[str]:
    array = os.environ.get("SLURM_ARRAY_JOB_ID")
    if array is not None:
        return f"{array}_{os.environ.get('SLURM_ARRAY_TASK_ID', '0')}"
    return os.environ.get("SLURM_JOB_ID")


def _launch_rank() -> int:
    """This process's global rank when an outside launcher (torchrun, srun) started it, else 0."""
    for name in ("RANK", "SLURM_PROCID"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 0


def _requeued_run(root: Path, job: str) -> Optional[Path]:
    """The run folder a requeued SLURM job started before (the job id stays the same across requeues)."""
    for run in reversed(versions(root)):
        marker = run / SLURM_FILE
        if marker.is_file() and marker.read_text().strip() == job:
            return run
    return None


def _newest_checkpoint(run: Path) -> Optional[Path]:
    candidates = [p for p in [run / "checkpoints" / "last.ckpt", *run.glob("hpc_ckpt_*.ckpt")] if p.is_file()]
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


# The run folder this process created (a new run, not a resumed one) and the first folder above it that was made too.
_created: Optional[tuple[Path, Optional[Path]]] = None


def created_run(forget: bool = False) -> Optional[tuple[Path, Optional[Path]]]:
    """(run folder, first new folder of its root) of this process's last ``place_run``, if it made a new run
    (``forget``: clear it)."""
    global _created
    run = _created
    if forget:
        _created = None
    return run


def _own(run: Path, command: Optional[list[str]]) -> None:
    """Lock the run folder for this fit and clear what killed saves left in it."""
    from ganlit.runlock import acquire
    from ganlit.utils.atomic import remove_leftovers

    previous = acquire(run, command)
    if previous:
        rank_zero_info(f"ganlit: {run} was left locked by pid {previous.get('pid')} on {previous.get('host')}, "
                       "which no longer runs; this run takes it over")
    removed = remove_leftovers(run, owned=True)
    if removed:
        rank_zero_info(f"ganlit: removed {len(removed)} partial file(s) left by interrupted saves: "
                       + ", ".join(str(p.relative_to(run)) for p in removed[:3]) + (" ..." if len(removed) > 3 else ""))


def _wandb_save_dir(args: Any, run: Path) -> str:
    """Where a WandbLogger writes its ``wandb/`` folder: an explicit ``save_dir`` (or ``dir``), else ``$WANDB_DIR``,
    else the run folder (W&B's own default would be the current folder)."""
    save_dir, wandb_dir = args.get("save_dir"), args.get("dir")
    if save_dir not in (None, "."):  # "." is the logger's default: nobody chose it
        return str(save_dir)
    if wandb_dir:  # Lightning's WandbLogger ignores `dir` whenever `save_dir` is set, and it always is
        return str(wandb_dir)
    return os.environ.get("WANDB_DIR") or str(run)


# The folder arguments that loggers take without a default (TensorBoardLogger, CSVLogger: save_dir; Fabric's: root_dir).
LOGGER_DIR_ARGS = ("save_dir", "root_dir")


def fill_logger_dirs(cfg: Any) -> None:
    """Give every configured logger whose class requires a folder and has none the trainer's ``default_root_dir``
    (in place), so ``--trainer.logger lightning.pytorch.loggers.CSVLogger`` needs no other argument.

    Called on the parsed config before the parser checks it (``ganlit.cli.GanlitArgumentParser``); for ``fit``,
    :func:`place_run` then points the folder at the run folder.
    """
    import inspect

    from jsonargparse import Namespace

    from ganlit.errors import UsageError
    from ganlit.utils.imports import import_object

    sections = [cfg, *(cfg.get(name) for name in ("fit", "validate", "test", "predict"))]
    for trainer in (s.get("trainer") for s in sections if isinstance(s, Namespace)):
        if not isinstance(trainer, Namespace):
            continue
        for logger in _as_list(trainer.get("logger")):
            if not isinstance(logger, Namespace) or not isinstance(logger.get("class_path"), str):
                continue
            try:
                params = inspect.signature(import_object(logger.class_path, "trainer.logger.class_path")).parameters
            except (UsageError, TypeError, ValueError):
                continue  # not a class ganlit can inspect: the parser reports it
            if logger.get("init_args") is None:
                logger.init_args = Namespace()
            for name in LOGGER_DIR_ARGS:
                if name in params and params[name].default is inspect.Parameter.empty \
                        and logger.init_args.get(name) is None:
                    logger.init_args[name] = str(trainer.get("default_root_dir") or ".")


def _check_loggers(trainer: Any) -> None:
    """Refuse, in one line and before a run folder is made, a logger configuration Lightning would refuse in a page."""
    for logger in _as_list(trainer.get("logger")):
        args = logger.get("init_args") if hasattr(logger, "get") else None
        if args is not None and str(logger.get("class_path", "")).endswith("WandbLogger") and args.get("offline") \
                and args.get("log_model"):
            from ganlit.errors import ConfigError

            raise ConfigError("trainer.logger.init_args.offline=true refuses log_model (the recipes log checkpoints): "
                              "add --trainer.logger.init_args.log_model false, or use WANDB_MODE=offline instead, which "
                              "keeps them for `wandb sync`")


def place_run(cfg: Any, command: Optional[list[str]] = None) -> Path:
    """Choose this fit's run folder and rewrite ``cfg`` (a ``fit`` config, in place) to write everything there.

    ``--ckpt_path last`` (or a path inside a run folder) continues that run in its folder and W&B run; any other
    fit gets a new ``version_<n>``. Raises ``ResumeError`` with one line when the checkpoint cannot be resumed,
    ``RunInUseError`` when another process trains that run. Rank 0 holds the run's lock (``ganlit.runlock``) from
    here until the command ends; ``command`` (the argv) is recorded in it.
    """
    trainer = cfg.trainer
    _check_loggers(trainer)
    root = Path(trainer.get("default_root_dir") or "runs")
    target = resume_target(cfg.get("ckpt_path"), root, trainer.get("max_epochs"), trainer.get("max_steps", -1))
    if target is not None:
        model = cfg.get("model")
        check_class(target, getattr(model, "class_path", None) if model is not None else None)
    job = _slurm_job_id()
    requeued = _requeued_run(root, job) if job and target is None and cfg.get("ckpt_path") is None else None
    inherited = os.environ.get(RUN_DIR_ENV)
    if inherited and int(os.environ.get("LOCAL_RANK", "0")) > 0:
        run = Path(inherited)  # a DDP process launched by rank 0, which chose the folder
    elif target is not None and target.run_dir is not None:
        run = target.run_dir
    elif requeued is not None:
        run = requeued
    elif _launch_rank() > 0:
        # Started by torchrun/srun beside rank 0: create nothing; checkpoints, samples and loggers write on rank 0
        # (ModelCheckpoint takes rank 0's folder).
        run = root / LATEST
    else:
        new = next((p for p in reversed([root, *root.parents]) if not p.exists()), None)
        run = new_run_dir(root)
        global _created
        _created = (run, new)
        if job:
            (run / SLURM_FILE).write_text(job + "\n")
    if _launch_rank() == 0 and not (inherited and int(os.environ.get("LOCAL_RANK", "0")) > 0):
        _own(run, command)
        os.environ[RUN_DIR_ENV] = str(run)
    if requeued is not None:
        newest = _newest_checkpoint(requeued)
        cfg.ckpt_path = str(newest) if newest is not None else None
        rank_zero_info(f"ganlit: SLURM job {job} requeued: continuing {run}" + (f" from {newest}" if newest else ""))
    if target is not None:
        cfg.ckpt_path = str(target.path)
        rank_zero_info(f"ganlit: resuming {target.path} (epoch {target.epochs_done}, step {target.global_step})")
    rank_zero_info(f"ganlit: this run writes into {run}")

    trainer.default_root_dir = str(run)
    for logger in _as_list(trainer.get("logger")):
        args = logger.get("init_args") if hasattr(logger, "get") else None
        if args is None:
            continue
        name = str(logger.get("class_path", ""))
        if name.endswith("WandbLogger"):
            args.save_dir = _wandb_save_dir(args, run)
        elif "save_dir" in args:
            args.save_dir = str(run)
        if name.endswith(("TensorBoardLogger", "CSVLogger")):
            args.name, args.version = "", ""  # their log_dir is then the run folder itself
        if name.endswith("WandbLogger") and target is not None and target.wandb_id:
            args.id = target.wandb_id  # the same W&B run, continued
            kwargs = logger.get("dict_kwargs") or {}
            kwargs["resume"] = "allow"
            logger.dict_kwargs = kwargs
    checkpoints = str(run / "checkpoints")
    for callback in _as_list(trainer.get("callbacks")):
        args = callback.get("init_args") if hasattr(callback, "get") else None
        if args is not None and "dirpath" in args and args.dirpath is None and "ModelCheckpoint" in str(
                callback.get("class_path", "")):
            args.dirpath = checkpoints
    if cfg.get("checkpoint") is not None and cfg.checkpoint.get("dirpath") is None:
        cfg.checkpoint.dirpath = checkpoints
    return run


def resume_hint(argv: list[str]) -> str:
    """For a fit stopped by its disk: the checkpoint it can go on from once there is room again."""
    run = os.environ.get(RUN_DIR_ENV)
    last = Path(run) / "checkpoints" / "last.ckpt" if run else None
    if last is None or not last.is_file():
        return ("; nothing was saved yet: make room there (or choose another trainer.default_root_dir), then start "
                "again")
    import shlex

    args = [a for i, a in enumerate(argv) if a != "--ckpt_path" and not a.startswith("--ckpt_path=")
            and (i == 0 or argv[i - 1] != "--ckpt_path")]
    return (f"; {last} is the last good checkpoint: make room, then resume with: "
            f"{shlex.join(['ganlit', *args, '--ckpt_path', str(last)])}")


def discard_created_run() -> None:
    """A fit that failed before saving or logging anything leaves no run folder behind."""
    from ganlit.runs import discard_unused_run

    created = created_run()
    if created is not None and discard_unused_run(created[0]) and created[1] is not None:
        first_new = created[1]
        if first_new.is_dir() and not any(p.is_file() or p.is_symlink() for p in first_new.rglob("*")):
            shutil.rmtree(first_new, ignore_errors=True)  # the empty folders this fit made for its root


def _explicit(argv: Optional[list[str]], *keys: str) -> bool:
    """Whether the command line sets one of ``keys`` (dotted, e.g. ``trainer.default_root_dir``)."""
    return any(a == f"--{key}" or a.startswith(f"--{key}=") for a in argv or [] for key in keys)


def place_evaluation(cfg: Any, subcommand: str, command: Optional[list[str]] = None) -> Optional[Path]:
    """Point a ``validate``/``test``/``predict`` config (in place) at the run folder of its checkpoint; return it.

    ``--ckpt_path last`` is the newest ``version_<n>/checkpoints/last.ckpt`` under ``trainer.default_root_dir``; a
    checkpoint inside a run folder makes that folder the ``default_root_dir`` (unless the command line sets one), so
    predictions and logs land beside the run, never in the working directory. A missing file, or a checkpoint of
    another model class than the config's, is refused in one line (``ResumeError``). Loggers write under the run
    folder (TensorBoard/CSV in ``<run>/<subcommand>/version_<n>``, never over fit's files); ``predict`` logs nothing,
    so it opens no logger (no empty W&B run).
    """
    from ganlit.runs import ResumeError, read_saved_run

    trainer = cfg.trainer
    ckpt = cfg.get("ckpt_path")
    run = None
    if ckpt == "last":
        root = Path(trainer.get("default_root_dir") or ".")
        found = [v / "checkpoints" / "last.ckpt" for v in reversed(versions(root))
                 if (v / "checkpoints" / "last.ckpt").is_file()]
        if not found:
            raise ResumeError(f"--ckpt_path last: no run under {root} has a checkpoints/last.ckpt")
        ckpt = cfg.ckpt_path = str(found[0])
    if ckpt is not None and ckpt not in ("best", "hpc", "registry"):
        if not Path(ckpt).is_file():
            raise ResumeError(f"--ckpt_path {ckpt}: no such file")
        saved = read_saved_run(ckpt)
        model = cfg.get("model")
        check_class(saved, getattr(model, "class_path", None) if model is not None else None)
        run = saved.run_dir
        if run is not None and not _explicit(command, "trainer.default_root_dir"):
            trainer.default_root_dir = str(run)
        if run is not None:  # the checkpoint callbacks' state in the file refers to this folder (they save nothing)
            for callback in _as_list(trainer.get("callbacks")):
                args = callback.get("init_args") if hasattr(callback, "get") else None
                if args is not None and args.get("dirpath", "") is None and "ModelCheckpoint" in str(
                        callback.get("class_path", "")):
                    args.dirpath = str(run / "checkpoints")
            if cfg.get("checkpoint") is not None and cfg.checkpoint.get("dirpath") is None:
                cfg.checkpoint.dirpath = str(run / "checkpoints")
    if subcommand == "predict":
        trainer.logger = False
        return run
    out = str(trainer.get("default_root_dir") or ".")
    for logger in _as_list(trainer.get("logger")):
        args = logger.get("init_args") if hasattr(logger, "get") else None
        if args is None:
            continue
        if "save_dir" in args and not _explicit(command, "trainer.logger.init_args.save_dir",
                                                "trainer.logger.save_dir"):
            args.save_dir = out
        if str(logger.get("class_path", "")).endswith(("TensorBoardLogger", "CSVLogger")):
            args.name = subcommand
    return run


# Facts a data module knows and a model needs: copied from the data module to the model's argument of the
# same name whenever the model takes it, so a recipe states each fact once.
LINKED_ATTRIBUTES = ("image_size", "channels", "num_classes", "num_attrs", "attr_names", "single_label")


def link_data_to_model(cfg: Any) -> dict[str, Any]:
    """Copy ``LINKED_ATTRIBUTES`` from the configured data module to the model's init args (in place)."""
    data_cfg, model_cfg = cfg.get("data"), cfg.get("model")
    if data_cfg is None or model_cfg is None or not hasattr(data_cfg, "class_path"):
        return {}
    data_args = data_cfg.init_args.as_dict() if data_cfg.get("init_args") is not None else {}
    from ganlit.data.base import GANDataModule
    from ganlit.utils.imports import import_class

    data_class = import_class(data_cfg.class_path, GANDataModule, "data.class_path")
    try:
        data = data_class(**data_args)  # data modules touch no files in __init__
    except ValueError as err:
        from ganlit.errors import ConfigError

        raise ConfigError(f"{data_cfg.class_path}: {(str(err).strip().splitlines() or [''])[0]}") from None
    linked = {}
    for name in LINKED_ATTRIBUTES:
        if hasattr(data, name) and model_cfg.get("init_args") is not None and name in model_cfg.init_args:
            value = getattr(data, name)
            model_cfg.init_args[name] = value
            linked[name] = value
    return linked
