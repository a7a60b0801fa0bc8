"""ganlit export: the exported generator computes what the module's translate/generate computes."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from ganlit.checkpoint import load_module
from ganlit.cli import main as cli_main
from ganlit.commands.export import main as export_main
from ganlit.commands.export import per_image_batchnorm
from ganlit.models import CGAN, GAN, CycleGAN, DiscoGAN, PairedCycleGAN, Pix2Pix, StarGAN


def save(model, path: Path) -> Path:
    """A ganlit checkpoint as ``ganlit fit`` writes it (class, init arguments, state)."""
    torch.save({"ganlit_class": f"{type(model).__module__}.{type(model).__qualname__}",
                "hyper_parameters": dict(model.hparams), "state_dict": model.state_dict()}, path)
    return path


def images(n: int, c: int = 3, size: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def export(tmp_path, ckpt, fmt="torchscript", *extra, name=None) -> tuple[int, Path, dict]:
    out = tmp_path / (name or ("g.pt" if fmt == "torchscript" else "g.onnx"))
    rc = export_main(["--ckpt", str(ckpt), "--format", fmt, "--output", str(out), *extra])
    side = Path(f"{out}.json")
    return rc, out, json.loads(side.read_text()) if side.exists() else {}


def test_gan_exports_the_ema_generator(tmp_path):
    torch.manual_seed(0)
    model = GAN(image_size=16, channels=1, ngf=8, ndf=8, ema_decay=0.9)
    model._ensure_ema()
    with torch.no_grad():  # make the average differ from the raw generator
        for p in model.generator_ema.parameters():
            p.add_(0.05)
    rc, out, side = export(tmp_path, save(model, tmp_path / "gan.ckpt"))
    assert rc == 0
    module = load_module(tmp_path / "gan.ckpt")
    z = torch.randn(5, 100, generator=torch.Generator().manual_seed(3))
    got = torch.jit.load(str(out))(z)
    with torch.no_grad():
        expected, raw = module.generate(z), module.generator(z)
    assert got.shape == (5, 1, 16, 16)
    assert torch.allclose(got, expected, atol=1e-6) and not torch.allclose(got, raw, atol=1e-3)
    assert side["ema"] is True and side["mode"] == "eval" and side["image_size"] == 16 and side["channels"] == 1
    assert [i["name"] for i in side["inputs"]] == ["z"] and side["inputs"][0]["shape"] == ["N", 100]
    assert side["normalization"]["mean"] == [0.5] and side["normalization"]["range"] == [-1.0, 1.0]
    assert side["verification"]["max_abs_diff"] == 0.0


def test_cgan_exports_g_of_z_and_labels_through_the_cli(tmp_path, capsys):
    torch.manual_seed(0)
    ckpt = save(CGAN(num_classes=4, image_size=8, channels=1, ngf=4, ndf=4), tmp_path / "cgan.ckpt")
    out = tmp_path / "cgan.pt"
    assert cli_main(["export", "--ckpt", str(ckpt), "--format", "torchscript", "--output", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    module = load_module(ckpt)
    z, labels = torch.randn(4, 100), torch.tensor([3, 0, 2, 1])
    with torch.no_grad():
        assert torch.allclose(torch.jit.load(str(out))(z, labels), module.generate(z, labels), atol=1e-6)
    side = json.loads(Path(f"{out}.json").read_text())
    assert side["inputs"][1] == {"name": "labels", "shape": ["N"], "dtype": "int64",
                                 "description": "int64 [N], class indices in [0, 3]"}


def pix2pix(tmp_path, **kw) -> Path:
    torch.manual_seed(0)
    model = Pix2Pix(image_size=64, num_downs=6, ngf=4, ndf=4, n_layers=1, **kw)  # one dropout block
    with torch.no_grad():  # running statistics unlike any one image's, so eval and train modes differ
        for m in model.generator.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.fill_(0.3), m.running_var.fill_(2.0)
    return save(model, tmp_path / "p2p.ckpt")


def test_pix2pix_default_is_the_official_training_mode_with_per_image_statistics(tmp_path):
    ckpt = pix2pix(tmp_path, use_dropout=False)
    rc, out, side = export(tmp_path, ckpt)
    assert rc == 0 and side["mode"].startswith("train")
    module = load_module(ckpt)
    x = images(3, size=64)
    got = torch.jit.load(str(out))(x)
    with torch.no_grad():
        expected = module.translate(x)  # one image at a time, each with its own BatchNorm statistics
        whole_batch = per_image_batchnorm(module.generator)(x[:1])
    assert torch.allclose(got, expected, atol=1e-5)
    assert torch.allclose(got[:1], whole_batch, atol=1e-5)
    with torch.no_grad():
        assert not torch.allclose(got, module.translate(x, eval_mode=True), atol=1e-3)


def test_pix2pix_training_mode_keeps_dropout_and_eval_mode_drops_it(tmp_path):
    ckpt = pix2pix(tmp_path, use_dropout=True)
    module = load_module(ckpt)
    x = images(1, size=64)
    rc, out, _ = export(tmp_path, ckpt)
    assert rc == 0
    net = torch.jit.load(str(out))
    torch.manual_seed(7)
    got = net(x)
    torch.manual_seed(7)
    with torch.no_grad():
        expected = module.translate(x)
    assert torch.allclose(got, expected, atol=1e-5)  # same seed, same dropout masks
    assert not torch.allclose(net(x), got, atol=1e-4)  # dropout on: another draw, another image
    rc, out, side = export(tmp_path, ckpt, "torchscript", "--eval", name="eval.pt")
    assert rc == 0 and side["mode"].startswith("eval")
    with torch.no_grad():
        assert torch.allclose(torch.jit.load(str(out))(x), module.translate(x, eval_mode=True), atol=1e-5)


@pytest.mark.parametrize("direction", ["AtoB", "BtoA"])
def test_cyclegan_exports_the_direction_asked_for(tmp_path, direction):
    torch.manual_seed(0)
    model = CycleGAN(ngf=4, ndf=4, n_blocks=1, n_layers=1)
    model.fixed_A = images(1, size=12)  # the training size, as the first batch leaves it
    rc, out, side = export(tmp_path, save(model, tmp_path / "cg.ckpt"), "torchscript", "--direction", direction)
    assert rc == 0 and side["image_size"] == 12 and side["network"] == f"generators['{direction[0]}2{direction[-1]}']"
    x = images(2, size=12)
    with torch.no_grad():
        assert torch.allclose(torch.jit.load(str(out))(x), model.eval().translate(x, direction), atol=1e-5)


def test_discogan_export_speaks_minus_one_to_one_like_translate(tmp_path):
    torch.manual_seed(0)
    model = DiscoGAN(image_size=16, ngf=4, ndf=4)
    rc, out, _ = export(tmp_path, save(model, tmp_path / "dg.ckpt"), "torchscript", "--direction", "BtoA")
    assert rc == 0
    x = images(2)
    with torch.no_grad():
        got, expected = torch.jit.load(str(out))(x), model.eval().translate(x, "BtoA")
    assert torch.allclose(got, expected, atol=1e-5) and got.min() < 0


def test_stargan_exports_g_of_image_and_target_labels(tmp_path):
    torch.manual_seed(0)
    model = StarGAN(image_size=16, num_attrs=3, conv_dim=4, repeat_num=1, d_repeat_num=2)
    rc, out, side = export(tmp_path, save(model, tmp_path / "sg.ckpt"))
    assert rc == 0 and side["attr_names"] == ["attr0", "attr1", "attr2"]
    assert [i["shape"] for i in side["inputs"]] == [["N", 3, "H", "W"], ["N", 3]]
    x, c = images(2), torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    with torch.no_grad():
        assert torch.allclose(torch.jit.load(str(out))(x, c), model.translate(x, target=c), atol=1e-5)


def test_paired_cyclegan_applies_makeup_from_a_reference(tmp_path):
    torch.manual_seed(0)
    model = PairedCycleGAN(image_size=16, ngf=4, ndf=4, n_blocks_g=1, n_blocks_f=1)
    rc, out, side = export(tmp_path, save(model, tmp_path / "pc.ckpt"))
    assert rc == 0 and [i["name"] for i in side["inputs"]] == ["x", "reference"]
    x, ref = images(2), images(2, seed=5)
    with torch.no_grad():
        assert torch.allclose(torch.jit.load(str(out))(x, ref), model.translate(x, reference=ref), atol=1e-5)


def test_onnx_file_computes_the_translation_for_any_batch(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator

    torch.manual_seed(0)
    model = CycleGAN(ngf=4, ndf=4, n_blocks=1, n_layers=1)
    model.fixed_A = images(1)
    rc, out, side = export(tmp_path, save(model, tmp_path / "cg.ckpt"), "onnx", "--onnx-exporter", "torchscript")
    assert rc == 0
    x = images(3)  # the example had 2: the batch axis is dynamic
    got = ReferenceEvaluator(onnx.load(str(out))).run(None, {"x": x.numpy()})[0]
    with torch.no_grad():
        assert torch.allclose(torch.from_numpy(got), model.eval().translate(x), atol=1e-4)
    if importlib.util.find_spec("onnxruntime") is None:
        assert side["verification"]["numeric_check"] == "skipped: onnxruntime is not installed"


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_onnx_file_takes_other_heights_and_widths_than_the_example(tmp_path, exporter):
    onnx = pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator

    torch.manual_seed(0)
    model = CycleGAN(ngf=4, ndf=4, n_blocks=1, n_layers=1)
    model.fixed_A = images(1)  # trained, and exported, at 16 px
    rc, out, side = export(tmp_path, save(model, tmp_path / "cg.ckpt"), "onnx", "--onnx-exporter", exporter,
                           "--eval")
    assert rc == 0 and "[N, 3, H, W]" in side["inputs"][0]["description"], side["inputs"]
    evaluator = ReferenceEvaluator(onnx.load(str(out)))
    for h, w in ((32, 32), (24, 40)):
        x = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(h)) * 2 - 1
        got = torch.from_numpy(evaluator.run(None, {"x": x.numpy()})[0])
        with torch.no_grad():
            expected = model.eval().translate(x)
        assert got.shape == (2, 3, h, w) and torch.allclose(got, expected, atol=1e-4)


def test_onnx_pix2pix_training_mode_has_random_dropout_and_per_image_norm(tmp_path):
    onnx = pytest.importorskip("onnx")
    rc, out, side = export(tmp_path, pix2pix(tmp_path), "onnx", "--onnx-exporter", "torchscript")
    assert rc == 0 and "dropout is random" in side["verification"]["numeric_check"]
    graph = onnx.load(str(out)).graph
    ops = [n.op_type for n in graph.node]
    assert "BatchNormalization" not in ops and ops.count("InstanceNormalization") > 0 and "Dropout" in ops


@pytest.mark.slow
def test_onnx_dynamo_exporter_eval_mode_matches(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator

    ckpt = pix2pix(tmp_path)
    rc, out, _ = export(tmp_path, ckpt, "onnx", "--eval")
    assert rc == 0
    x = images(3, size=64)
    got = ReferenceEvaluator(onnx.load(str(out))).run(None, {"x": x.numpy()})[0]
    with torch.no_grad():
        assert torch.allclose(torch.from_numpy(got), load_module(ckpt).translate(x, eval_mode=True), atol=1e-4)


def test_refuses_to_overwrite_without_the_flag(tmp_path, capsys):
    ckpt = pix2pix(tmp_path)
    assert export(tmp_path, ckpt, "torchscript", "--eval")[0] == 0
    before = (tmp_path / "g.pt").read_bytes()
    capsys.readouterr()
    rc, out, side = export(tmp_path, ckpt)
    err = capsys.readouterr().err
    assert rc == 2 and "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert out.read_bytes() == before and side["mode"].startswith("eval")
    rc, _, side = export(tmp_path, ckpt, "torchscript", "--overwrite")
    assert rc == 0 and side["mode"].startswith("train")


@pytest.mark.parametrize("case, args, message", [
    ("gan", ["--direction", "AtoB"], "does not apply to GAN"),
    ("pix2pix", ["--direction", "BtoA"], "one mapping"),
    ("cyclegan", [], "pass --image-size"),
    ("missing", [], "does not exist"),
])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys, case, args, message):
    torch.manual_seed(0)
    if case == "gan":
        ckpt = save(GAN(image_size=8, ngf=4, ndf=4), tmp_path / "m.ckpt")
    elif case == "pix2pix":
        ckpt = pix2pix(tmp_path)
    elif case == "cyclegan":  # never trained: no fixed images tell its size
        ckpt = save(CycleGAN(ngf=4, ndf=4, n_blocks=1, n_layers=1), tmp_path / "m.ckpt")
    else:
        ckpt = tmp_path / "nope.ckpt"
    rc, out, _ = export(tmp_path, ckpt, "torchscript", *args)
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1 and not out.exists()
