"""``ganlit pack --model official:<kind>``: released weights as a bundle, translating bit for bit as the official file.

The weights are random values in the official layouts (tests/conftest.py fixtures, as tests/test_translate_official.py
uses them); ``ganlit pack`` runs as a user types it, in a subprocess; the translations to compare run in this process.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from safetensors.torch import load_file

import test_networks_translation as ref
from translate_util import run, write_images


def ganlit(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "disabled", "NO_ALBUMENTATIONS_UPDATE": "1"}
    return subprocess.run([sys.executable, "-m", "ganlit", *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def translated(folder: Path) -> dict[str, bytes]:
    return {p.name: np.asarray(Image.open(p)).tobytes() for p in sorted(folder.iterdir())}


@pytest.fixture
def unet_weights(tmp_path) -> Path:
    torch.save(ref.random_state_dict(ref.official_unet_layout(ngf=4, num_downs=5), seed=3), tmp_path / "latest_net_G.pth")
    return tmp_path / "latest_net_G.pth"


def test_an_official_pix2pix_bundle_translates_as_the_official_file_and_its_card_says_what_ganlit_did_not_measure(
        tmp_path, unet_weights, capsys):
    inputs = tmp_path / "in"
    write_images(inputs, ["a.png", "b.jpg"], size=(40, 32))
    packed = ganlit("pack", "--model", "official:pix2pix", "--weights", unet_weights, "--output", "facades",
                    cwd=tmp_path)
    assert packed.returncode == 0, packed.stderr
    bundle = tmp_path / "facades"
    assert sorted(p.name for p in bundle.iterdir()) == ["README.md", "config.json", "model.safetensors"]

    config = json.loads((bundle / "config.json").read_text())
    assert "class_path" not in config  # the kind says which network, nothing is imported by name
    official = config["official"]
    assert official["kind"] == "pix2pix" and official["file"] == "latest_net_G.pth" and official["use_dropout"]
    assert official["sha256"] == hashlib.sha256(unet_weights.read_bytes()).hexdigest()
    original = torch.load(unet_weights, weights_only=True)
    state = load_file(str(bundle / "model.safetensors"))
    assert set(original) <= set(state)
    assert all(torch.equal(state[k], original[k]) for k in original)
    assert config["weights"]["parameters"] == sum(v.numel() for v in state.values())

    card = (bundle / "README.md").read_text()
    front = yaml.safe_load(card.split("---")[1])
    assert front["library_name"] == "ganlit" and front["license"] == "other" and "pix2pix" in front["tags"]
    assert "Metrics: not measured by ganlit" in card and "Not recorded by ganlit" in card
    assert official["sha256"] in card and "https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix" in card
    assert str(tmp_path) not in card and "Isola" in card

    for extra in ([], ["--eval"]):  # the paper's test mode (dropout on, per-image BatchNorm) and eval mode
        runs = {}
        for name, model in (("official", ["official:pix2pix", "--weights", unet_weights]), ("bundle", [bundle])):
            out = tmp_path / f"{name}{''.join(extra)}"
            rc, _, err = run(capsys, "--model", *model, "--input", inputs, "--output", out, *extra)  # ganlit translate
            assert rc == 0, err
            runs[name] = translated(out)
        assert list(runs["official"]) == ["a.png", "b.png"]
        assert runs["bundle"] == runs["official"], extra


def test_an_official_stargan_bundle_keeps_its_attribute_names(tmp_path, stargan_weights, capsys):
    weights, _ = stargan_weights
    inputs = tmp_path / "in"
    write_images(inputs, ["face.png"], size=(200, 220))
    attrs = "Black_Hair,Male,Young"
    packed = ganlit("pack", "--model", "official:stargan", "--weights", weights, "--attrs", attrs, "--output", "sg",
                    cwd=tmp_path)
    assert packed.returncode == 0, packed.stderr
    config = json.loads((tmp_path / "sg" / "config.json").read_text())
    assert config["official"]["attr_names"] == attrs.split(",") and config["inference"]["attr_names"] == attrs.split(",")
    runs = {}
    for name, model in (("official", ["official:stargan", "--weights", weights, "--attrs", attrs]),
                        ("bundle", [tmp_path / "sg"])):
        rc, _, err = run(capsys, "--model", *model, "--target", "Black_Hair=0,Male=1,Young=1", "--input", inputs,
                         "--output", tmp_path / name, "--image-size", 32)  # ganlit translate
        assert rc == 0, err
        runs[name] = translated(tmp_path / name)
    assert runs["bundle"] == runs["official"] and len(runs["bundle"]) == 1


def test_packing_official_weights_without_a_file_names_the_download_and_writes_nothing(tmp_path):
    done = ganlit("pack", "--model", "official:pix2pix", "--output", "out", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "--weights" in done.stderr and "ganlit download" in done.stderr
    assert not (tmp_path / "out").exists()
