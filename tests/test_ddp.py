"""DDP with 2 CPU processes (gloo): ranks stay identical and match one process on the combined batch."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parent / "ddp_script.py"


def run(out: Path, devices: int, batch_size: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(SCRIPT.parent), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(SCRIPT), str(out), str(devices), str(batch_size)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
def test_two_gloo_ranks_match_one_process_on_the_combined_batch(tmp_path):
    run(tmp_path, devices=2, batch_size=4)
    run(tmp_path, devices=1, batch_size=8)
    r0, r1 = (torch.load(tmp_path / f"devices2_rank{r}.pt") for r in (0, 1))
    single = torch.load(tmp_path / "devices1_rank0.pt")
    for key, value in r0["state"].items():
        assert torch.equal(value, r1["state"][key]), f"{key} differs between ranks"
        assert torch.allclose(value, single["state"][key], atol=1e-5), f"{key} differs from the single process"
    assert int(r0["state"]["iteration"]) == 4
    # Each rank's loss is the mean over its half: their average is the loss on the combined batch.
    mean = [(a + b) / 2 for a, b in zip(r0["losses"], r1["losses"])]
    assert mean == pytest.approx(single["losses"], abs=1e-5)


@pytest.mark.slow
def test_plain_ddp_strategy_trains_a_gan_and_the_protocol_names_the_processes(tmp_path):
    """`--trainer.strategy ddp` (plain DDP refuses the parameters a GAN phase leaves unused) runs as the
    find-unused variant, and the evaluation's protocol says how many processes generated the images."""
    from recipes_util import tiny_quickstart_recipe

    recipe = tiny_quickstart_recipe(tmp_path, num_samples=40, num_real=40)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"}
    done = subprocess.run(
        [sys.executable, "-m", "ganlit", "fit", "--config", str(recipe), "--trainer.strategy", "ddp",
         "--trainer.devices", "2", "--trainer.accelerator", "cpu", "--trainer.max_epochs", "1",
         "--trainer.limit_train_batches", "2", "--trainer.enable_progress_bar", "false",
         "--trainer.default_root_dir", str(tmp_path / "runs")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "ganlit: strategy ddp_find_unused_parameters_true" in out
    assert "processes    2 (process r generates items r, r+2, ... from seed 0 + r)" in out, out[-3000:]
    assert (tmp_path / "runs" / "version_0" / "checkpoints" / "last.ckpt").is_file()
