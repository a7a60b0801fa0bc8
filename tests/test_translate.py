"""``ganlit translate``: official weights against functional references with the official test preprocessing,
ganlit checkpoints, option pass-through, naming, skipped files, refusals and streaming in constant memory.

The expected outputs are computed here independently of ganlit's code: PIL for the official preprocessing
(bicubic resize for pix2pix/CycleGAN; center crop 178 + bilinear resize for StarGAN), the functional
references of tests/test_networks_translation.py and tests/test_hub.py, and the official uint8 conversions.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from test_hub import official_stargan_layout, reference_stargan
from torch.utils.data import DataLoader

import test_networks_translation as ref
from ganlit.commands.translate import main
from ganlit.models import Pix2Pix
from ganlit.models.base import GANModule


def write_images(folder: Path, names: list[str], size: tuple[int, int] = (40, 48), seed: int = 0) -> list[Path]:
    """RGB noise images of ``size`` (width, height)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for name in names:
        array = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(array).save(folder / name, quality=95)
        paths.append(folder / name)
    return paths


def official_input(path: Path, size: int, box=None, method=Image.BICUBIC) -> torch.Tensor:
    """The official test preprocessing with PIL + numpy: [crop], resize, ToTensor, Normalize(0.5, 0.5)."""
    image = Image.open(path).convert("RGB")
    if box is not None:
        image = image.crop(box)
    array = np.asarray(image.resize((size, size), method), dtype=np.float32) / 255.0
    return torch.from_numpy((array - 0.5) / 0.5).permute(2, 0, 1)[None]


def tensor2im(y: torch.Tensor) -> np.ndarray:
    """The official pix2pix/CycleGAN util.tensor2im (truncating)."""
    return ((np.transpose(y[0].detach().float().numpy(), (1, 2, 0)) + 1) / 2.0 * 255.0).astype(np.uint8)


def rounded(y: torch.Tensor) -> np.ndarray:
    """StarGAN's denorm + torchvision save_image (rounding), ganlit's own conversion too."""
    unit = ((y[0].detach().float() + 1) / 2).clamp(0, 1)
    return unit.mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path)).astype(np.int16)


def run(capsys, *args) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def unet_weights(tmp_path) -> tuple[Path, dict]:
    sd = ref.random_state_dict(ref.official_unet_layout(ngf=4, num_downs=5), seed=3)
    torch.save(sd, tmp_path / "latest_net_G.pth")
    return tmp_path / "latest_net_G.pth", sd


@pytest.fixture
def resnet_weights(tmp_path) -> Path:
    torch.save(ref.random_state_dict(ref.official_resnet_layout(ngf=2, n_blocks=1), seed=4), tmp_path / "cyc.pth")
    return tmp_path / "cyc.pth"


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


@pytest.fixture
def stargan_weights(tmp_path) -> tuple[Path, dict]:
    sd = ref.random_state_dict(official_stargan_layout(conv_dim=4, c_dim=3, repeat_num=1), seed=5)
    torch.save(sd, tmp_path / "200000-G.ckpt")
    return tmp_path / "200000-G.ckpt", sd


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


def _official_test_labels():
    try:
        from ganlit.models.stargan import official_test_labels
        return official_test_labels
    except ImportError:
        return None


def test_official_stargan_grid_without_target(tmp_path, capsys, stargan_weights, monkeypatch):
    weights, sd = stargan_weights
    labels_fn = _official_test_labels()
    if labels_fn is None:  # ganlit.models.stargan not written yet: a stand-in that flips each attribute
        stub = type(sys)("ganlit.models.stargan")
        stub.official_test_labels = lambda c, names: [torch.where(torch.arange(c.size(1)) == i, 1 - c, c)
                                                      for i in range(c.size(1))]
        monkeypatch.setitem(sys.modules, "ganlit.models.stargan", stub)
        labels_fn = stub.official_test_labels
    (path,) = write_images(tmp_path / "in", ["face.png"], size=(200, 220))
    rc, _, err = run(capsys, "--model", "official:stargan", "--weights", weights, "--attrs", "Black_Hair,Male,Young",
                     "--source", "Male=1", "--input", path, "--output", tmp_path / "out", "--image-size", 32)
    assert rc == 0, err
    x = official_input(path, 32, box=CELEBA_BOX, method=Image.BILINEAR)
    c_org = torch.tensor([[0.0, 1.0, 0.0]])
    tiles = [x] + [reference_stargan(sd, x, t, 1) for t in labels_fn(c_org, ["Black_Hair", "Male", "Young"])]
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


