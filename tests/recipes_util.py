"""Run a recipe through the real CLI, as a user would, with a few overrides for tests."""

from __future__ import annotations

from pathlib import Path

from ganlit.cli import main

RECIPES = Path(__file__).resolve().parent.parent / "recipes"


def run_recipe(name: str, tmp_path: Path, *overrides: str, subcommand: str = "fit") -> int:
    """``ganlit fit --config recipes/<name> --trainer.fast_dev_run=true`` inside ``tmp_path`` (W&B disabled)."""
    args = [
        subcommand, "--config", str(RECIPES / name),
        "--trainer.fast_dev_run=true", "--trainer.accelerator=cpu", "--trainer.devices=1",
        f"--trainer.default_root_dir={tmp_path}",
    ]
    return main(args + list(overrides))
