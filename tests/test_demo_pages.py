"""``ganlit demo``'s page functions called in this process (no browser): the official-weights, style transfer and
makeup pages give the PNGs of ``ganlit translate`` / ``ganlit stylize``; without Gradio the command says how to install
it. The browser side is tests/test_demo.py."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganlit.cli import main as ganlit


def write_image(path: Path, size: tuple[int, int] = (24, 20), seed: int = 0) -> Path:
    rgb = (np.random.default_rng(seed).random((size[1], size[0], 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(path)
    return path


def read_png(path_or_bytes) -> np.ndarray:
    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    with Image.open(source) as image:
        return np.asarray(image.convert("RGB"))


def test_without_gradio_it_says_how_to_install(monkeypatch, capsys):
    from ganlit.commands import demo

    for key in ("GRADIO_TEMP_DIR", "GRADIO_ANALYTICS_ENABLED", "HF_HUB_OFFLINE", "HF_HUB_DISABLE_TELEMETRY",
                "GRADIO_SSR_MODE"):
        monkeypatch.setenv(key, "restored after the test")
    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio -> ImportError
    assert demo.main(["--model", "whatever.ckpt"]) == 2
    assert "pip install 'ganlit[demo]'" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["cyclegan", "stargan"])
def test_official_weights_pages_give_the_translate_pngs(kind, tmp_path, monkeypatch, request):
    """The page function behind official:* (called in this process; the browser side is the one tested above)."""
    pytest.importorskip("gradio", reason="pip install -e '.[demo]'")
    from ganlit.commands import demo, demo_families
    from ganlit.commands.demo_pages import Limits

    if kind == "cyclegan":  # conftest's official-layout weights
        weights = request.getfixturevalue("resnet_weights")
        extra, options, page_options = [], [], {}
    else:
        weights, _ = request.getfixturevalue("stargan_weights")
        extra, options = ["--attrs", "Black_Hair,Male,Young"], ["--target", "Black_Hair=1,Male=0,Young=1"]
        page_options = {"target": {"Black_Hair": 1.0, "Male": 0.0, "Young": 1.0}}
    built = {}
    for name in ("translation_page", "stargan_page"):  # record what the page gets instead of building widgets
        monkeypatch.setattr(demo_families, name, lambda ctx, *rest, _name=name, **kw: built.update(
            ctx=ctx, page=_name, rest=rest))
    args = demo.build_parser().parse_args(["--model", f"official:{kind}", "--weights", str(weights), *extra])
    demo.build_page(args, "cpu", tmp_path / "work", Limits())
    assert built["page"] == ("translation_page" if kind == "cyclegan" else "stargan_page")
    if kind == "stargan":  # the attribute names from --attrs; the hair colours form the exclusive group
        assert built["rest"][:2] == (["Black_Hair", "Male", "Young"], ["Black_Hair"])
    image = write_image(tmp_path / "photo.png", size=(40, 30))
    _, out = built["ctx"].translate(str(image), **page_options)
    assert Path(out).is_relative_to(tmp_path / "work")
    out_dir = tmp_path / "cli"
    assert ganlit(["translate", "--model", f"official:{kind}", "--weights", str(weights), *extra, *options,
                   "--input", str(image), "--output", str(out_dir)]) == 0
    np.testing.assert_array_equal(read_png(Path(out)), read_png(out_dir / "photo.png"))


def test_stylize_page_gives_the_stylize_png(tmp_path):
    """``ganlit demo --model stylize``: the page's function writes the PNG of ``ganlit stylize`` (in this process)."""
    pytest.importorskip("gradio", reason="pip install -e '.[demo]'")
    import torch

    from ganlit.commands import demo
    from ganlit.commands.demo_families import run_stylize
    from ganlit.commands.demo_pages import Limits, Workspace
    from ganlit.models.style_transfer import StyleTransfer
    from test_style_transfer import _torchvision_vgg19_features_state

    weights = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save(_torchvision_vgg19_features_state(), weights)
    args = demo.build_parser().parse_args(["--model", "stylize", "--weights", str(weights)])
    page, description = demo.build_page(args, "cpu", tmp_path / "work", Limits())
    assert description == "Gatys style transfer" and type(page).__name__ == "Blocks"
    content = write_image(tmp_path / "content.png", (48, 32), 1)
    style = write_image(tmp_path / "style.png", (40, 40), 2)
    reported = []
    path, losses = run_stylize(StyleTransfer(vgg_weights=str(weights)), Workspace(tmp_path / "work"), Limits(),
                               str(content), str(style), 3, 24, lambda i, loss: reported.append(loss["total"]))
    assert reported == [row["total"] for row in losses]  # the progress bar gets every evaluation's loss
    assert ganlit(["stylize", "--content", str(content), "--style", str(style), "--output", str(tmp_path / "cli.png"),
                   "--size", "24", "--steps", "3", "--device", "cpu", "--vgg-weights", str(weights)]) == 0
    got = read_png(Path(path))
    assert got.shape == (16, 24, 3)
    np.testing.assert_array_equal(got, read_png(tmp_path / "cli.png"))


def test_makeup_page_gives_the_translate_pngs(tmp_path, monkeypatch):
    """PairedCycleGAN: apply the reference's makeup, and remove it, as ``ganlit translate --reference/--remove``."""
    pytest.importorskip("gradio", reason="pip install -e '.[demo]'")
    from demo_ckpts import train_tiny
    from ganlit.commands import demo, demo_families
    from ganlit.commands.demo_pages import Limits

    ckpt = train_tiny("paired_cyclegan", tmp_path)
    built = {}
    monkeypatch.setattr(demo_families, "makeup_page", lambda ctx, examples: built.update(ctx=ctx, examples=examples))
    demo.build_page(demo.build_parser().parse_args(["--model", str(ckpt)]), "cpu", tmp_path / "work", Limits())
    assert [Path(p).name for p in built["examples"]][:4] == [
        "digit3_plain.png", "digit7_plain.png", "digit3_style0.png", "digit7_style0.png"]
    face, reference = write_image(tmp_path / "face.png", (40, 30), 3), Path(built["examples"][3])
    for options, page_options in ((["--reference", str(reference)], {"reference": reference}),
                                  (["--remove"], {"remove": True})):
        _, out = built["ctx"].translate(str(face), **page_options)
        out_dir = tmp_path / f"cli{len(options)}"
        assert ganlit(["translate", "--model", str(ckpt), "--input", str(face), "--output", str(out_dir),
                       *options]) == 0
        np.testing.assert_array_equal(read_png(Path(out)), read_png(out_dir / "face.png"))
