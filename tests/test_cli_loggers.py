"""Any Lightning logger named on the command line works with no other argument, and gets the metrics, the
protocol and the sample grids: ``ganlit fit --config recipe.yaml --trainer.logger <class>`` in a subprocess, on the
quickstart recipe cut to 2 epochs of 2 batches (its WandbLogger replaced), then the logger's files read back."""

import csv
import io
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from recipes_util import tiny_quickstart_recipe
from PIL import Image

HAS_TENSORBOARD = importlib.util.find_spec("tensorboard") is not None


def fit_with_logger(tmp_path: Path, logger: str, *extra: str) -> subprocess.CompletedProcess:
    """Run ``ganlit fit`` on the tiny quickstart recipe with ``--trainer.logger <logger>`` in ``tmp_path``."""
    tiny_quickstart_recipe(tmp_path)
    env = {**os.environ, "WANDB_MODE": "disabled", "NO_ALBUMENTATIONS_UPDATE": "1"}
    return subprocess.run([sys.executable, "-m", "ganlit", "fit", "--config", "recipe.yaml", "--trainer.logger", logger,
                           *extra], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


def evaluations(run: Path) -> tuple[float, float]:
    """(best, last) digits FID as the best-checkpoint callback saw them, from the run's last.ckpt."""
    ckpt = torch.load(run / "checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    (state,) = [v for k, v in ckpt["callbacks"].items() if k.startswith("ModelCheckpoint") and v.get("monitor")]
    return float(state["best_model_score"]), float(state["current_score"])


def check_png(run: Path, step: int, pixels: np.ndarray) -> None:
    """``pixels`` (what the logger holds for ``step``) are exactly the run folder's PNG of that step, not a blank."""
    saved = np.asarray(Image.open(run / f"samples/iter_{step:07d}.png").convert("RGB"))
    assert pixels.dtype == saved.dtype == np.uint8 and np.array_equal(pixels, saved)
    assert pixels.min() != pixels.max()


@pytest.mark.slow
def test_csv_logger_needs_no_save_dir_and_gets_the_metrics_and_the_protocol(tmp_path):
    done = fit_with_logger(tmp_path, "lightning.pytorch.loggers.CSVLogger")
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "runs/quickstart/latest"
    with open(run / "metrics.csv") as f:
        fids = [float(row["val/digits_fid"]) for row in csv.DictReader(f) if row.get("val/digits_fid")]
    best, last = evaluations(run)
    assert len(fids) == 2 and min(fids) == best and fids[-1] == last  # the very numbers the run monitored
    hparams = yaml.safe_load((run / "hparams.yaml").read_text())
    assert hparams["eval_protocol"]["features"].startswith("digits judge")
    assert hparams["eval_protocol"]["real_count"] == 20
    assert len(list((run / "samples").glob("iter_*.png"))) == 2  # CSV takes no images: the PNGs still come


@pytest.mark.slow
@pytest.mark.skipif(not HAS_TENSORBOARD, reason="tensorboard is not installed (not a ganlit dependency); "
                                                "pip install tensorboard to run this check")
def test_tensorboard_logger_gets_metrics_protocol_hparams_and_the_png_pixels(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    done = fit_with_logger(tmp_path, "lightning.pytorch.loggers.TensorBoardLogger")
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "runs/quickstart/latest"
    events = EventAccumulator(str(run), size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    events.Reload()
    fids = [e.value for e in events.Scalars("val/digits_fid")]
    best, last = evaluations(run)
    assert len(fids) == 2 and min(fids) == best and fids[-1] == last
    images = events.Images("samples")
    assert len(images) == 2
    for image in images:
        check_png(run, image.step, np.asarray(Image.open(io.BytesIO(image.encoded_image_string))))
    # The HParams dashboard (TensorBoard reads the first summary only): the model, the protocol, the metric columns.
    hparams = {tag: plugin_data_pb2.HParamsPluginData.FromString(content)
               for tag, content in events.PluginTagToContent("hparams").items()}
    shown = hparams["_hparams_/session_start_info"].session_start_info.hparams
    assert "ngf" in shown and shown["eval_protocol/features"].string_value.startswith("digits judge")
    columns = [m.name.tag for m in hparams["_hparams_/experiment"].experiment.metric_infos]
    assert "val/digits_fid" in columns and "hp_metric" not in columns
    assert "hp_metric" not in events.Tags()["scalars"]


@pytest.mark.slow
@pytest.mark.skipif(HAS_TENSORBOARD, reason="checks the message for a missing tensorboard")
def test_tensorboard_logger_without_tensorboard_is_one_line(tmp_path):
    done = fit_with_logger(tmp_path, "lightning.pytorch.loggers.TensorBoardLogger")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(
        "ganlit fit: error: lightning.pytorch.loggers.TensorBoardLogger: Neither `tensorboard` nor `tensorboardX`")


def test_fill_logger_dirs_gives_a_folder_only_where_one_is_required_and_missing():
    from jsonargparse import Namespace

    from ganlit.run_config import fill_logger_dirs

    def spec(cls: str, **init_args) -> Namespace:
        return Namespace(class_path=f"lightning.pytorch.loggers.{cls}", init_args=Namespace(**init_args))

    loggers = [spec("CSVLogger", save_dir=None), spec("CSVLogger", save_dir="mine"), spec("WandbLogger", save_dir="."),
               Namespace(class_path="lightning.pytorch.loggers.CSVLogger", init_args=None)]
    cfg = Namespace(subcommand="fit", fit=Namespace(trainer=Namespace(default_root_dir="runs/x", logger=loggers)))
    fill_logger_dirs(cfg)
    assert [lg.init_args.save_dir for lg in loggers] == ["runs/x", "mine", ".", "runs/x"]
    single = Namespace(trainer=Namespace(default_root_dir=None, logger=spec("CSVLogger", save_dir=None)))
    fill_logger_dirs(single)  # a subcommand's own config; Lightning's default folder is the current one
    assert single.trainer.logger.init_args.save_dir == "."