# --- ganlit checkpoints --------------------------------------------------------------------------------------------


@pytest.fixture
def pix2pix_ckpt(tmp_path) -> tuple[Path, Pix2Pix]:
    torch.manual_seed(0)
    model = Pix2Pix(image_size=32, num_downs=5, ngf=4, ndf=4, n_layers=1)
    data = [{"A": torch.rand(3, 32, 32) * 2 - 1, "B": torch.rand(3, 32, 32) * 2 - 1} for _ in range(2)]
    trainer = L.Trainer(default_root_dir=tmp_path, max_steps=2, accelerator="cpu", logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, DataLoader(data, batch_size=1))
    trainer.save_checkpoint(tmp_path / "last.ckpt")
    return tmp_path / "last.ckpt", model


def test_ganlit_checkpoint_translates_like_the_model(tmp_path, capsys, pix2pix_ckpt):
    ckpt, model = pix2pix_ckpt
    inputs = write_images(tmp_path / "in", ["p.png", "q.jpg"])
    rc, _, err = run(capsys, "--model", ckpt, "--input", tmp_path / "in", "--output", tmp_path / "out", "--eval")
    assert rc == 0, err
    for path in inputs:  # image size 32 comes from the checkpoint
        with torch.no_grad():
            expected = rounded(model.translate(official_input(path, 32), eval_mode=True))
        assert np.abs(read(tmp_path / "out" / f"{path.stem}.png") - expected).max() <= 1


def test_ganlit_checkpoint_refuses_options_its_translate_does_not_take(tmp_path, capsys, pix2pix_ckpt):
    ckpt, _ = pix2pix_ckpt
    write_images(tmp_path / "in", ["p.png"])
    rc, _, err = run(capsys, "--model", ckpt, "--input", tmp_path / "in", "--output", tmp_path / "o1",
                     "--reference", tmp_path / "in" / "p.png")
    assert rc == 2 and "Pix2Pix.translate() takes no --reference option" in err
    rc, _, err = run(capsys, "--model", ckpt, "--input", tmp_path / "in", "--output", tmp_path / "o2",
                     "--direction", "BtoA")
    assert rc == 2 and "direction='AtoB'" in err and "Traceback" not in err


CALLS: list[dict] = []


class RecordingTranslator(GANModule):
    """A stand-in translation model whose translate() records the options it was given."""

    def __init__(self, image_size: int = 16, **kwargs) -> None:
        super().__init__(**kwargs)
        self.image_size = image_size
        self.generator = torch.nn.Identity()
        self.discriminator = torch.nn.Identity()

    def translate(self, x, direction="AtoB", **options):
        CALLS.append({"direction": direction, "n": x.size(0), **options})
        return [x, -x] if options.get("remove") else -x


def _recording_ckpt(path: Path) -> Path:
    model = RecordingTranslator()
    torch.save({"ganlit_class": "test_translate.RecordingTranslator", "hyper_parameters": dict(model.hparams),
                "state_dict": model.state_dict()}, path)
    return path


