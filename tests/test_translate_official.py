"""``ganlit translate`` with official pix2pix, CycleGAN and StarGAN weights, against functional references with the
official test preprocessing.

The expected outputs are computed here independently of ganlit's code: PIL for the official preprocessing
(bicubic resize for pix2pix/CycleGAN; center crop 178 + bilinear resize for StarGAN), the functional
references of tests/test_networks_translation.py and tests/test_hub.py, and the official uint8 conversions.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from test_hub import reference_stargan
from translate_util import official_input, read, rounded, run, write_images

import test_networks_translation as ref
from ganlit.attributes import official_test_labels


def tensor2im(y: torch.Tensor) -> np.ndarray:
    """The official pix2pix/CycleGAN util.tensor2im (truncating)."""
    return ((np.transpose(y[0].detach().float().numpy(), (1, 2, 0)) + 1) / 2.0 * 255.0).astype(np.uint8)


@pytest.fixture
def unet_weights(tmp_path) -> tuple[Path, dict]:
    sd = ref.random_state_dict(ref.official_unet_layout(ngf=4, num_downs=5), seed=3)
    torch.save(sd, tmp_path / "latest_net_G.pth")
    return tmp_path / "latest_net_G.pth", sd


# --- official pix2pix / CycleGAN ----------------------------------------------------------------------------------


def test_official_pix2pix_eval_equals_the_reference_forward(tmp_path, capsys, unet_weights):
    weights, sd = unet_weights
    inputs = write_images(tmp_path / "in", ["x1.png", "x2.jpg", "x3.png"])
    rc, out, err = run(capsys, "--model", "official:pix2pix", "--weights", weights, "--input", tmp_path / "in",
                       "--output", tmp_path / "out", "--image-size", 32, "--eval", "--batch-size", 2)
    assert rc == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["x1.png", "x2.png", "x3.png"]
    for path in inputs:
        expected = tensor2im(ref.reference_unet_eval(sd, official_input(path, 32)))
        got = read(tmp_path / "out" / f"{path.stem}.png")
        assert got.shape == (32, 32, 3)
        diff = np.abs(got - expected)
        assert diff.max() <= 1 and diff.mean() < 0.01


def test_official_pix2pix_default_is_training_mode_with_per_image_statistics(
        tmp_path, capsys, unet_weights, monkeypatch):
    weights, sd = unet_weights
    inputs = write_images(tmp_path / "in", ["a.png", "b.png", "c.png"])
    for batch in (1, 3):
        rc, _, err = run(capsys, "--model", "official:pix2pix", "--weights", weights, "--input", tmp_path / "in",
                         "--output", tmp_path / f"out{batch}", "--image-size", 32, "--batch-size", batch)
        assert rc == 0, err
    # the official test runs one image at a time in training mode: BatchNorm uses that image's statistics
    monkeypatch.setattr(ref, "_bn_eval", lambda sd, p, h: F.batch_norm(
        h, None, None, sd[f"{p}.weight"], sd[f"{p}.bias"], training=True))
    for path in inputs:
        expected = tensor2im(ref.reference_unet_eval(sd, official_input(path, 32)))
        one, three = read(tmp_path / "out1" / f"{path.stem}.png"), read(tmp_path / "out3" / f"{path.stem}.png")
        assert np.array_equal(one, three)  # independent of the batch size
        assert np.abs(one - expected).max() <= 1
    monkeypatch.undo()
    rc, _, _ = run(capsys, "--model", "official:pix2pix", "--weights", weights, "--input", inputs[0],
                   "--output", tmp_path / "eval", "--image-size", 32, "--eval")
    assert rc == 0
    assert np.abs(read(tmp_path / "eval" / "a.png") - read(tmp_path / "out1" / "a.png")).mean() > 1  # --eval differs


def test_official_cyclegan_equals_the_reference_forward(tmp_path, capsys, resnet_weights):
    sd = torch.load(resnet_weights, weights_only=True)
    (path,) = write_images(tmp_path / "in", ["horse.jpg"], size=(30, 20))
    rc, _, err = run(capsys, "--model", "official:cyclegan", "--weights", resnet_weights, "--input", path,
                     "--output", tmp_path / "out", "--image-size", 16)
    assert rc == 0, err
    expected = tensor2im(ref.reference_resnet(sd, official_input(path, 16), n_blocks=1))
    assert np.abs(read(tmp_path / "out" / "horse.png") - expected).max() <= 1


@pytest.mark.parametrize("preprocess,size", [(None, (30, 22)), ("none", (32, 24)), ("resize_and_crop", (256, 256)),
                                             ("scale_width", (256, 256))])
def test_official_cyclegan_sizing_by_name(tmp_path, capsys, resnet_weights, preprocess, size):
    """Default: the input's own size and aspect ratio; none: rounded to multiples of 4 (ResNet); the rest: squares."""
    (path,) = write_images(tmp_path / "in", ["photo.png"], size=(30, 22))
    extra = ["--preprocess", preprocess] if preprocess else []
    rc, _, err = run(capsys, "--model", "official:cyclegan", "--weights", resnet_weights, "--input", path,
                     "--output", tmp_path / "out", *extra)
    assert rc == 0, err
    assert Image.open(tmp_path / "out" / "photo.png").size == size
    if preprocess is None:  # at its native size (rounded to 32x24 for the network), then back to 30x22
        sd = torch.load(resnet_weights, weights_only=True)
        x = torch.from_numpy((np.asarray(Image.open(path).convert("RGB").resize((32, 24), Image.BICUBIC),
                                         dtype=np.float32) / 255.0 - 0.5) / 0.5).permute(2, 0, 1)[None]
        expected = Image.fromarray(tensor2im(ref.reference_resnet(sd, x, n_blocks=1))).resize((30, 22), Image.BICUBIC)
        assert np.abs(read(tmp_path / "out" / "photo.png").astype(int) - np.asarray(expected).astype(int)).max() <= 1


