"""A short ``ganlit fit`` prints only the progress bar, ganlit's own lines, W&B's run notice and the summary."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

RECIPE = Path(__file__).resolve().parent.parent / "recipes" / "quickstart.yaml"

# What a user could not act on, seen on every fit before ganlit silenced or fixed it at its source.
NOISE = ("args parameter is intended", "no `validation_step`", "overridden `on_after_batch_transfer`", "LeafSpec",
         "anonymous setting", "git root", "litlogger", "litmodels", "worker processes in total")


@pytest.mark.slow
def test_short_fit_prints_no_warning(tmp_path):
    env = {**os.environ, "WANDB_MODE": "offline"}  # the recipe's W&B logger runs, as for a user without a login
    env.pop("PYTHONWARNINGS", None)
    proc = subprocess.run([sys.executable, "-m", "ganlit", "fit", "--config", str(RECIPE), "--trainer.max_steps=2"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert (tmp_path / "runs/quickstart/version_0/checkpoints/last.ckpt").is_file()
    for noise in NOISE:
        assert noise not in output, noise
    warnings = [ln for ln in output.splitlines() if re.search(r"(?i)warn|deprecat|💡", ln)]
    assert warnings == [], warnings
