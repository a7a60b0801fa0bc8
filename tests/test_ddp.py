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