# --- official StarGAN ---------------------------------------------------------------------------------------------


CELEBA_BOX = (11, 21, 189, 199)  # torchvision CenterCrop(178) of a 200x220 image: left round(22/2), top round(42/2)


def test_official_stargan_target_uses_center_crop_and_per_image_statistics(tmp_path, capsys, stargan_weights):
    weights, sd = stargan_weights
    (path,) = write_images(tmp_path / "in", ["000001.jpg"], size=(200, 220))
    rc, _, err = run(capsys, "--model", "official:stargan", "--weights", weights, "--attrs", "Black_Hair,Male,Young",
                     "--target", "Black_Hair=0,Male=1,Young=1", "--input", tmp_path / "in",
                     "--output", tmp_path / "out", "--image-size", 32)
    assert rc == 0, err
    x = official_input(path, 32, box=CELEBA_BOX, method=Image.BILINEAR)
    expected = rounded(reference_stargan(sd, x, torch.tensor([[0.0, 1.0, 1.0]]), 1))
    assert np.abs(read(tmp_path / "out" / "000001.png") - expected).max() <= 1


def test_official_stargan_grid_without_target(tmp_path, capsys, stargan_weights):
    weights, sd = stargan_weights
    (path,) = write_images(tmp_path / "in", ["face.png"], size=(200, 220))
    rc, _, err = run(capsys, "--model", "official:stargan", "--weights", weights, "--attrs", "Black_Hair,Male,Young",
                     "--source", "Male=1", "--input", path, "--output", tmp_path / "out", "--image-size", 32)
    assert rc == 0, err
    x = official_input(path, 32, box=CELEBA_BOX, method=Image.BILINEAR)
    c_org = torch.tensor([[0.0, 1.0, 0.0]])
    tiles = [x] + [reference_stargan(sd, x, t, 1) for t in official_test_labels(c_org, ["Black_Hair", "Male", "Young"])]
    got = read(tmp_path / "out" / "face.png")
    assert got.shape == (32, 32 * len(tiles), 3)
    assert np.abs(got - rounded(torch.cat(tiles, dim=3))).max() <= 1


@pytest.mark.parametrize(("args", "message"), [
    (["--attrs", "a,b"], "names 2 attributes but .* c_dim=3"),
    (["--attrs", "a,b,c", "--target", "a=1,b=0"], "--target: every attribute needs a value; missing c"),
    (["--attrs", "a,b,c", "--target", "a=1,b=0,d=1"], "unknown attribute"),
    (["--attrs", "a,b,c", "--target", "a"], "expected name=value pairs"),
    ([], "needs --attrs"),
])
def test_official_stargan_option_errors(tmp_path, capsys, stargan_weights, args, message):
    weights, _ = stargan_weights
    write_images(tmp_path / "in", ["f.png"])
    rc, _, err = run(capsys, "--model", "official:stargan", "--weights", weights, "--input", tmp_path / "in",
                     "--output", tmp_path / "out", *args)
    assert rc == 2
    assert len(err.strip().splitlines()) == 1 and re.search(message, err), err
    assert not (tmp_path / "out").exists()