def test_only_the_options_the_user_gave_reach_translate(tmp_path, capsys):
    ckpt = _recording_ckpt(tmp_path / "rec.ckpt")
    write_images(tmp_path / "in", ["a.png", "b.png", "c.png"])
    CALLS.clear()
    rc, _, err = run(capsys, "--model", ckpt, "--input", tmp_path / "in", "--output", tmp_path / "plain",
                     "--batch-size", 2)
    assert rc == 0, err
    assert CALLS == [{"direction": "AtoB", "n": 2}, {"direction": "AtoB", "n": 1}]
    CALLS.clear()
    rc, _, err = run(capsys, "--model", ckpt, "--input", tmp_path / "in", "--output", tmp_path / "all",
                     "--batch-size", 3, "--direction", "BtoA", "--target", "smile=1,hat=0",
                     "--reference", tmp_path / "in" / "a.png", "--remove", "--eval")
    assert rc == 0, err
    (call,) = CALLS
    assert set(call) == {"direction", "n", "target", "reference", "remove", "eval_mode"}
    assert call["direction"] == "BtoA" and call["target"] == {"smile": 1.0, "hat": 0.0} and call["remove"] is True
    assert call["reference"].shape == (3, 3, 16, 16)
    assert read(tmp_path / "all" / "a.png").shape == (16, 32, 3)  # a list of outputs is written side by side


class RecordingStarTranslator(RecordingTranslator):
    """A StarGAN-like stand-in: translate(x, direction, target, c_org) and attribute names."""

    attr_names = ["Black_Hair", "Male", "Young"]

    def translate(self, x, direction="AtoB", target=None, c_org=None):
        CALLS.append({"target": target, "c_org": c_org})
        return torch.cat([x, x], dim=3) if target is None else x


def test_stargan_like_checkpoints_get_the_source_labels_as_c_org(tmp_path, capsys):
    ckpt = tmp_path / "star.ckpt"
    model = RecordingStarTranslator()
    torch.save({"ganlit_class": "test_translate.RecordingStarTranslator", "hyper_parameters": dict(model.hparams),
                "state_dict": model.state_dict()}, ckpt)
    write_images(tmp_path / "in", ["a.png", "b.png"])
    expected = {"": [[0.0, 0.0, 0.0]] * 2, "Male=1": [[0.0, 1.0, 0.0]] * 2}
    for source, c_org in expected.items():
        CALLS.clear()
        rc, _, err = run(capsys, "--model", ckpt, "--input", tmp_path / "in", "--output", tmp_path / f"o{source}",
                         *(["--source", source] if source else []))
        assert rc == 0, err
        (call,) = CALLS
        assert call["target"] is None and call["c_org"].tolist() == c_org
        assert read(tmp_path / f"o{source}" / "a.png").shape == (16, 32, 3)
    CALLS.clear()
    rc, _, err = run(capsys, "--model", ckpt, "--input", tmp_path / "in", "--output", tmp_path / "t",
                     "--target", "Black_Hair=1,Male=0,Young=1")
    assert rc == 0, err
    assert CALLS == [{"target": {"Black_Hair": 1.0, "Male": 0.0, "Young": 1.0}, "c_org": None}]
    rc, _, err = run(capsys, "--model", ckpt, "--input", tmp_path / "in", "--output", tmp_path / "u",
                     "--source", "Bald=1")
    assert rc == 2 and "unknown attribute(s) Bald" in err


# --- files, names, refusals ----------------------------------------------------------------------------------------


def test_names_skips_and_subfolders(tmp_path, capsys, resnet_weights):
    src = tmp_path / "in"
    write_images(src, ["a.jpg", "a.png", "b.PNG"], size=(16, 16))
    (src / "notes.txt").write_text("not an image")
    (src / "broken.png").write_bytes(b"this is no png")
    write_images(src / "sub", ["c.png"], size=(16, 16))
    rc, out, err = run(capsys, "--model", "official:cyclegan", "--weights", resnet_weights, "--input", src,
                       "--output", tmp_path / "out", "--image-size", 16, "--batch-size", 2)
    assert rc == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "a_png.png", "b.png"]
    assert f"skipping {src / 'notes.txt'}: not an image file" in err
    assert f"skipping {src / 'broken.png'}" in err and "Traceback" not in err
    assert "wrote 3 image(s)" in out and "skipped 1" in out


