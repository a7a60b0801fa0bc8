"""Learning checks on the digits world: the quickstart CGAN draws the asked class; GAN covers all classes."""

import lightning as L
import pytest
import torch
from PIL import Image
import numpy as np
from recipes_util import RECIPES

from ganlit.cli import main
from ganlit.data import DigitsDataModule
from ganlit.data.digits import digit_judge
from ganlit.models import GAN

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


def test_quickstart_cgan_samples_are_judged_as_their_class(tmp_path, monkeypatch):
    # Exactly the quickstart command of the README, then `ganlit sample` on its checkpoint.
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--config", str(RECIPES / "quickstart.yaml"), "--trainer.logger", "false",
                 "--trainer.enable_progress_bar", "false"]) == 0
    ckpt = tmp_path / "runs/quickstart/latest/checkpoints/last.ckpt"
    assert ckpt.exists()
    out = tmp_path / "generated"
    assert main(["sample", "--ckpt", str(ckpt), "--num", "500", "--output", str(out), "--seed", "0"]) == 0
    files = sorted(out.glob("*.png"))
    assert len(files) == 500
    images = torch.stack([torch.from_numpy(np.asarray(Image.open(f).convert("L"), dtype=np.float32) / 127.5 - 1)[None]
                          for f in files])
    wanted = torch.tensor([int(f.stem.split("_")[0]) for f in files])
    predicted = digit_judge().predict(images)
    accuracy = (predicted == wanted).float().mean().item()
    print(f"quickstart CGAN: judge agrees with the conditioning class on {accuracy:.1%} of 500 samples")
    assert accuracy >= 0.90
    assert set(predicted.tolist()) == set(range(10))


def test_gan_samples_cover_all_classes(tmp_path):
    L.seed_everything(0)
    model = GAN(image_size=16, ngf=32, ndf=32)
    dm = DigitsDataModule(task="generate", image_size=16, batch_size=64)
    L.Trainer(max_epochs=60, logger=False, enable_checkpointing=False, enable_progress_bar=False,
              enable_model_summary=False, default_root_dir=tmp_path, accelerator="cpu").fit(model, dm)
    images, _ = model.sample(1000, seed=0)
    counts = torch.bincount(digit_judge().predict(images), minlength=10).float() / 1000
    print("GAN class shares:", [round(c, 3) for c in counts.tolist()])
    assert (counts > 0).all() and counts.max() <= 0.25
