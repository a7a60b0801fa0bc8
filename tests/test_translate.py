"""``ganlit translate`` with ganlit checkpoints: option pass-through, naming, skipped files, refusals and streaming in
constant memory (official weights: tests/test_translate_official.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader
from translate_util import official_input, read, rounded, run, write_images

from ganlit.models import Pix2Pix
from ganlit.models.base import GANModule


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
    rc, _, err = run(capsys, "--model", ckpt, "--input", tmp_path / "in", "--output", tmp_path / "out", "--eval",
                     "--preprocess", "resize_and_crop")
    assert rc == 0, err
    for path in inputs:  # the load size 32 comes from the checkpoint
        with torch.no_grad():
            expected = rounded(model.translate(official_input(path, 32), eval_mode=True))
        assert np.abs(read(tmp_path / "out" / f"{path.stem}.png") - expected).max() <= 1


def test_ganlit_checkpoint_keeps_each_inputs_size_and_aspect_ratio(tmp_path, capsys, pix2pix_ckpt):
    """Trained at 32 px, a 64x40 input comes back 64x40: it runs at 64x32 (the U-Net takes multiples of 32), as
    official weights run, and the output is resized back to the input's size."""
    ckpt, model = pix2pix_ckpt
    (wide,) = write_images(tmp_path / "in", ["wide.png"], size=(64, 40))
    rc, _, err = run(capsys, "--model", ckpt, "--input", wide, "--output", tmp_path / "out", "--eval")
    assert rc == 0, err
    got = read(tmp_path / "out" / "wide.png")
    x = torch.from_numpy((np.asarray(Image.open(wide).convert("RGB").resize((64, 32), Image.BICUBIC),
                                     dtype=np.float32) / 255.0 - 0.5) / 0.5).permute(2, 0, 1)[None]
    with torch.no_grad():
        y = Image.fromarray(rounded(model.translate(x, eval_mode=True))).resize((64, 40), Image.BICUBIC)
    assert got.shape == (40, 64, 3) and np.abs(got - np.asarray(y).astype(np.int16)).max() <= 1


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

    def inference(self):  # what it declares is what translate gets
        return super().inference().replace(directions=("AtoB", "BtoA"),
                                           options=("eval_mode", "target", "reference", "remove"))

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
    assert call["reference"].shape == (3, 3, 48, 40)  # each image at its own size (40x48)
    assert read(tmp_path / "all" / "a.png").shape == (48, 80, 3)  # a list of outputs is written side by side


class RecordingStarTranslator(RecordingTranslator):
    """A StarGAN-like stand-in: translate(x, direction, target, c_org) and attribute names."""

    attr_names = ["Black_Hair", "Male", "Young"]

    def inference(self):
        return super().inference().replace(directions=(), options=("target", "c_org"),
                                           attributes=tuple(self.attr_names))

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
        assert read(tmp_path / f"o{source}" / "a.png").shape == (48, 80, 3)
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
         "takes no --target option"),
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
