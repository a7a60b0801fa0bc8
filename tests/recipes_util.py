"""Run a recipe through the real CLI, as a user would, with a few overrides for tests."""

from __future__ import annotations

from pathlib import Path

import yaml

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


def tiny_quickstart_recipe(folder: Path, **evaluation: int) -> Path:
    """``folder/recipe.yaml``: the quickstart recipe cut to 2 epochs of 2 batches, evaluated every epoch on 20
    images (``evaluation`` overrides the Evaluation callback's arguments)."""
    recipe = yaml.safe_load((RECIPES / "quickstart.yaml").read_text())
    recipe["trainer"].update(max_epochs=2, limit_train_batches=2, enable_progress_bar=False)
    for callback in recipe["trainer"]["callbacks"]:
        args = callback["init_args"]
        if "every_n_epochs" in args:
            args["every_n_epochs"] = 1
        if callback["class_path"] == "ganlit.metrics.Evaluation":
            args.update({"num_samples": 20, "num_real": 20, **evaluation})
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path
