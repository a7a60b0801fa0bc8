"""How long ``ganlit fit`` trains and what its progress bar says: ``--trainer.max_steps`` counts optimizer steps (two
per D-then-G iteration), ``--max_iterations`` counts iterations, and the bar counts iterations against the limit."""

import os
import re
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from toy import ToyGAN, loader

from ganlit.cli import main
from ganlit.progress import IterationLimit, iteration_limit

RECIPE = """
seed_everything: 0
trainer: {accelerator: cpu, devices: 1, max_epochs: -1, logger: false, enable_model_summary: false}
model:
  class_path: ganlit.models.CGAN
  init_args: {ngf: 8, ndf: 8}
data:
  class_path: ganlit.data.DigitsDataModule
  init_args: {task: generate, image_size: 16, batch_size: 8}
"""


def recipe(folder: Path) -> Path:
    path = folder / "recipe.yaml"
    path.write_text(RECIPE)
    return path


def saved(folder: Path) -> tuple[int, int]:
    """(the module's iteration, Lightning's global_step) in the run's last.ckpt."""
    (ckpt,) = folder.rglob("last.ckpt")
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    return int(state["state_dict"]["iteration"]), int(state["global_step"])


def bar_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.lstrip().startswith("Epoch")]


@pytest.mark.slow
def test_max_steps_4_trains_2_iterations_and_the_bar_counts_them(tmp_path):
    env = {**os.environ, "WANDB_MODE": "disabled", "NO_ALBUMENTATIONS_UPDATE": "1", "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "ganlit", "fit", "--config", str(recipe(tmp_path)),
                           "--trainer.max_steps", "4", "--trainer.default_root_dir", str(tmp_path / "runs")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert saved(tmp_path / "runs") == (2, 4)  # D and G: two optimizer steps per iteration
    lines = bar_lines(done.stdout)
    assert lines and all("/-" not in line for line in lines), done.stdout[-2000:]  # Lightning printed "Epoch 0/-2"
    assert re.search(r"^Epoch 0\s+\S+ 2/2 .*iteration: 2/2", lines[-1]), lines[-1]  # not 2/4


def test_max_iterations_stops_at_that_iteration_and_a_resumed_run_stays_there(tmp_path, capfd, caplog, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    args = ["fit", "--config", str(recipe(tmp_path)), "--max_iterations", "3", "--trainer.default_root_dir", "runs"]
    assert main(args) == 0
    out, err = capfd.readouterr()
    assert saved(tmp_path / "runs") == (3, 6)
    assert "ganlit: max_iterations=3 reached (iteration 3)" in caplog.text
    assert re.search(r"^Epoch 0\s+\S+ 3/3 .*iteration: 3/3", bar_lines(out)[-1]), out[-2000:]
    assert main(args + ["--ckpt_path", "last"]) == 0  # already at the limit: not one step more
    assert saved(tmp_path / "runs") == (3, 6)
    assert main(args[:-4] + ["--max_iterations", "0", "--trainer.default_root_dir", "runs"]) == 2
    assert "ganlit fit: error: max_iterations=0: expected an integer >= 1" in capfd.readouterr().err


def test_max_steps_become_iterations_through_the_cadence(tmp_path):
    """Five D phases and one G (StarGAN's n_critic 5) take 6 optimizer steps per 5 iterations: max_steps 6 is
    iteration 5, and the bar's limit says so before the first step."""
    seen = []

    class Record(L.Callback):
        def on_train_start(self, trainer, pl_module):
            seen.append(iteration_limit(trainer, pl_module))

    model = ToyGAN(n_critic=5)
    L.Trainer(max_steps=6, max_epochs=-1, callbacks=[Record()], logger=False, enable_checkpointing=False,
              enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
              accelerator="cpu").fit(model, loader())
    assert seen == [5] and int(model.iteration) == 5
    trainer = L.Trainer(max_steps=6, callbacks=[IterationLimit(4)], logger=False)
    trainer.strategy.connect(ToyGAN(n_critic=5))
    assert iteration_limit(trainer, trainer.lightning_module) == 4  # the earlier of the two limits
