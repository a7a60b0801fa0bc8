"""Helpers of tests/test_validate_test_predict.py: the tiny model families, their command lines, and what the
commands logged, printed or were given."""

from __future__ import annotations

import csv
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import lightning as L
import torch

from ganlit.data.digits import ATTRS, DigitsDataModule
from ganlit.models.draws import ItemDraws

HERE = Path(__file__).resolve().parent


def families() -> dict[str, tuple[Callable[[], L.LightningModule], str, int]]:
    from ganlit.models import CGAN, GAN, PAN, CycleGAN, DiscoGAN, PairedCycleGAN, Pix2Pix, StarGAN

    return {
        "gan": (lambda: GAN(image_size=16, channels=1, ngf=8, ndf=8), "generate", 16),
        "cgan": (lambda: CGAN(image_size=16, channels=1, ngf=8, ndf=8), "generate", 16),
        "pix2pix": (lambda: Pix2Pix(image_size=32, num_downs=5, ngf=4, ndf=4, n_layers=2), "paired", 32),
        "pan": (lambda: PAN(image_size=32, num_downs=5, ngf=4, ndf=4), "paired", 32),
        "cyclegan": (lambda: CycleGAN(ngf=4, ndf=4, n_blocks=1, n_layers=2, pool_size=3), "unpaired", 16),
        "discogan": (lambda: DiscoGAN(image_size=16, ngf=4, ndf=4), "unpaired", 16),
        "stargan": (lambda: StarGAN(image_size=16, conv_dim=4, repeat_num=1, d_conv_dim=4, d_repeat_num=3, n_critic=1,
                                    num_attrs=len(ATTRS), attr_names=list(ATTRS),
                                    exclusive_attrs=["red", "green", "blue"]), "attributes", 16),
        "paired_cyclegan": (lambda: PairedCycleGAN(image_size=32, ngf=4, ndf=4, n_blocks_g=1, n_blocks_f=1,
                                                   n_layers_d=2, n_layers_s=2, pretrain_removal_epochs=0),
                            "makeup", 32),
    }


FAMILIES = list(families())


class RecordPredictBatches(L.Callback):
    """Saves every predict batch (its index and tensors) to ``path``, so a test can recompute what was written."""

    def __init__(self, path: str) -> None:
        self.path, self.batches = path, []

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.batches.append((batch_idx, {k: v.cpu() for k, v in batch.items() if torch.is_tensor(v)}))

    def on_predict_end(self, trainer, pl_module) -> None:
        torch.save(self.batches, self.path)

def command(name: str, subcommand: str, ckpt: Path, *extra: str, batch_size: int = 16) -> list[str]:
    """The command line a user types for ``name``'s checkpoint (the model's arguments come from the checkpoint)."""
    cls = type(families()[name][0]())
    _, task, size = families()[name]
    return [subcommand, "--model", f"{cls.__module__}.{cls.__name__}", "--data", "ganlit.data.DigitsDataModule",
            "--data.init_args.task", task, "--data.init_args.image_size", str(size),
            "--data.init_args.batch_size", str(batch_size), "--trainer.accelerator", "cpu",
            "--trainer.enable_progress_bar", "false", "--ckpt_path", str(ckpt), *extra]


def csv_logger(save_dir: Path) -> list[str]:
    """A CSV logger (it needs a save_dir on the command line); the CLI names its folder after the subcommand."""
    return ["--trainer.logger", "lightning.pytorch.loggers.CSVLogger", "--trainer.logger.init_args.save_dir",
            str(save_dir)]


EVALUATION = ["--trainer.callbacks+=ganlit.metrics.Evaluation", "--trainer.callbacks.features", "digits"]


def subprocess_ganlit(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "GANLIT_DEBUG"}
    environment.update({"WANDB_MODE": "disabled", "PYTHONPATH": os.pathsep.join(
        [str(HERE), str(HERE.parent), environment.get("PYTHONPATH", "")]), **env})
    return subprocess.run([sys.executable, "-m", "ganlit", *args], cwd=cwd, env=environment, capture_output=True,
                          text=True, timeout=600)


def fresh_dir(tmp_path: Path, name: str) -> Path:  # an empty working directory for one command
    (tmp_path / name).mkdir()
    os.chdir(tmp_path / name)
    return tmp_path / name


def logged(save_dir: Path, subcommand: str) -> dict[str, float]:
    """The metrics the CSV logger wrote for ``subcommand`` into ``<save_dir>/<subcommand>/version_0``."""
    (path,) = (save_dir / subcommand).glob("version_*/metrics.csv")
    values: dict[str, float] = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            values.update({k: float(v) for k, v in row.items() if v not in ("", None) and k not in ("epoch", "step")})
    return values


def printed(stdout: str) -> dict[str, float]:
    """The metric table Lightning prints at the end of validate/test."""
    return {k: float(v) for k, v in re.findall(r"│\s*((?:val|test)/\S+)\s*│\s*([-+\d.eE]+|nan|inf)\s*│", stdout)}


def direct_evaluation(ckpt: Path, task: str, size: int, split: str) -> dict[str, float]:
    """What the Evaluation callback (digits features, its default protocol) gives on ``split``, called directly."""
    from ganlit.checkpoint import load_module
    from ganlit.metrics import build_features, describe_data, evaluate_model

    dm = DigitsDataModule(task=task, image_size=size)
    dm.setup("validate")
    dataset = dm.val_set if split == "val" else dm.test_set
    return evaluate_model(load_module(ckpt), dataset, build_features("digits"), split="test",
                          data_key=describe_data(dm), batch_size=64, seed=0).metrics


def assert_close(got: float, want: float, what: str) -> None:  # the logs hold float32 values
    assert math.isclose(got, want, rel_tol=1e-5, abs_tol=1e-6), f"{what}: logged {got}, direct {want}"


# ----------------------------------------------------------------------------- validate / test

def expected_outputs(name: str, model: Any, batch: dict) -> dict[str, torch.Tensor]:
    """The model's own translate/sample for a recorded predict batch (output name -> images in [-1, 1])."""
    if name in ("gan", "cgan"):
        labels = batch["label"] if name == "cgan" else None
        return {"": model.sample(len(batch["seed"]), labels, seed=int(batch["seed"][0]))[0]}
    if name in ("pix2pix", "pan"):  # one image at a time, each with its own dropout draws (evaluation_images)
        return {"AtoB": ItemDraws.from_global(batch["A"].size(0)).each(model.translate, batch["A"])}
    if name in ("cyclegan", "discogan"):
        a, b = batch["A"], batch["B"]
        if name == "discogan" and not model.normalized:  # as DiscoGAN.evaluation_images reads its batches
            a, b = a * 2 - 1, b * 2 - 1
        return {"AtoB": model.translate(a, "AtoB"), "BtoA": model.translate(b, "BtoA")}
    if name == "stargan":
        return {"": model.translate(batch["image"], c_org=batch["label"])}
    return {"AtoB": model.translate(batch["x"], reference=batch["y"], x_regions=batch["x_regions"],
                                    reference_regions=batch["y_regions"]),
            "BtoA": model.translate(batch["y"], remove=True, x_regions=batch["y_regions"])}
