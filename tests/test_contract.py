"""The inference contract (ganlit.models.inference) with papers of one's own (tests/contract_papers.py): a sampler
and a one-sided translator written on GANModule directly are trained by the real ``ganlit fit``, then sampled or
translated, exported (TorchScript and ONNX compute what the model computes), evaluated and served by the demo,
each stating only what it does; a pix2pix subclass that runs in eval mode at test time exports as such."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from contract_papers import CUTLikePix2Pix, MLPSampler, UndeclaredEvalPix2Pix
from ganlit.cli import main as cli
from ganlit import load
from ganlit.models import Pix2Pix

TESTS = Path(__file__).resolve().parent
SEQUENTIAL_META_ERROR = "failed while attempting to run meta"


def fit(folder: Path, paper: str, *data: str) -> tuple[Path, subprocess.CompletedProcess]:
    """``ganlit fit`` of ``contract_papers.<paper>`` on the 16 px digits for one iteration, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "ganlit", "fit", "--model", f"contract_papers.{paper}", "--data",
         "ganlit.data.DigitsDataModule", "--data.init_args.image_size", "16", "--data.init_args.batch_size", "4", *data,
         "--trainer.max_steps", "2", "--trainer.logger", "false", "--trainer.accelerator", "cpu",
         "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false", "--seed_everything", "0"],
        cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folder / "runs" / "version_0", proc


@pytest.fixture(scope="module")
def sampler_run(tmp_path_factory):
    return fit(tmp_path_factory.mktemp("sampler"), "MLPSampler")


@pytest.fixture(scope="module")
def translator_run(tmp_path_factory):
    return fit(tmp_path_factory.mktemp("translator"), "OneSidedTranslator", "--data.init_args.task", "unpaired")


def counted_forwards(*nets: torch.nn.Module) -> list[int]:
    counts = [0] * len(nets)
    for i, net in enumerate(nets):
        net.register_forward_pre_hook(lambda *_, i=i: counts.__setitem__(i, counts[i] + 1))
    return counts


def png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(np.int16)


def test_a_sequential_sampler_fits_without_probing_sizes(sampler_run, caplog):
    """Only declared image networks are probed, once at the configured size: the MLP generator takes noise, so it is
    never run on images (it used to be tried at ~100 sizes, each failure logged as a meta-op traceback)."""
    from ganlit.sizes import ImageSizeError, check_image_size

    _, proc = sampler_run
    assert SEQUENTIAL_META_ERROR not in proc.stderr and "Traceback" not in proc.stderr
    model = MLPSampler()
    counts = counted_forwards(model.generator, model.discriminator)
    check_image_size(model, 16)
    assert counts == [0, 1]
    with caplog.at_level(logging.DEBUG), pytest.raises(ImageSizeError, match=r"MLPSampler's Sequential "
                                                                             r"\(discriminator\).*is 16"):
        check_image_size(model, 12)  # a size that does not fit: the search for one that does logs nothing
    assert counts[0] == 0 and not [r for r in caplog.records if SEQUENTIAL_META_ERROR in r.getMessage()]


