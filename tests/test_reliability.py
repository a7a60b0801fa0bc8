"""Reliability: atomic checkpoints, refusing pickled code, surviving SIGKILL, bad recipes."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from recipes_util import RECIPES, run_recipe
from toy import ToyGAN, loader, trainer

from ganlit.checkpoint import AtomicCheckpointIO, UnsafeCheckpointError, load_module, read_checkpoint


class Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def write_evil(path: Path, marker: Path) -> Path:
    torch.save({"state_dict": {}, "payload": Evil(marker)}, path)
    return path


def test_pickled_code_is_refused_everywhere(tmp_path):
    evil = write_evil(tmp_path / "evil.ckpt", tmp_path / "pwned")
    with pytest.raises(UnsafeCheckpointError, match="evil.ckpt.*pickled code"):
        read_checkpoint(evil)
    with pytest.raises(UnsafeCheckpointError):
        load_module(evil)
    # Resuming a fit from it goes through the same safe loader.
    with pytest.raises(UnsafeCheckpointError):
        trainer(tmp_path, limit_train_batches=1).fit(ToyGAN(), loader(), ckpt_path=evil)
    assert not (tmp_path / "pwned").exists()
    # The control: an unsafe load would have run the code.
    torch.load(evil, weights_only=False)
    assert (tmp_path / "pwned").exists()


def test_atomic_save_keeps_the_previous_file_when_writing_fails(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"a": torch.ones(2)}, path)

    def broken_save(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        io.save_checkpoint({"a": torch.zeros(2)}, path)
    monkeypatch.undo()
    assert torch.equal(read_checkpoint(path)["a"], torch.ones(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_ganmodule_installs_atomic_io(tmp_path):
    t = trainer(tmp_path, limit_train_batches=1)
    t.fit(ToyGAN(), loader())
    assert isinstance(t.strategy.checkpoint_io, AtomicCheckpointIO)


def test_recipe_wrong_type_is_named_at_parse_time(tmp_path, capsys):
    assert run_recipe("quickstart.yaml", tmp_path, "--model.init_args.ngf", "wide") == 2
    err = capsys.readouterr().err
    assert err.strip() == "ganlit fit: error: bad value wide for model.init_args.ngf: expected int"


@pytest.mark.slow
def test_a_run_killed_with_sigkill_resumes_from_last(tmp_path):
    ckpts = tmp_path / "ckpts"
    base = [sys.executable, "-m", "ganlit", "fit", "--config", str(RECIPES / "quickstart.yaml"),
            "--trainer.logger", "false", "--trainer.enable_progress_bar", "false", "--trainer.max_epochs", "3",
            f"--trainer.default_root_dir={tmp_path}", "--model.init_args.ngf", "8", "--model.init_args.ndf", "8",
            "--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint",
            f"--trainer.callbacks.dirpath={ckpts}", "--trainer.callbacks.every_n_train_steps=10",
            "--trainer.callbacks.save_last=true"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(base, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while not (ckpts / "last.ckpt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert (ckpts / "last.ckpt").exists(), proc.stderr.read().decode()[-2000:] if proc.poll() is not None else ""
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = int(read_checkpoint(ckpts / "last.ckpt")["state_dict"]["iteration"])
    assert 0 < killed_at < 3 * 23
    done = subprocess.run(base + ["--ckpt_path", "last"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Restored all states from the checkpoint" in done.stderr
    assert "`max_epochs=3` reached" in done.stderr
    # Checkpoints every 10 optimizer steps (5 iterations): the last one is the last multiple of 5 iterations.
    assert int(read_checkpoint(ckpts / "last.ckpt")["state_dict"]["iteration"]) == 65