def test_refuses_a_non_empty_output_folder_without_overwrite(tmp_path, capsys, resnet_weights):
    write_images(tmp_path / "in", ["a.png"], size=(16, 16))
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    args = ["--model", "official:cyclegan", "--weights", resnet_weights, "--input", tmp_path / "in",
            "--output", out, "--image-size", 16]
    rc, _, err = run(capsys, *args)
    assert rc == 2 and "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    rc, _, err = run(capsys, *args, "--overwrite")
    assert rc == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "keep.txt"] and (out / "keep.txt").read_text() == "mine"


class _MakesADir:
    """A pickle payload: unpickling it calls ``os.makedirs(marker)``."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        import os
        return (os.makedirs, (self.marker,))


@pytest.mark.parametrize("kind", ["ckpt", "official"])
def test_missing_or_unsafe_weights_are_one_line_errors(tmp_path, capsys, kind):
    write_images(tmp_path / "in", ["a.png"], size=(16, 16))
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "payload": _MakesADir(marker)}, evil)
    for weights, message in ((tmp_path / "missing.pth", "missing.pth"), (evil, "pickled code")):
        model = ["--model", weights] if kind == "ckpt" else ["--model", "official:pix2pix", "--weights", weights]
        rc, _, err = run(capsys, *model, "--input", tmp_path / "in", "--output", tmp_path / "out")
        assert rc == 2
        assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_other_bad_arguments(tmp_path, capsys, resnet_weights):
    write_images(tmp_path / "in", ["a.png"], size=(16, 16))
    cases = [
        (["--model", "official:munit", "--weights", resnet_weights], "official:pix2pix | official:cyclegan"),
        (["--model", "official:cyclegan"], "needs --weights"),
        (["--model", "official:cyclegan", "--weights", resnet_weights, "--target", "a=1"],
         "only applies to official:stargan"),
        (["--model", "official:cyclegan", "--weights", resnet_weights, "--input", tmp_path / "nothing"],
         "does not exist"),
    ]
    for args, message in cases:
        base = ["--input", tmp_path / "in"] if "--input" not in args else []
        rc, _, err = run(capsys, *args, *base, "--output", tmp_path / "out")
        assert rc == 2 and message in err, err


# --- streaming: memory does not grow with the number of images ---------------------------------------------------

_PEAK_RSS = textwrap.dedent("""
    import resource, sys
    import torch
    torch.set_num_threads(1)  # the test is about memory; threads only add contention on a shared machine
    from ganlit.commands.translate import main
    rc = main(sys.argv[1:])
    print("PEAK_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, rc)
""")


@pytest.mark.slow
def test_a_thousand_images_take_no_more_memory_than_a_hundred(tmp_path, resnet_weights):
    """64 px images: holding 900 more of them as float inputs would take 44 MB, as uint8 outputs 11 MB."""
    peaks = {}
    for n in (100, 1000):
        write_images(tmp_path / f"in{n}", [f"{i:04d}.png" for i in range(n)], size=(64, 64), seed=n)
        proc = subprocess.run(
            [sys.executable, "-c", _PEAK_RSS, "--model", "official:cyclegan", "--weights", str(resnet_weights),
             "--input", str(tmp_path / f"in{n}"), "--output", str(tmp_path / f"out{n}"), "--image-size", "64",
             "--batch-size", "16", "--device", "cpu"],
            capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        line = next(s for s in proc.stdout.splitlines() if s.startswith("PEAK_KB"))
        peaks[n] = int(line.split()[1])
        assert len(list((tmp_path / f"out{n}").iterdir())) == n
    assert peaks[1000] - peaks[100] < 8 * 1024, peaks  # KiB: less than 8 MiB of growth


def test_the_ganlit_command_dispatches_to_translate(tmp_path, capsys, resnet_weights):
    from ganlit.cli import main as ganlit_main

    write_images(tmp_path / "in", ["a.png"], size=(16, 16))
    rc = ganlit_main(["translate", "--model", "official:cyclegan", "--weights", str(resnet_weights),
                      "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--image-size", "16"])
    assert rc == 0 and (tmp_path / "out" / "a.png").is_file()