def test_a_sampler_on_ganmodule_samples_exports_and_is_served(sampler_run, tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator

    run, _ = sampler_run
    model = load(run)
    assert model.inference().task == "sample" and model.inference().directions == ()
    assert cli(["sample", "--model", str(run), "--num", "5", "--seed", "3", "--output", "s"]) == 0
    images, _ = model.sample(5, seed=3)
    expected = images.add(1).div(2).clamp(0, 1).mul(255).add(0.5).clamp(0, 255).to(torch.uint8)[:, 0].numpy()
    np.testing.assert_array_equal(np.stack([np.asarray(Image.open(f"s/{i}.png")) for i in range(5)]), expected)

    z = torch.randn(3, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = model.generate(z)
    for fmt, out in (("torchscript", "g.pt"), ("onnx", "g.onnx")):
        assert cli(["export", "--model", str(run), "--format", fmt, "--output", out]) == 0
        side = json.loads(Path(f"{out}.json").read_text())
        assert side["mode"] == "eval" and [i["shape"] for i in side["inputs"]] == [["N", 8]]
        assert side["model_check"]["method"] == "MLPSampler.generate(z)"
    torch.testing.assert_close(torch.jit.load("g.pt")(z), want, atol=1e-6, rtol=0)
    got = ReferenceEvaluator(onnx.load("g.onnx")).run(None, {"z": z.numpy()})[0]
    torch.testing.assert_close(torch.from_numpy(got), want, atol=1e-5, rtol=0)

    real = torch.rand(4, 1, 16, 16) * 2 - 1  # what ganlit evaluate scores: the default evaluation_images of a sampler
    ((key, (kept, fake)),) = model.evaluation_images({"image": real, "label": torch.zeros(4)}).items()
    assert key == "" and kept is real and fake.shape == (4, 1, 16, 16) and fake.abs().max() <= 1

    pytest.importorskip("gradio", reason="pip install -e '.[demo]'")
    from ganlit.commands import demo
    from ganlit.commands.demo_pages import Limits

    page, description = demo.build_page(demo.build_parser().parse_args(["--model", str(run)]), "cpu",
                                        tmp_path / "work", Limits())
    assert type(page).__name__ == "Blocks" and description.startswith("MLPSampler from")


def test_a_one_sided_translator_on_ganmodule_translates_exports_and_is_served(translator_run, tmp_path, capsys,
                                                                               monkeypatch):
    onnx = pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator

    run, proc = translator_run
    assert SEQUENTIAL_META_ERROR not in proc.stderr
    model = load(run)
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (10, 18, 3), dtype=np.uint8)).save(photo)
    assert cli(["translate", "--model", str(run), "--input", str(photo), "--output", "t"]) == 0
    x = torch.from_numpy(np.asarray(Image.open(photo), dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
    with torch.no_grad():  # at its own 18x10 size: every size fits the convolutions
        y = model.translate(x)[0].add(1).div(2).clamp(0, 1).mul(255).add(0.5).to(torch.uint8).permute(1, 2, 0)
    assert np.abs(png(Path("t/photo.png")) - y.numpy()).max() <= 1
    for args, message in ((["--direction", "BtoA"], "learns one mapping"), (["--eval"], "takes no --eval option")):
        capsys.readouterr()
        assert cli(["translate", "--model", str(run), "--input", str(photo), "--output", "u", *args]) == 2
        assert message in capsys.readouterr().err

    images = torch.rand(2, 3, 12, 20, generator=torch.Generator().manual_seed(2)) * 2 - 1
    with torch.no_grad():
        want = model.translate(images)
    for fmt, out in (("torchscript", "g.pt"), ("onnx", "g.onnx")):
        assert cli(["export", "--model", str(run), "--format", fmt, "--output", out]) == 0
        side = json.loads(Path(f"{out}.json").read_text())
        assert side["mode"] == "eval" and side["image_size"] == 16 and side["model_check"]["max_abs_diff"] == 0
    torch.testing.assert_close(torch.jit.load("g.pt")(images), want, atol=1e-5, rtol=0)
    got = ReferenceEvaluator(onnx.load("g.onnx")).run(None, {"x": images.numpy()})[0]
    torch.testing.assert_close(torch.from_numpy(got), want, atol=1e-5, rtol=0)

    pytest.importorskip("gradio", reason="pip install -e '.[demo]'")
    from ganlit.commands import demo, demo_families
    from ganlit.commands.demo_pages import Limits

    built = {}
    monkeypatch.setattr(demo_families, "translation_page", lambda ctx, **kw: built.update(ctx=ctx, **kw))
    demo.build_page(demo.build_parser().parse_args(["--model", str(run)]), "cpu", tmp_path / "work", Limits())
    assert built["two_way"] is False and built["eval_option"] is False  # one direction, no options declared
    _, out = built["ctx"].translate(str(photo))
    np.testing.assert_array_equal(png(Path(out)), png(Path("t/photo.png")))


def _pix2pix_ckpt(cls: type, path: Path) -> Path:
    torch.manual_seed(0)
    model = cls(image_size=64, num_downs=6, ngf=4, ndf=4, n_layers=1)  # one dropout block
    with torch.no_grad():  # running statistics unlike any one image's, so eval and training mode differ
        for m in model.generator.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.fill_(0.3), m.running_var.fill_(2.0)
    torch.save({"ganlit_class": f"{cls.__module__}.{cls.__qualname__}", "hyper_parameters": dict(model.hparams),
                "state_dict": model.state_dict(), "ganlit_facts": {"image_size": 64, "channels": 3}}, path)
    return path


def test_a_pix2pix_subclass_exports_in_the_mode_it_declares(tmp_path, capsys):
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(3)) * 2 - 1
    modes = {}
    for cls in (Pix2Pix, CUTLikePix2Pix):
        ckpt = _pix2pix_ckpt(cls, tmp_path / f"{cls.__name__}.ckpt")
        out = tmp_path / f"{cls.__name__}.pt"
        assert cli(["export", "--model", str(ckpt), "--format", "torchscript", "--output", str(out)]) == 0
        modes[cls] = json.loads(Path(f"{out}.json").read_text())["mode"]
        model = load(ckpt)
        torch.manual_seed(5)
        got = torch.jit.load(str(out))(x)
        torch.manual_seed(5)
        with torch.no_grad():
            torch.testing.assert_close(got, model.translate(x), atol=1e-5, rtol=0)  # the model's own translate
    assert modes[Pix2Pix].startswith("train, as the paper and the official test: dropout on")
    assert modes[CUTLikePix2Pix] == "eval"
    # A subclass whose translate runs otherwise than it declares is refused, not described wrongly.
    ckpt = _pix2pix_ckpt(UndeclaredEvalPix2Pix, tmp_path / "undeclared.ckpt")
    capsys.readouterr()
    assert cli(["export", "--model", str(ckpt), "--format", "torchscript", "--output", str(tmp_path / "u.pt")]) == 2
    err = capsys.readouterr().err
    assert "does not compute what UndeclaredEvalPix2Pix.translate computes" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "u.pt").exists() and not (tmp_path / "u.pt.json").exists()
