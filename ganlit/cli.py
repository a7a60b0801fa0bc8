"""The ``ganlit`` / ``lightning`` command: LightningCLI for fit/validate/test/predict plus ganlit's own subcommands.

``lightning fit --config recipes/stargan.yaml`` and ``ganlit fit ...`` are the same command.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path
from typing import Any, Optional

from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.utilities import rank_zero_info

from ganlit.cli_config import GanlitArgumentParser, SaveConfigNoClobber
from ganlit.ddp import find_unused_parameters
from ganlit.quiet import discard_empty_wandb_run
from ganlit.run_config import RUN_DIR_ENV, created_run, discard_created_run, link_data_to_model, resume_hint
from ganlit.wandb_run import ensure_wandb_mode, finish_wandb_run

# Subcommands beyond LightningCLI's, each a module in ganlit.commands with ``main(argv) -> int``.
EXTRA_COMMANDS = {
    "sample": "write generated images of a GAN/CGAN checkpoint",
    "translate": "translate a folder of images with a checkpoint or official weights",
    "download": "download a dataset or pretrained weights from its official URL",
    "evaluate": "FID/KID/IS of a checkpoint, with the protocol",
    "export": "export the generator to TorchScript or ONNX",
    "pack": "share a model: safetensors weights, config.json and a model card (ganlit[hub] for --push)",
    "stylize": "Gatys neural style transfer of one image",
    "demo": "try a checkpoint or official weights in a local web page (ganlit[demo])",
}

class GanlitCLI(LightningCLI):
    """LightningCLI with subclass mode for models and data, no automatic optimizers, and data-to-model links."""

    def __init__(self, args: Optional[list[str]] = None, **kwargs: Any) -> None:
        from ganlit.data.base import GANDataModule
        from ganlit.models.base import GANModule

        from ganlit.utils import yaml_bound

        yaml_bound.install()
        self._argv = list(sys.argv[1:] if args is None else args)
        for i, arg in enumerate(self._argv[:-1]):  # name the file in the refusal of an alias bomb
            if arg in ("--config", "-c") and Path(self._argv[i + 1]).is_file():
                yaml_bound.check_expansion(Path(self._argv[i + 1]).read_text(errors="replace"), source=self._argv[i + 1])
        kwargs.setdefault("run", True)
        kwargs.setdefault("parser_class", GanlitArgumentParser)
        # A recipe without `seed_everything` is seeded with 0: Lightning's default (True) seeds 0 as well, with a
        # "No seed found" warning on every such fit; the run's config.yaml records the 0 either way.
        kwargs.setdefault("seed_everything_default", 0)
        super().__init__(
            GANModule if "model_class" not in kwargs else kwargs.pop("model_class"),
            GANDataModule if "datamodule_class" not in kwargs else kwargs.pop("datamodule_class"),
            subclass_mode_model=True,
            subclass_mode_data=True,
            auto_configure_optimizers=False,
            save_config_callback=SaveConfigNoClobber,
            args=args,
            **kwargs,
        )

    def _prepare_subcommand_parser(self, klass: type, subcommand: str, **kwargs: Any) -> Any:
        self._preparing = subcommand  # add_arguments_to_parser adds the options of this subcommand
        parser = super()._prepare_subcommand_parser(klass, subcommand, **kwargs)
        if subcommand == "predict":  # the writer has them on disk: Lightning need not keep them all in memory
            parser.set_defaults({"return_predictions": False})
        return parser

    def add_arguments_to_parser(self, parser: Any) -> None:
        from ganlit.callbacks import LastCheckpoint, PredictionWriter

        # The `checkpoint:` section of a recipe: how often last.ckpt is refreshed (added to every fit).
        parser.add_lightning_class_args(LastCheckpoint, "checkpoint")
        # `max_iterations: N` (ganlit.progress.IterationLimit, fit only; accepted by every subcommand so that one
        # recipe serves them all): the module's iterations, where max_steps counts optimizer steps (one per phase).
        parser.add_argument("--max_iterations", type=Optional[int], default=None,
                            help="fit: stop after N training iterations (batches; the module's `iteration` counter); "
                                 "trainer.max_steps counts optimizer steps, one per D or G phase")
        if getattr(self, "_preparing", None) == "predict":
            # The `prediction:` section: where `ganlit predict` writes its PNGs (the writer is always there).
            parser.add_lightning_class_args(PredictionWriter, "prediction")

    def _parse_ckpt_path(self) -> None:
        # Before the model's hyperparameters are read from --ckpt_path: for fit, resolve `last`, refuse a checkpoint
        # of another model class, lock the run and point it at its folder. Lightning's own reading of the file would
        # let its `_class_path` (and any nested class_path) choose which code runs: here every class it names is
        # checked to be a ganlit model (or a class outside the standard library) before the config takes it.
        subcommand = self.config.get("subcommand")
        if subcommand == "fit":
            from ganlit.run_config import place_run

            place_run(self.config["fit"], self._argv)
        elif subcommand in ("validate", "test", "predict"):
            from ganlit.run_config import place_evaluation

            place_evaluation(self.config[subcommand], subcommand, self._argv)
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if not ckpt_path or not Path(ckpt_path).is_file():
            return
        from ganlit.checkpoint import checked_hyper_parameters, model_class, read_checkpoint

        ckpt = read_checkpoint(ckpt_path, mmap=True)
        if ckpt.get("ganlit_class") is not None:
            model_class(ckpt["ganlit_class"], "ganlit_class", ckpt_path)
        raw = ckpt.get("hyper_parameters") if isinstance(ckpt.get("hyper_parameters"), dict) else {}
        class_path = raw.get("_class_path")
        if class_path is not None:
            model_class(class_path, "hyper_parameters._class_path", ckpt_path)
        elif ckpt.get("ganlit_class") is not None:  # saved by a plain Trainer (a notebook): its class is recorded
            class_path = ckpt["ganlit_class"]
        hparams = checked_hyper_parameters(ckpt, ckpt_path)
        if not hparams:
            return
        if class_path is not None:
            hparams = {"class_path": class_path, "dict_kwargs": hparams}
        from jsonargparse import ArgumentError

        from ganlit.errors import ConfigError, describe_config_error

        try:
            self.config = self.parser.parse_object({subcommand: {"model": hparams}}, self.config)
        except ArgumentError as err:
            raise ConfigError(f"{ckpt_path}: its hyper_parameters do not fit the config: "
                              f"{describe_config_error(str(err), self._known_keys())}") from None

    def init_parser(self, **kwargs: Any) -> Any:
        # Parse errors are raised (and reported by main() in one line) instead of printing the usage text.
        kwargs["exit_on_error"] = False
        return super().init_parser(**kwargs)

    def parse_arguments(self, parser: Any, args: Any) -> None:
        from jsonargparse import ArgumentError

        from ganlit.errors import ConfigError, describe_config_error

        try:
            super().parse_arguments(parser, args)
        except ArgumentError as err:
            raise ConfigError(describe_config_error(str(err), self._known_keys())) from None

    def _known_keys(self) -> list[str]:
        """The dotted keys of the subcommands' parsers (candidates for a "did you mean")."""
        keys = []
        for sub in getattr(self, "_subcommand_parsers", {}).values():
            keys += [a.dest for a in sub._actions if getattr(a, "dest", None)]
        return list(dict.fromkeys(keys))

    def instantiate_classes(self) -> None:
        # A model or data module refusing its arguments (an image size its networks cannot take) raises ValueError in
        # its __init__; jsonargparse buries that line under a page about Union subtypes: report that line alone.
        from ganlit.errors import ConfigError, UsageError

        try:
            super().instantiate_classes()
        except UsageError:
            raise
        except Exception as err:
            root = err
            while root.__cause__ is not None:
                root = root.__cause__
            # ModuleNotFoundError: a logger whose package is missing (TensorBoardLogger without tensorboard).
            if root is err or not isinstance(root, (ValueError, ModuleNotFoundError)):
                raise
            named = re.search(r"class_path=? ?'([\w.]+)'", str(err))
            where = named.group(1) if named else type(root).__name__
            raise ConfigError(f"{where}: {(str(root).strip().splitlines() or [''])[0]}") from None

    def instantiate_trainer(self, **kwargs: Any) -> Any:
        from ganlit.quiet import tidy_wandb_loggers

        trainer = super().instantiate_trainer(**kwargs)
        tidy_wandb_loggers(trainer.loggers)
        return trainer

    def _instantiate_trainer(self, config: dict[str, Any], callbacks: list[Any]) -> Any:
        from lightning.pytorch.callbacks import BasePredictionWriter

        from ganlit.callbacks import LastCheckpoint, PredictionWriter

        if config.get("enable_checkpointing") is False:
            # `--trainer.enable_checkpointing false` turns off the `checkpoint:` section too (Lightning refuses both).
            callbacks = [c for c in callbacks if not isinstance(c, LastCheckpoint)]
        configured = config.get("callbacks") or []
        configured = configured if isinstance(configured, list) else [configured]
        if any(isinstance(c, BasePredictionWriter) for c in configured):
            callbacks = [c for c in callbacks if not isinstance(c, PredictionWriter)]  # the user's writer instead
        if self.subcommand == "fit":
            callbacks = [*callbacks, *_fit_progress(config, configured, self.config_init["fit"].get("max_iterations"))]
        # Only a fit records its config (in its run folder); validate/test/predict write no config file anywhere.
        save_config, self.save_config_callback = self.save_config_callback, (
            self.save_config_callback if self.subcommand == "fit" else None)
        try:
            return super()._instantiate_trainer(config, callbacks)
        finally:
            self.save_config_callback = save_config

    def before_instantiate_classes(self) -> None:
        cfg = self.config[self.subcommand] if self.subcommand else self.config
        linked = link_data_to_model(cfg)
        if linked:
            rank_zero_info("ganlit: from the data module -> model: "
                           + ", ".join(f"{k}={v}" for k, v in linked.items()))
        find_unused_parameters(cfg.get("trainer"))
        logger = cfg.get("trainer", {}).get("logger")
        loggers = logger if isinstance(logger, list) else [logger]
        if any("Wandb" in str(getattr(lg, "class_path", "")) for lg in loggers if lg is not None):
            ensure_wandb_mode()

    def before_fit(self) -> None:
        from ganlit.callbacks import LastCheckpoint

        self._set_data_up("fit")
        for callback in self.trainer.callbacks:
            if isinstance(callback, LastCheckpoint):
                callback.resume_command = list(self._argv)

    def _set_data_up(self, stage: str) -> None:
        # Lightning starts the loggers (a W&B run) before it sets the data up: a missing or malformed dataset is
        # found here first. A download is left to Lightning's prepare_data, which runs it on one process.
        data = self.datamodule
        if data is not None and not getattr(data, "download", False):
            data.setup(stage)

    def before_validate(self) -> None:
        self._set_data_up("validate")

    def before_test(self) -> None:
        self._set_data_up("test")

    def before_predict(self) -> None:
        self._set_data_up("predict")


