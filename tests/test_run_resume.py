"""Runs are never lost or mixed: exact resume from the command line, interrupts, hard kills, run folders.

Every family trains N iterations straight and, separately, stops at N/2 mid-epoch (max_steps, or a Ctrl-C that
lands at a known iteration), then resumes with ``--ckpt_path last`` to N; the two last.ckpt files must agree on
every weight, EMA, optimizer and scheduler state, image pool, iteration counter and RNG state. The signal tests run
the real ``ganlit`` command in a subprocess.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from recipes_util import RECIPES

from ganlit.checkpoint import read_checkpoint
from ganlit.cli import main
from ganlit.runs import find_last, new_run_dir, RunFinished

TESTS = Path(__file__).resolve().parent
SMALL = ["--trainer.logger=false", "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
         "--trainer.max_epochs=2", "--trainer.limit_train_batches=4"]
DIGITS = {"class_path": "ganlit.data.DigitsDataModule", "init_args": {"num_workers": 0}}
FAMILIES = {
    # name: (model class, model args, data args, optimizer steps after 6 of the 8 iterations)
    "pix2pix": ("Pix2Pix", dict(num_downs=6, ngf=4, ndf=4, n_layers=2, ema_decay=0.9),  # dropout block in the U-Net
                dict(task="paired", image_size=64, batch_size=4), 12),
    "cyclegan": ("CycleGAN", dict(ngf=4, ndf=4, n_blocks=1, n_layers=2, pool_size=3),
                 dict(task="unpaired", image_size=16, batch_size=2), 12),
    "stargan": ("StarGAN", dict(conv_dim=4, repeat_num=1, d_conv_dim=4, d_repeat_num=3,
                                exclusive_attrs=["red", "green", "blue"]),
                dict(task="attributes", image_size=16, batch_size=4), 7),  # 5 D steps per G step
    "paired_cyclegan": ("PairedCycleGAN", dict(ngf=4, ndf=4, n_blocks_g=1, n_blocks_f=1, n_layers_d=2, n_layers_s=2,
                                               pretrain_removal_epochs=1),  # epoch 2 switches to the full model
                        dict(task="makeup", image_size=32, batch_size=2), 12),
}


def family_config(tmp_path: Path, family: str) -> list[str]:
    """``--config`` for a family: the quickstart recipe (CGAN) or a digits config of the family."""
    if family == "cgan":
        return ["--config", str(RECIPES / "quickstart.yaml"), "--model.init_args.ngf=8", "--model.init_args.ndf=8"]
    name, model_args, data_args, _ = FAMILIES[family]
    config = {"seed_everything": 0, "trainer": {"accelerator": "cpu", "devices": 1, "default_root_dir": "runs"},
              "model": {"class_path": f"ganlit.models.{name}", "init_args": model_args},
              "data": {**DIGITS, "init_args": {**DIGITS["init_args"], **data_args}}}
    path = tmp_path / f"{family}.yaml"
    path.write_text(yaml.safe_dump(config))
    return ["--config", str(path)]


def equal(a, b, where: str = "") -> None:
    """Assert two checkpoint trees are identical, tensors bit for bit."""
    if torch.is_tensor(a):
        assert torch.is_tensor(b) and a.shape == b.shape and torch.equal(a, b), f"{where} differs"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), f"{where}: keys {sorted(map(str, a))} vs {sorted(map(str, b))}"
        for k in a:
            equal(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            equal(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"


def assert_same_training_state(straight: Path, resumed: Path) -> None:
    a, b = read_checkpoint(straight), read_checkpoint(resumed)
    for key in ("state_dict", "optimizer_states", "lr_schedulers", "ganlit_rng", "epoch", "global_step"):
        equal(a[key], b[key], key)
    equal(a.get("image_pools"), b.get("image_pools"), "image_pools")
    assert int(a["state_dict"]["iteration"]) == 8


def last(root: Path, version: int) -> Path:
    return root / f"version_{version}" / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """``straight(family)``: last.ckpt of the family trained 8 iterations in one go (trained once per module)."""
    done: dict[str, Path] = {}

    def get(family: str) -> Path:
        if family not in done:
            folder = tmp_path_factory.mktemp(f"straight-{family}")
            with pytest.MonkeyPatch.context() as mp:
                mp.chdir(folder)
                assert main(["fit", *family_config(folder, family), *SMALL]) == 0
            root = folder / "runs" / ("quickstart" if family == "cgan" else "")
            done[family] = last(root, 0)
        return done[family]

    return get


@pytest.mark.slow
@pytest.mark.parametrize("family", ["cgan", *FAMILIES])
def test_command_line_resume_mid_epoch_is_exact(family, tmp_path, monkeypatch, capsys, straight):
    monkeypatch.chdir(tmp_path)
    config = family_config(tmp_path, family)
    root = tmp_path / "runs" / ("quickstart" if family == "cgan" else "")
    if family == "cgan":  # the case: stopped by max_steps after 6 of the 8 iterations (epoch 2, batch 2)
        assert main(["fit", *config, *SMALL, "--trainer.max_steps=12"]) == 0
    else:  # a Ctrl-C that lands at the start of iteration 6: the step finishes, then last.ckpt is saved
        stop = ["--trainer.callbacks+=signal_util.SendSignal", "--trainer.callbacks.at_iteration=5"]
        assert main(["fit", *config, *SMALL, *stop]) == 130
    half = read_checkpoint(last(root, 0))
    assert int(half["state_dict"]["iteration"]) == 6
    assert half["global_step"] == (12 if family == "cgan" else FAMILIES[family][3])
    assert main(["fit", *config, *SMALL, "--ckpt_path", "last"]) == 0
    assert not (root / "version_1").exists()  # resumed in its own folder
    assert_same_training_state(straight(family), last(root, 0))
    if family == "cgan":  # now finished: `last` says so, and how to extend it, and trains nothing
        capsys.readouterr()
        assert main(["fit", *config, *SMALL, "--ckpt_path", "last"]) == 0
        err = capsys.readouterr().err
        assert ("ganlit: the run of runs/quickstart/version_0/checkpoints/last.ckpt has already finished:"
                " max_epochs=2 reached (2 epochs done). To train it further, raise the limit, e.g."
                " --trainer.max_epochs 4 --ckpt_path runs/quickstart/version_0/checkpoints/last.ckpt") in err
        assert not (root / "version_1").exists()
        with pytest.raises(RunFinished):
            find_last(root, 2, -1)
        assert find_last(root, 3, -1).path == last(root, 0)  # a higher limit makes it resumable again


def test_last_is_the_newest_unfinished_run(tmp_path):
    root = tmp_path / "runs"
    with pytest.raises(ValueError, match="no run under .* has a checkpoints/last.ckpt"):
        find_last(root, 2, -1)
    for version, (epochs, step) in enumerate([(2, 16), (1, 8), (2, 16)]):
        path = last(root, version)
        path.parent.mkdir(parents=True)
        progress = {"current": {"processed": epochs}}
        torch.save({"global_step": step, "ganlit_class": "ganlit.models.cgan.CGAN",
                    "loops": {"fit_loop": {"epoch_progress": progress}}}, path)
    assert find_last(root, 2, -1).path == last(root, 1)  # version_2 reached max_epochs=2: the newest unfinished
    assert find_last(root, 3, -1).path == last(root, 2)  # with a higher limit the newest is unfinished again
    assert find_last(root, None, 10).path == last(root, 1)  # max_steps counts optimizer steps
    with pytest.raises(RunFinished, match="version_2/checkpoints/last.ckpt has already finished: max_epochs=1"):
        find_last(root, 1, -1)


def test_a_checkpoint_of_another_model_class_is_refused_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ckpt = tmp_path / "cgan.ckpt"
    torch.save({"global_step": 12, "ganlit_class": "ganlit.models.cgan.CGAN", "hyper_parameters": {"ngf": 8}}, ckpt)
    capsys.readouterr()
    code = main(["fit", *family_config(tmp_path, "cyclegan"), *SMALL, "--ckpt_path", str(ckpt)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1] == (f"ganlit: {ckpt} is a checkpoint of ganlit.models.cgan.CGAN, but the config trains "
                       "ganlit.models.CycleGAN; resume it with the config it was trained with")
    assert not (tmp_path / "runs").exists()  # nothing created


def test_run_folders_are_numbered_and_latest_points_to_the_newest(tmp_path):
    assert new_run_dir(tmp_path).name == "version_0"
    (tmp_path / "version_7").mkdir()
    assert new_run_dir(tmp_path).name == "version_8"
    assert os.readlink(tmp_path / "latest") == "version_8"


@pytest.mark.slow
def test_a_resumed_run_logs_to_the_same_wandb_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    config = [*family_config(tmp_path, "cgan"), *[a for a in SMALL if "logger" not in a]]
    root = tmp_path / "runs" / "quickstart"
    assert main(["fit", *config, "--trainer.max_steps=2"]) == 0
    run_id = read_checkpoint(last(root, 0))["ganlit_run"]["wandb_id"]
    assert run_id
    assert main(["fit", *config, "--trainer.max_steps=4", "--ckpt_path", "last"]) == 0
    assert read_checkpoint(last(root, 0))["ganlit_run"]["wandb_id"] == run_id
    # Offline, each process writes a folder named offline-run-<time>-<id>; `wandb sync` joins them into one run.
    assert {p.name.rsplit("-", 1)[1] for p in (root / "version_0" / "wandb").glob("offline-run-*")} == {run_id}


def test_a_requeued_slurm_job_continues_in_its_own_run_folder(tmp_path, monkeypatch):
    from jsonargparse import Namespace

    from ganlit.run_config import RUN_DIR_ENV, place_run

    monkeypatch.setenv(RUN_DIR_ENV, "")  # restored (removed) after the test
    monkeypatch.delenv("SLURM_ARRAY_JOB_ID", raising=False)

    def config() -> Namespace:
        trainer = Namespace(default_root_dir=str(tmp_path), max_epochs=2, max_steps=-1, logger=None, callbacks=None)
        return Namespace(trainer=trainer, ckpt_path=None, model=None, checkpoint=Namespace(dirpath=None))

    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    first = place_run(config())
    assert first == tmp_path / "version_0" and (first / "slurm_job_id").read_text() == "4242\n"
    (first / "checkpoints").mkdir()
    (first / "checkpoints" / "last.ckpt").write_bytes(b"")
    requeued = config()
    assert place_run(requeued) == first  # the same job id after `scontrol requeue`: same folder, from last.ckpt
    assert requeued.ckpt_path == str(first / "checkpoints" / "last.ckpt")
    assert requeued.trainer.default_root_dir == str(first)
    assert requeued.checkpoint.dirpath == str(first / "checkpoints")
    monkeypatch.setenv("SLURM_JOB_ID", "4243")
    assert place_run(config()) == tmp_path / "version_1"  # another job: a run of its own


# ------------------------------------------------------------------ the real command, in a subprocess
def ganlit(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    # The thread count of this process: float sums over threads must split alike to compare with the in-process run.
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads()),
           "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "ganlit", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_ctrl_c_saves_last_and_the_printed_command_resumes_exactly(tmp_path, monkeypatch, straight):
    stop = ["--trainer.callbacks+=signal_util.SendSignal", "--trainer.callbacks.at_iteration=5"]
    run = ganlit(tmp_path, "fit", *family_config(tmp_path, "cgan"), *SMALL, *stop)
    assert run.returncode == 130, run.stderr[-3000:]
    ckpt = (tmp_path / "runs/quickstart/version_0/checkpoints/last.ckpt").resolve()
    (line,) = [x for x in run.stderr.splitlines() if x.startswith("ganlit: SIGINT: saved")]
    saved, command = line.removeprefix("ganlit: SIGINT: saved ").split("; resume with: ")
    assert Path(saved).resolve() == ckpt and command.endswith(f"--ckpt_path {ckpt}")
    assert int(read_checkpoint(ckpt)["state_dict"]["iteration"]) == 6  # the step it was in, finished
    args = shlex.split(command)
    assert args[0] == "ganlit"
    monkeypatch.chdir(tmp_path)
    assert main(args[1:]) == 0  # the printed command, run in this process
    assert_same_training_state(straight("cgan"), ckpt)


@pytest.mark.slow
def test_sigkill_loses_at_most_the_periodic_interval_and_resume_is_exact(tmp_path, monkeypatch, straight):
    kill = ["--trainer.callbacks+=signal_util.SendSignal", "--trainer.callbacks.at_iteration=5",
            "--trainer.callbacks.signal_name=SIGKILL", "--checkpoint.every_n_iterations=2"]
    run = ganlit(tmp_path, "fit", *family_config(tmp_path, "cgan"), *SMALL, *kill)
    assert run.returncode == -signal.SIGKILL
    ckpt = tmp_path / "runs/quickstart/version_0/checkpoints/last.ckpt"
    assert 0 < int(read_checkpoint(ckpt)["state_dict"]["iteration"]) <= 5  # a periodic save exists
    monkeypatch.chdir(tmp_path)
    assert main(["fit", *family_config(tmp_path, "cgan"), *SMALL, "--ckpt_path", "last"]) == 0
    assert_same_training_state(straight("cgan"), ckpt)


@pytest.mark.slow
def test_sigterm_exits_143_after_saving_and_a_second_ctrl_c_quits_at_once(tmp_path):
    term = ganlit(tmp_path, "fit", *family_config(tmp_path, "cgan"), *SMALL,
                  "--trainer.callbacks+=signal_util.SendSignal", "--trainer.callbacks.at_iteration=3",
                  "--trainer.callbacks.signal_name=SIGTERM")
    assert term.returncode == 143, term.stderr[-3000:]
    assert "ganlit: SIGTERM: saved " in term.stderr
    ckpt = tmp_path / "runs/quickstart/version_0/checkpoints/last.ckpt"
    assert int(read_checkpoint(ckpt)["state_dict"]["iteration"]) == 4
    twice = ganlit(tmp_path, "fit", *family_config(tmp_path, "cgan"), *SMALL, "--checkpoint.every_n_iterations=2",
                   "--trainer.callbacks+=signal_util.SendSignal", "--trainer.callbacks.at_iteration=3",
                   "--trainer.callbacks.times=2")
    assert twice.returncode == 130, twice.stderr[-3000:]
    assert "SIGINT: saved" not in twice.stderr
    folder = tmp_path / "runs/quickstart/version_1/checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == ["last.ckpt"]  # no temporary file left behind
    assert int(read_checkpoint(folder / "last.ckpt")["state_dict"]["iteration"]) == 2


@pytest.mark.parametrize("options, saved_at", [
    (dict(every_n_minutes=10), [3, 6, 8]),  # 4 minutes per batch: after 12 and 24 minutes, then the epoch end
    (dict(every_n_minutes=None, every_n_iterations=5), [5, 8]),
])
def test_last_ckpt_is_refreshed_on_the_clock_every_n_iterations_and_at_epoch_end(options, saved_at, tmp_path,
                                                                                 monkeypatch):
    import types

    import lightning as L
    from toy import ToyGAN, loader

    import ganlit.callbacks
    from ganlit.callbacks import LastCheckpoint

    now = [0.0]  # a fake clock: the test never depends on how fast this machine is
    monkeypatch.setattr(ganlit.callbacks, "time", types.SimpleNamespace(monotonic=lambda: now[0]))

    class Clock(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            now[0] += 240.0

    saver = LastCheckpoint(dirpath=str(tmp_path / "checkpoints"), **options)
    saves = []
    original = saver._save_last_checkpoint
    monkeypatch.setattr(saver, "_save_last_checkpoint",
                        lambda trainer, m: (saves.append(int(trainer.lightning_module.iteration)), original(trainer, m)))
    trainer = L.Trainer(max_epochs=1, logger=False, accelerator="cpu", enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path, callbacks=[Clock(), saver])
    trainer.fit(ToyGAN(), loader(n=64, batch_size=8))  # 8 iterations
    assert saves == saved_at
    assert int(read_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["state_dict"]["iteration"]) == 8
