"""``ganlit validate`` / ``test`` / ``predict`` for every model family, through the real command.

One tiny checkpoint per family (2 iterations on its digits task) in a ``version_0/checkpoints`` run folder, as
``ganlit fit`` lays it out. Each command runs in a fresh, empty working directory, a few as subprocesses
(``python -m ganlit``), the rest in-process (``ganlit.cli.main``). Checked: validate/test metrics carry the loop's
split and equal a direct :func:`ganlit.metrics.evaluate_model` call (FID/KID/IS, the callback's protocol) or
:meth:`GANModule.evaluation_losses` over the same batches (losses); predict's PNGs (count, names) equal, pixel for
pixel, the uint8 of the model's own ``translate``/``sample`` of each recorded batch; nothing new appears in the
working directory after a success or a failure. Gatys style transfer (``ganlit.StyleTransfer``) is not here: it
optimises one image (``ganlit stylize``) and has no fit, hence no checkpoint to validate, test or predict with.
"""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image
from predict_util import (
    EVALUATION,
    FAMILIES,
    families,
    assert_close,
    command,
    csv_logger,
    direct_evaluation,
    expected_outputs,
    fresh_dir,
    logged,
    printed,
    subprocess_ganlit,
)

from ganlit.callbacks import prediction_names
from ganlit.cli import main
from ganlit.data.base import SampleDataset
from ganlit.data.digits import ATTRS, DigitsDataModule
from ganlit.utils.outputs import image_names, rounded_uint8

