"""Reliability: atomic checkpoints, refusing pickled code, bad recipes (interrupts and SIGKILL: test_run_resume.py)."""

import os
from pathlib import Path

import pytest
import torch
from recipes_util import run_recipe
from toy import ToyGAN, loader, trainer

from ganlit.checkpoint import AtomicCheckpointIO, UnsafeCheckpointError, load_module, read_checkpoint


class Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # unpickling it creates the marker folder (and leaves no file handle open)
        return (os.mkdir, (str(self.marker),))


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
