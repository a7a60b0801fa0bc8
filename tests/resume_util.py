"""Exact-resume check shared by the model families: N iterations in one go == N/2, stop, resume to N."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint


def _trainer(root: Path, **kw) -> L.Trainer:
    kw.setdefault("enable_checkpointing", "callbacks" in kw)
    return L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False,
                     enable_model_summary=False, default_root_dir=root, deterministic=True, **kw)


def assert_exact_resume(make_model: Callable[[], L.LightningModule], make_data: Callable[[], L.LightningDataModule],
                        tmp_path: Path, epochs: int = 2, stop_after_steps: int = 0, **trainer_kw) -> None:
    """Train ``epochs`` in one go; train again, stop after ``stop_after_steps`` optimizer steps (mid-epoch), save,
    resume from the file in a fresh process state, and require identical weights, buffers and optimizer states.
    ``trainer_kw`` (e.g. ``limit_train_batches``) go to all three trainers."""
    L.seed_everything(0)
    full = make_model()
    _trainer(tmp_path / "full", max_epochs=epochs, **trainer_kw).fit(full, make_data())

    L.seed_everything(0)
    first = make_model()
    # The checkpoint is written by ModelCheckpoint during training, as in a run that gets killed.
    saver = ModelCheckpoint(dirpath=tmp_path / "ckpts", every_n_train_steps=stop_after_steps, save_top_k=-1)
    t = _trainer(tmp_path / "half", max_steps=stop_after_steps, callbacks=[saver], **trainer_kw)
    t.fit(first, make_data())
    (ckpt,) = (tmp_path / "ckpts").glob("*.ckpt")
    assert 0 < int(first.iteration) < int(full.iteration), "the stop must fall strictly inside the run"

    L.seed_everything(123)  # whatever the process state is, the checkpoint decides
    resumed = make_model()
    rt = _trainer(tmp_path / "resumed", max_epochs=epochs, **trainer_kw)
    rt.fit(resumed, make_data(), ckpt_path=ckpt)

    a, b = full.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs after resume ({a[key].flatten()[:3]} vs {b[key].flatten()[:3]})"
    for o1, o2 in zip(full.optimizers(), resumed.optimizers()):
        s1, s2 = o1.optimizer.state_dict()["state"], o2.optimizer.state_dict()["state"]
        for k in s1:
            for name in s1[k]:
                assert torch.equal(s1[k][name], s2[k][name]), f"optimizer state {k}.{name} differs"