QUICKSTART = Path(__file__).resolve().parent.parent / "recipes" / "quickstart.yaml"
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory, one_thread) -> dict[str, Path]:
    """``<family>/version_0/checkpoints/last.ckpt``: 2 training iterations of each tiny family on its digits task."""
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for name, (make, task, size) in families().items():
        torch.manual_seed(0)
        trainer = L.Trainer(default_root_dir=root / name, max_steps=2, accelerator="cpu", logger=False,
                            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
        trainer.fit(make(), datamodule=DigitsDataModule(task=task, image_size=size, batch_size=4))
        path = root / name / "version_0" / "checkpoints" / "last.ckpt"
        trainer.save_checkpoint(path)
        out[name] = path
    return out


@pytest.mark.slow
def test_quickstart_validate_reports_the_recipe_metrics_on_val(tmp_path):
    """The recipe's fast path, as typed: a tiny `ganlit fit --config recipes/quickstart.yaml`, then
    `ganlit validate --config recipes/quickstart.yaml --ckpt_path <run>/checkpoints/last.ckpt` in a subprocess."""
    work = fresh_dir(tmp_path, "fit")
    assert main(["fit", "--config", str(QUICKSTART), "--trainer.max_steps", "2", "--trainer.logger", "false",
                 "--trainer.enable_progress_bar", "false"]) == 0
    ckpt = work / "runs" / "quickstart" / "version_0" / "checkpoints" / "last.ckpt"
    before = sorted(p.name for p in ckpt.parent.parent.iterdir())
    cwd = fresh_dir(tmp_path, "validate")
    proc = subprocess_ganlit(["validate", "--config", str(QUICKSTART), "--ckpt_path", str(ckpt),
                              "--trainer.enable_progress_bar", "false"], cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = printed(proc.stdout)
    assert metrics and all(k.startswith("val/") for k in metrics), proc.stdout[-2000:]
    direct = direct_evaluation(ckpt, "generate", 16, "val")
    for key in ("digits_fid", "digits_kid_mean", "digits_kid_std", "digits_is_mean", "digits_is_std"):
        assert_close(metrics[f"val/{key}"], direct[key], key)
    assert {"val/d_loss", "val/g_loss", "val/d_real", "val/d_fake"} <= set(metrics)
    assert "real_split   test" in proc.stderr + proc.stdout  # the digits val split is the test split, and says so
    assert list(cwd.iterdir()) == []  # no config.yaml, no wandb/, no lightning_logs/
    assert sorted(p.name for p in ckpt.parent.parent.iterdir()) == before  # nor a second config in the run


@pytest.mark.slow
def test_test_subprocess_reports_test_metrics_of_a_translation_model(ckpts, tmp_path):
    """`ganlit test` of CycleGAN with the Evaluation callback: test/ keys, per direction, equal to a direct call."""
    cwd = fresh_dir(tmp_path, "test")
    proc = subprocess_ganlit(command("cyclegan", "test", ckpts["cyclegan"], *csv_logger(tmp_path / "logs"),
                                     *EVALUATION, "--trainer.limit_test_batches", "1"), cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = logged(tmp_path / "logs", "test")
    assert metrics and all(k.startswith("test/") for k in metrics)
    direct = direct_evaluation(ckpts["cyclegan"], "unpaired", 16, "test")
    for key in ("digits_fid", "digits_fid_AtoB", "digits_fid_BtoA", "digits_kid_mean_AtoB", "digits_is_mean_BtoA"):
        assert_close(metrics[f"test/{key}"], direct[key], key)
    assert {"test/loss_cycle_A", "test/loss_D_A", "test/g_loss"} <= set(metrics)
    assert printed(proc.stdout)["test/digits_fid"] == pytest.approx(direct["digits_fid"], rel=1e-5)
    assert list(cwd.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("name", ["stargan", "paired_cyclegan"])
def test_validate_in_process_with_evaluation(ckpts, tmp_path, name):
    """`ganlit validate` with the Evaluation callback: val/ metrics equal a direct call on the val split; the
    StarGAN D loss keeps its gradient penalty (autograd inside Lightning's inference mode)."""
    _, task, size = families()[name]
    cwd = fresh_dir(tmp_path, "validate")
    assert main(command(name, "validate", ckpts[name], *csv_logger(tmp_path / "logs"), *EVALUATION,
                        "--trainer.limit_val_batches", "1")) == 0
    metrics = logged(tmp_path / "logs", "validate")
    assert metrics and all(k.startswith("val/") for k in metrics)
    direct = direct_evaluation(ckpts[name], task, size, "val")
    for key, value in direct.items():
        assert_close(metrics[f"val/{key}"], value, key)
    if name == "stargan":
        assert metrics["val/d_loss_gp"] > 0 and math.isfinite(metrics["val/d_loss"])
    assert list(cwd.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gan", "cgan", "pix2pix", "pan", "discogan"])
@pytest.mark.parametrize("subcommand", ["validate", "test"])
def test_losses_without_an_evaluation_callback(ckpts, tmp_path, name, subcommand):
    """Without an Evaluation callback validate/test still report the loss terms of both phases, under the loop's
    split, equal to GANModule.evaluation_losses over the same batches (seeded by the batch index)."""
    from ganlit.checkpoint import load_module
    from ganlit.models.steps import seeded

    split = "val" if subcommand == "validate" else "test"
    cwd = fresh_dir(tmp_path, subcommand)
    assert main(command(name, subcommand, ckpts[name], *csv_logger(tmp_path / "logs"),
                        f"--trainer.limit_{split}_batches", "2")) == 0
    metrics = logged(tmp_path / "logs", subcommand)
    assert {f"{split}/d_loss", f"{split}/g_loss"} <= set(metrics)
    assert all(k.startswith(f"{split}/") for k in metrics)
    assert list(cwd.iterdir()) == []
    if name in ("gan", "cgan", "pix2pix", "pan"):  # their held-out batches are deterministic: recompute them
        _, task, size = families()[name]
        model = load_module(ckpts[name])
        dm = DigitsDataModule(task=task, image_size=size, batch_size=16)
        dm.setup(subcommand)
        loader = dm.val_dataloader() if split == "val" else dm.test_dataloader()
        sums: dict[str, float] = {}
        count = 0
        for i, batch in zip(range(2), loader):
            with seeded(torch.device("cpu"), i):
                logs = model.evaluation_losses(batch)
            n = next(iter(batch.values())).size(0)
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + float(v) * n
            count += n
        for k, total in sums.items():
            assert_close(metrics[f"{split}/{k}"], total / count, k)


def test_fit_runs_no_validation_loop_and_validate_after_fit_sees_all_batches(tmp_path):
    """GANModule keeps fit as the papers train (no validation pass, no draw from the training RNG between epochs);
    the same Trainer's validate() afterwards runs the loop with the limit it was given."""
    from ganlit.models import GAN

    calls = []

    class Counting(GAN):
        def validation_step(self, batch, batch_idx, dataloader_idx=0):
            calls.append(self.trainer.state.fn)
            return super().validation_step(batch, batch_idx)

    torch.manual_seed(0)
    model = Counting(image_size=16, channels=1, ngf=4, ndf=4)
    trainer = L.Trainer(default_root_dir=tmp_path, max_epochs=1, limit_train_batches=2, limit_val_batches=3,
                        accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    dm = DigitsDataModule(task="generate", image_size=16, batch_size=8)
    trainer.fit(model, datamodule=dm)
    assert calls == [] and trainer.limit_val_batches == 3
    (result,) = trainer.validate(model, datamodule=dm, verbose=False)
    assert len(calls) == 3 and {"val/d_loss", "val/g_loss"} <= set(result)


# ----------------------------------------------------------------------------- predict
@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILIES)
def test_predict_writes_the_models_own_outputs(ckpts, tmp_path, name):
    """`ganlit predict` writes one PNG per item and output into <run>/predictions, each equal (uint8, pixel for
    pixel) to the model's translate/sample of that batch; StarGAN runs as a subprocess, the rest in-process."""
    from ganlit.checkpoint import load_module
    from ganlit.models.steps import seeded

    sampling = name in ("gan", "cgan")
    extra = ["--data.init_args.predict_samples", "20"] if sampling else ["--trainer.limit_predict_batches", "2"]
    cwd = fresh_dir(tmp_path, "predict")
    record = tmp_path / "batches.pt"
    args = command(name, "predict", ckpts[name], "--trainer.callbacks+=predict_util.RecordPredictBatches",
                   f"--trainer.callbacks.path={record}", *extra, batch_size=8)
    if name == "stargan":
        proc = subprocess_ganlit(args, cwd)
        assert proc.returncode == 0 and "ganlit predict: wrote" in proc.stdout, proc.stderr[-3000:]
    else:
        assert main(args) == 0
    batches = torch.load(record, weights_only=False)
    out = ckpts[name].parent.parent / "predictions"
    assert list(cwd.iterdir()) == []
    model = load_module(ckpts[name])
    _, task, size = families()[name]
    dm = DigitsDataModule(task=task, image_size=size, predict_samples=20)
    dm.setup("predict")
    dataset = dm.predict_set if dm.predict_set is not None else dm.test_set
    if sampling:
        assert isinstance(dataset, SampleDataset) and len(batches) == 3  # 20 samples in batches of 8
    names = prediction_names(dataset, name == "cgan")
    written = 0
    for batch_idx, batch in batches:
        with torch.no_grad(), seeded(torch.device("cpu"), batch_idx):
            expected = expected_outputs(name, model, batch)
        first = batch_idx * 8
        for key, images in expected.items():
            for i, image in enumerate(images):
                path = (out / key if key else out) / names[first + i]
                assert np.array_equal(np.asarray(Image.open(path)), rounded_uint8(image)), f"{path} differs"
                written += 1
    files = sorted(p.relative_to(out) for p in out.rglob("*.png"))
    assert len(files) == written == (20 if sampling else 16 * len(expected))
    if name == "cgan":
        assert {f.name for f in files} == set(image_names([i % 10 for i in range(20)], 20))
        assert "3_1.png" in {f.name for f in files}  # <class>_<index>, as ganlit sample names them
    if name == "gan":
        assert {f.name for f in files} == {f"{i:02d}.png" for i in range(20)}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cyclegan", "stargan"])
def test_predict_on_a_folder_of_images(ckpts, tmp_path, name):
    """A folder of images (ImageFolderDataModule) goes through the model's translate in its default direction
    (StarGAN: the official test row, every attribute 0 as in `ganlit translate`), one PNG named after each input."""
    from ganlit.checkpoint import load_module

    (tmp_path / "photos").mkdir()
    for i in range(3):
        pixels = np.random.default_rng(i).integers(0, 255, (20, 20, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / "photos" / f"p{i}.png")
    cwd, record, out = fresh_dir(tmp_path, "predict"), tmp_path / "batches.pt", tmp_path / "out"
    cls = type(families()[name][0]())
    assert main(["predict", "--model", f"{cls.__module__}.{cls.__name__}", "--data", "ganlit.data.ImageFolderDataModule",
                 "--data.init_args.root", str(tmp_path / "photos"), "--data.init_args.image_size", "16",
                 "--data.init_args.num_workers", "0", "--ckpt_path", str(ckpts[name]), "--trainer.accelerator", "cpu",
                 "--prediction.output_dir", str(out), "--trainer.callbacks+=predict_util.RecordPredictBatches",
                 f"--trainer.callbacks.path={record}"]) == 0
    ((_, batch),) = torch.load(record, weights_only=False)
    model, x = load_module(ckpts[name]), batch["image"]
    with torch.no_grad():
        expected = model.translate(x) if name == "cyclegan" else model.translate(x, c_org=torch.zeros(3, len(ATTRS)))
    assert sorted(p.name for p in out.iterdir()) == ["p0.png", "p1.png", "p2.png"] and list(cwd.iterdir()) == []
    for i, image in enumerate(expected):
        assert np.array_equal(np.asarray(Image.open(out / f"p{i}.png")), rounded_uint8(image))


@pytest.mark.slow
def test_predict_equals_ganlit_sample_and_refuses_to_overwrite(ckpts, tmp_path):
    """With the same batch size, `ganlit predict` of a CGAN writes the files `ganlit sample` writes, byte for
    byte; a second predict into the same folder is refused (one line, exit 2) until --prediction.overwrite."""
    ckpt = ckpts["cgan"]
    cwd = fresh_dir(tmp_path, "predict")
    out = tmp_path / "preds"
    args = command("cgan", "predict", ckpt, "--data.init_args.predict_samples", "12",
                   "--prediction.output_dir", str(out), batch_size=8)
    assert main(args) == 0
    assert main(["sample", "--ckpt", str(ckpt), "--num", "12", "--batch-size", "8", "--output",
                 str(tmp_path / "s")]) == 0
    mine = sorted(p.name for p in out.iterdir())
    assert mine == sorted(p.name for p in (tmp_path / "s").iterdir()) and len(mine) == 12
    for n in mine:
        assert np.array_equal(np.asarray(Image.open(out / n)), np.asarray(Image.open(tmp_path / "s" / n)))
    stamp = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert main(args) == 2
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamp  # untouched
    assert main([*args, "--prediction.overwrite", "true"]) == 0
    assert list(cwd.iterdir()) == []


# ----------------------------------------------------------------------------- failures leave nothing behind
@pytest.mark.slow
def test_failed_commands_leave_nothing_in_the_working_directory(ckpts, tmp_path):
    """A misspelled key (parse), a checkpoint of another model (setup), and a data module without its files
    (after the trainer and its W&B logger exist, W&B offline) each fail in one line and leave cwd empty."""
    cwd = fresh_dir(tmp_path, "bad")
    assert main(["validate", "--config", str(QUICKSTART), "--trainer.max_epocs", "3",
                 "--ckpt_path", str(ckpts["cgan"])]) == 2
    assert main(["predict", "--config", str(QUICKSTART), "--ckpt_path", str(ckpts["cyclegan"])]) == 2
    assert main(["test", "--config", str(QUICKSTART), "--ckpt_path", str(tmp_path / "missing.ckpt")]) == 2
    assert list(cwd.iterdir()) == []
    run = ckpts["cgan"].parent.parent
    before = sorted(str(p) for p in run.rglob("*"))
    proc = subprocess_ganlit(["validate", "--config", str(QUICKSTART), "--data", "ganlit.data.MNISTDataModule",
                              "--data.init_args.root", "nowhere", "--data.init_args.image_size", "16",
                              "--ckpt_path", str(ckpts["cgan"])], cwd, WANDB_MODE="offline")
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "ganlit validate: error: MNIST not found" in proc.stderr and "Traceback" not in proc.stderr
    assert list(cwd.iterdir()) == []
    assert sorted(str(p) for p in run.rglob("*")) == before


def test_prediction_names():
    from ganlit.data.folder import ImageListDataset

    samples = SampleDataset(12, num_classes=10, seed=5)
    assert samples[3] == {"seed": torch.tensor(8), "label": torch.tensor(3)}
    assert prediction_names(samples, conditional=True)[:2] == ["0_0.png", "1_0.png"]
    assert prediction_names(samples, conditional=False)[11] == "11.png"
    files = ImageListDataset([Path("a/x.jpg"), Path("b/x.png"), Path("y.png")], pipeline=None)
    assert prediction_names(files, conditional=False) == ["x.png", "x_png.png", "y.png"]
