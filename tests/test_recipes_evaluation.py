"""Every recipe scores itself with FID and keeps the best checkpoint by it, beside last.ckpt (issue: evaluation)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ganlit.cli import main

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
# Optimizer steps per iteration averaged over the cadence (StarGAN: 5 D steps, 1 G step per 5 iterations).
STEPS_PER_ITERATION = {"ganlit.models.StarGAN": 6 / 5}


def callbacks(recipe: dict, class_path: str) -> list[dict]:
    return [c.get("init_args", {}) for c in recipe["trainer"]["callbacks"] if c["class_path"] == class_path]


@pytest.mark.parametrize("name", sorted(p.name for p in RECIPES.glob("*.yaml")))
def test_recipe_keeps_last_and_best_checkpoint_on_the_evaluation_cadence(name):
    recipe = yaml.safe_load((RECIPES / name).read_text())
    (evaluation,) = callbacks(recipe, "ganlit.metrics.Evaluation")
    checkpoints = callbacks(recipe, "lightning.pytorch.callbacks.ModelCheckpoint")
    # last.ckpt is ganlit's LastCheckpoint (the `checkpoint:` section); no recipe hard-codes a folder.
    assert recipe["checkpoint"]["every_n_minutes"] > 0
    assert not any(c.get("save_last") or c.get("dirpath") for c in checkpoints)
    (best,) = [c for c in checkpoints if c.get("monitor")]
    digits = evaluation.get("features") == "digits"
    assert best["monitor"] == ("val/digits_fid" if digits else "val/fid") and best["mode"] == "min"
    assert best["save_top_k"] == 1 and not best.get("save_last")
    # The checkpoint is considered exactly when a fresh score exists.
    if evaluation.get("every_n_steps"):
        per_iteration = STEPS_PER_ITERATION.get(recipe["model"]["class_path"], 2)
        assert best["every_n_train_steps"] == evaluation["every_n_steps"] * per_iteration
        assert evaluation.get("every_n_epochs") == 0
    else:
        assert best["every_n_epochs"] == evaluation["every_n_epochs"] > 0


def _small(recipe: dict, tmp_path: Path, every: int) -> dict:
    """The recipe with its evaluation (and best checkpoint) every ``every`` epochs/iterations, run in tmp_path."""
    per_iteration = STEPS_PER_ITERATION.get(recipe["model"]["class_path"], 2)
    for cb in recipe["trainer"]["callbacks"]:
        args = cb.get("init_args", {})
        if "dirpath" in args:
            args["dirpath"] = str(tmp_path / "latest" / "checkpoints")
        if cb["class_path"] == "ganlit.metrics.Evaluation":
            args.update(batch_size=4, cache=False)
            if args.get("every_n_steps"):
                args["every_n_steps"] = every
            else:
                args["every_n_epochs"] = every
        elif args.get("monitor"):
            if "every_n_train_steps" in args:
                args["every_n_train_steps"] = round(every * per_iteration)
            else:
                args["every_n_epochs"] = every
        elif "every_n_train_steps" in args:
            args["every_n_train_steps"] = 1000
    recipe["trainer"].update(logger=False, enable_progress_bar=False, accelerator="cpu", devices=1,
                             default_root_dir=str(tmp_path))
    return recipe


@pytest.mark.slow
def test_pix2pix_recipe_logs_fid_and_keeps_the_best_checkpoint(tmp_path, monkeypatch, torch_home):
    from fixtures_data import write_paired_tree

    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    recipe = _small(yaml.safe_load((RECIPES / "pix2pix_facades.yaml").read_text()), tmp_path, every=1)
    recipe["trainer"]["max_epochs"] = 2
    recipe["model"].setdefault("init_args", {}).update(num_downs=5, ngf=4, ndf=4)
    recipe["data"]["init_args"].update(root=str(write_paired_tree(tmp_path / "data", n=4, size=32)),
                                       image_size=32, load_size=36, num_workers=0)
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    assert main(["fit", "--config", str(tmp_path / "recipe.yaml")]) == 0
    names = sorted(p.name for p in (tmp_path / "latest" / "checkpoints").glob("*.ckpt"))
    assert "last.ckpt" in names and len([n for n in names if n.startswith("best-fid-epoch")]) == 1, names


@pytest.mark.slow
def test_stargan_recipe_evaluates_on_iterations_and_keeps_the_best_checkpoint(tmp_path, monkeypatch, torch_home):
    import torch

    from fixtures_data import write_celeba_tree

    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    recipe = _small(yaml.safe_load((RECIPES / "stargan.yaml").read_text()), tmp_path, every=5)
    recipe["trainer"].update(max_steps=12, log_every_n_steps=1)
    recipe["model"]["init_args"].update(conv_dim=8, repeat_num=1, sample_every_n_steps=0)
    recipe["data"]["init_args"].update(root=str(write_celeba_tree(tmp_path / "celeba", n=12)), test_size=4,
                                       image_size=64, num_workers=0, batch_size=2)
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    assert main(["fit", "--config", str(tmp_path / "recipe.yaml")]) == 0
    # 12 optimizer steps = 10 iterations: FID after iterations 5 and 10, the best of them kept at step 6 or 12.
    (best,) = (tmp_path / "latest" / "checkpoints").glob("best-fid-step*.ckpt")
    assert best.name in ("best-fid-step0000006.ckpt", "best-fid-step0000012.ckpt")
    assert (tmp_path / "latest" / "checkpoints" / "last.ckpt").exists()
    states = torch.load(best, weights_only=True, map_location="cpu")["callbacks"]
    (state,) = [v for v in states.values() if v.get("monitor") == "val/fid"]
    assert torch.isfinite(state["best_model_score"]) and state["best_model_score"] > 0