def _fit_progress(trainer_config: dict[str, Any], configured: list[Any], max_iterations: Optional[int]) -> list[Any]:
    """The callbacks a fit gets for its length: the ``max_iterations`` limit, and a progress bar in iterations
    (unless the bar is off or the config names its own)."""
    from lightning.pytorch.callbacks import ProgressBar

    from ganlit.progress import IterationLimit, progress_bar

    from ganlit.errors import ConfigError

    try:
        extra: list[Any] = [IterationLimit(max_iterations)] if max_iterations is not None else []
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if trainer_config.get("enable_progress_bar") is not False and not any(isinstance(c, ProgressBar) for c in configured):
        extra.append(progress_bar())
    return extra


LIGHTNING_COMMANDS = {
    "fit": "train a model (ganlit fit --config recipes/quickstart.yaml)",
    "validate": "a checkpoint's losses and the recipe's metrics (FID ...) on the val split",
    "test": "a checkpoint's losses and the recipe's metrics (FID ...) on the test split",
    "predict": "write a model's predictions as PNGs (samples, or translations of the test split)",
}


def _usage() -> str:
    commands = {**LIGHTNING_COMMANDS, **EXTRA_COMMANDS}
    lines = ["usage: ganlit {" + ",".join(commands) + "} ...", "", "commands:"]
    lines += [f"  {name:<10} {text}" for name, text in commands.items()]
    lines += ["", "ganlit <command> --help shows a command's options; GANLIT_DEBUG=1 shows tracebacks of errors."]
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point of ``ganlit``, ``lightning`` and ``python -m ganlit``; returns the exit code.

    Every user mistake surfaces here as a ``UsageError`` (or a config error of the parser) and is printed as
    ``ganlit <command>: error: ...`` with exit code 2; ``GANLIT_DEBUG=1`` re-raises it with its traceback.
    """
    from ganlit.errors import UsageError, debug, did_you_mean, report

    from_sys_argv = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    # Like `python -m`, let recipes name classes in the user's own files (class_path: my_papers.WGANGP).
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    command = argv[0]
    if not command.startswith("-") and command not in LIGHTNING_COMMANDS and command not in EXTRA_COMMANDS:
        known = [*LIGHTNING_COMMANDS, *EXTRA_COMMANDS]
        print(f"ganlit: error: unknown command {command!r}{did_you_mean(command, known)}; "
              f"the commands are {', '.join(known)} (ganlit --help)", file=sys.stderr)
        return 2
    _quiet_known_warnings()
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from ganlit.runs import ResumeError, RunFinished

    finished = False
    created_run(forget=True)  # a run folder is discarded only if this command created it
    try:
        if command in EXTRA_COMMANDS:
            return int(importlib.import_module(f"ganlit.commands.{command}").main(argv[1:]) or 0)
        # LightningCLI reads sys.argv itself; passing the same list again only earns a warning.
        GanlitCLI(args=None if from_sys_argv else argv)
        finished = True
    except SIGTERMException as stop:  # SIGINT/SIGTERM: last.ckpt saved, the code says which signal
        finished = True
        return int(stop.code or 143)
    except ResumeError as err:  # one clear paragraph, no traceback
        print(f"ganlit: {err}", file=sys.stderr)
        return 0 if isinstance(err, RunFinished) else 2
    except (UsageError, OSError) as err:
        from ganlit.utils.atomic import DiskError, disk_error

        if isinstance(err, OSError) and not isinstance(err, UsageError):
            err = disk_error(err, err.filename or "a file")  # a full or read-only disk, else a bug: re-raised
            if not isinstance(err, DiskError):
                discard_empty_wandb_run()
                raise
        discard_empty_wandb_run()
        if debug():
            raise
        if isinstance(err, DiskError) and command == "fit":
            err = DiskError(f"{err}{resume_hint(argv)}")
        return report(command, err)
    except Exception:  # a bug: its traceback follows, and the command leaves no empty W&B run behind
        discard_empty_wandb_run()
        raise
    finally:
        from ganlit.runlock import release

        release()
        os.environ.pop(RUN_DIR_ENV, None)
        finish_wandb_run()
        if not finished:
            discard_created_run()
    return 0


def _quiet_known_warnings() -> None:
    from ganlit.quiet import quiet_known_warnings

    quiet_known_warnings()
