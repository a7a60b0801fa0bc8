"""How the ``ganlit`` command parses, prints and saves configs: the argument parser and the config saver of
:class:`ganlit.cli.GanlitCLI`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from lightning.pytorch.cli import LightningArgumentParser, SaveConfigCallback

from ganlit.run_config import link_data_to_model

__all__ = ["GanlitArgumentParser", "SaveConfigNoClobber"]


class GanlitArgumentParser(LightningArgumentParser):
    """LightningCLI's parser; a logger that requires a folder gets one before the config is checked, and a printed
    config shows the data module's facts in the model."""

    def validate(self, cfg: Any, *args: Any, **kwargs: Any) -> None:
        from ganlit.run_config import fill_logger_dirs

        fill_logger_dirs(cfg)  # in place: the parse returns this cfg
        super().validate(cfg, *args, **kwargs)

    def dump(self, cfg: Any, *args: Any, **kwargs: Any) -> str:
        """The config as it will run: ``--print_config`` (which prints before the model takes the data module's
        facts) shows the model with them, as the run's saved config.yaml does."""
        if "data" in cfg and "model" in cfg:
            cfg = cfg.clone()
            try:
                link_data_to_model(cfg)
            except Exception:  # noqa: BLE001 - a bad data config is reported when the command runs
                pass
        if "skip_none" in kwargs and "skip_unset" in _keep_none():  # Lightning still passes the old name
            kwargs["skip_unset"] = kwargs.pop("skip_none")
        return super().dump(cfg, *args, **kwargs)


class SaveConfigNoClobber(SaveConfigCallback):
    """Saves the resolved config in the run folder; never aborts and never overwrites: a second run writes
    config.1.yaml.

    With a W&B logger the resolved config also goes to the W&B run, with the ganlit version and source commit.
    """

    def setup(self, trainer, pl_module, stage: str) -> None:
        if self.already_saved:
            return
        if self.save_to_log_dir:
            from ganlit.callbacks import run_dir

            # The run folder, not trainer.log_dir: that is W&B's save_dir, which may be $WANDB_DIR.
            base = Path(trainer.strategy.broadcast(str(run_dir(trainer))))
            stem, suffix = Path(self.config_filename).stem, Path(self.config_filename).suffix or ".yaml"
            name, n = f"{stem}{suffix}", 0
            while (base / name).exists():
                n += 1
                name = f"{stem}.{n}{suffix}"
            self.config_filename = trainer.strategy.broadcast(name)
            if trainer.is_global_zero:
                base.mkdir(parents=True, exist_ok=True)
                self.parser.save(self.config, str(base / self.config_filename), overwrite=self.overwrite,
                                 multifile=self.multifile, **_keep_none())
        if trainer.is_global_zero:
            self.save_config(trainer, pl_module, stage)
            self.already_saved = True
        self.already_saved = trainer.strategy.broadcast(self.already_saved)

    def save_config(self, trainer, pl_module, stage: str) -> None:
        from ganlit.utils.source import source_version

        for logger in trainer.loggers:
            if type(logger).__name__ == "WandbLogger":
                config = {**self.config.as_dict(), "ganlit": source_version()}
                logger.experiment.config.update(config, allow_val_change=True)


def _keep_none() -> dict[str, bool]:
    """The argument that keeps None values in a saved config (jsonargparse 4.49 renamed ``skip_none``)."""
    import jsonargparse

    major, minor = (int(x) for x in re.findall(r"\d+", jsonargparse.__version__)[:2])
    return {"skip_unset": False} if (major, minor) >= (4, 49) else {"skip_none": False}
