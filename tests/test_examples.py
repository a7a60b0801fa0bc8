"""examples/: two new papers written as a user writes them, run outside the repository with ganlit's own commands.

``examples/`` is copied to a fresh folder, and each command runs there as a user types it (a subprocess, the folder as
working directory, so ``wgan.WGAN`` is the user's own module): ``fit`` on the digits world, ``fit --ckpt_path last``
and ``demo`` on loopback with one call of its API. ``sample`` or ``translate``, ``evaluate`` and ``export``
(TorchScript and ONNX against PyTorch) run in this process through ``ganlit``'s own entry point, from the same folder.
Nothing inside ganlit names these papers.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TINY = ["--trainer.limit_train_batches", "3", "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false"]


def ganlit(*args, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "disabled", "NO_ALBUMENTATIONS_UPDATE": "1"}
    done = subprocess.run([sys.executable, "-m", "ganlit", *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, f"ganlit {' '.join(map(str, args))}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture
def user_folder(runs, monkeypatch):
    """This process in the user's folder, as ``ganlit`` started there sees it (the folder importable)."""
    folder, _ = runs
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(folder))
    return folder


def cli(*args) -> None:
    from ganlit.cli import main

    assert main([str(a) for a in args]) == 0, args


def iteration(ckpt: Path) -> int:
    return int(torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]["iteration"])


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """examples/ copied outside the repository; each paper fitted 1 epoch of 3 batches, then resumed to 2 epochs."""
    folder = tmp_path_factory.mktemp("user") / "examples"
    shutil.copytree(EXAMPLES, folder)
    found = {}
    for name in ("wgan", "can_pix2pix"):
        ganlit("fit", "--config", f"{name}.yaml", "--trainer.max_epochs", "1", *TINY, cwd=folder)
        last = folder / "runs" / name / "version_0" / "checkpoints" / "last.ckpt"
        first = iteration(last)
        ganlit("fit", "--config", f"{name}.yaml", "--trainer.max_epochs", "2", *TINY, "--ckpt_path", "last", cwd=folder)
        found[name] = (folder / "runs" / name / "version_0", first, iteration(last))
    return folder, found


def test_each_example_fits_and_resumes_where_it_stopped(runs):
    folder, found = runs
    assert not (folder.parent / "ganlit").exists()  # the user's folder holds no copy of ganlit
    for name, (run, first, resumed) in found.items():
        assert first == 3 and resumed == 6, name  # the same run went on: 3 more iterations, not a new run
        assert not (run.parent / "version_1").exists()
        assert sorted(p.name for p in (run / "samples").iterdir())[-1] == "iter_0000006.png", name


def test_the_wgan_samples_evaluates_and_exports(runs, user_folder, tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator

    folder, found = runs
    run = found["wgan"][0]
    cli("sample", "--model", run, "--num", "6", "--seed", "3", "--output", tmp_path / "s")
    images = [pixels(tmp_path / "s" / f"{i}.png") for i in range(6)]
    assert all(image.shape == (16, 16) for image in images) and np.std(np.stack(images)) > 1

    cli("evaluate", "--model", run, "--config", "wgan.yaml", "--num", "20", "--num-real", "20", "--no-cache",
        "--json", tmp_path / "e.json")
    report = json.loads((tmp_path / "e.json").read_text())
    assert report["metrics"]["digits_fid"] > 0 and report["protocol"]["fake_count"] == 20

    import ganlit as api

    model = api.load(run)  # the user's module, to compare the exports with the model itself
    z = torch.randn(3, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = model.generate(z)
    for fmt, out in (("torchscript", "g.pt"), ("onnx", "g.onnx")):
        cli("export", "--model", run, "--format", fmt, "--output", tmp_path / out)
    torch.testing.assert_close(torch.jit.load(str(tmp_path / "g.pt"))(z), want, atol=1e-5, rtol=0)
    got = ReferenceEvaluator(onnx.load(str(tmp_path / "g.onnx"))).run(None, {"z": z.numpy()})[0]
    torch.testing.assert_close(torch.from_numpy(got), want, atol=1e-4, rtol=0)


def test_the_pix2pix_with_its_own_generator_translates_evaluates_and_exports(runs, user_folder, tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator

    folder, found = runs
    run = found["can_pix2pix"][0]
    photo = tmp_path / "in" / "outline.png"
    photo.parent.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 12, 3), dtype=np.uint8)).save(photo)
    cli("translate", "--model", run, "--input", photo.parent, "--output", tmp_path / "t")
    out = pixels(tmp_path / "t" / "outline.png")
    assert out.shape == (20, 12, 3) and np.std(out) > 1  # the input's own size: the network never downsamples

    cli("evaluate", "--model", run, "--config", "can_pix2pix.yaml", "--num", "20", "--num-real", "20", "--no-cache",
        "--json", tmp_path / "e.json")
    assert json.loads((tmp_path / "e.json").read_text())["metrics"]["digits_fid_AtoB"] > 0

    for fmt, name in (("torchscript", "g.pt"), ("onnx", "g.onnx")):
        cli("export", "--model", run, "--format", fmt, "--output", tmp_path / name)
        assert json.loads((tmp_path / f"{name}.json").read_text())["model_check"]["max_abs_diff"] <= 1e-5
    x = torch.rand(1, 3, 24, 20, generator=torch.Generator().manual_seed(2)) * 2 - 1  # another size than trained
    scripted = torch.jit.load(str(tmp_path / "g.pt"))
    got = ReferenceEvaluator(onnx.load(str(tmp_path / "g.onnx"))).run(None, {"x": x.numpy()})[0]
    torch.testing.assert_close(torch.from_numpy(got), scripted(x), atol=1e-4, rtol=0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(run: Path, cwd: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "WANDB_MODE": "disabled", "NO_ALBUMENTATIONS_UPDATE": "1",
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ganlit", "demo", "--model", str(run), "--port", str(port)],
                            cwd=cwd, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise AssertionError(f"ganlit demo did not serve {url}:\n{log.read_text()[-3000:]}")


def test_the_demo_serves_each_example_and_answers_its_api(runs, user_folder, tmp_path):
    pytest.importorskip("gradio", reason="pip install -e '.[demo]'")
    from gradio_client import Client, handle_file

    folder, found = runs
    photo = tmp_path / "outline.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(photo)
    cli("sample", "--model", found["wgan"][0], "--num", "4", "--seed", "5", "--output", tmp_path / "s")
    cli("translate", "--model", found["can_pix2pix"][0], "--input", photo, "--output", tmp_path / "t")
    servers = []
    try:
        for name in ("wgan", "can_pix2pix"):
            servers.append(_serve(found[name][0], folder, tmp_path / f"{name}.log"))
        (_, sampler_url), (_, translator_url) = servers
        _, files = Client(sampler_url, verbose=False).predict("0", 4, 5, api_name="/sample")
        served = sorted((Path(f["value"] if isinstance(f, dict) else f) for f in files), key=lambda p: p.name)
        assert [p.name for p in served] == ["0.png", "1.png", "2.png", "3.png"]
        for path in served:  # the demo's images are ganlit sample's
            np.testing.assert_array_equal(pixels(path), pixels(tmp_path / "s" / path.name))
        _, out = Client(translator_url, verbose=False).predict(handle_file(str(photo)), "AtoB", False,
                                                               api_name="/translate")
        np.testing.assert_array_equal(pixels(Path(out)), pixels(tmp_path / "t" / "outline.png"))
    finally:
        for proc, _ in servers:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
