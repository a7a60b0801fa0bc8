"""``ganlit download`` for weights (inception, vgg19, official:<kind>/<name>) against a local HTTP server on 127.0.0.1.

$TORCH_HOME points at a temporary folder in every test, so "where ganlit looks" is a fresh hub checkpoint folder.
A real file's sha256 cannot be made to start with a given 8 hex digits, so where a test needs a *good* Inception or
VGG-19 file it pins that entry's prefix to the test file's (the check itself is the real one); the refusal test
keeps the pinned prefix of the real names (6726825d, dcbb9e9d).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from http_util import Server
from PIL import Image

from ganlit import weights_download as wd
from ganlit.commands.download import main
from ganlit.fetch import DownloadError
from ganlit.hub import load_official, official_weights_file, pretrained_url, resolve_official
from ganlit.metrics.features import INCEPTION_FILE, INCEPTION_URL, resolve_inception_weights
from ganlit.networks.vgg import VGG19_FILENAME, VGG19_URL, VGG19Features
from ganlit.weights import MissingWeightsError, hub_checkpoint_dir


@pytest.fixture
def hub(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("GANLIT_DOWNLOAD_BASE_URL", raising=False)
    return tmp_path / "torch" / "hub" / "checkpoints"


@pytest.fixture
def server():
    with Server() as srv:
        yield srv


def saved(state: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def vgg_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {"features.0.weight": torch.randn(64, 3, 3, 3), "features.0.bias": torch.randn(64)}


def pin_prefix(monkeypatch, name: str, body: bytes) -> None:
    """Let ``body`` pass as weights ``name``: its sha256 prefix replaces the one the real file name carries."""
    source = dataclasses.replace(wd.WEIGHTS[name], sha256_prefix=hashlib.sha256(body).hexdigest()[:8])
    monkeypatch.setitem(wd.WEIGHTS, name, source)


def error_line(err: str) -> str:
    """The command's error, checked to be one line (the progress bar before it is tqdm's, on stderr too)."""
    lines = err.rstrip("\n").split("\n")
    assert lines[-1].startswith("ganlit download: error: ") and sum("error:" in line for line in lines) == 1, err
    return lines[-1]


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_the_table_pins_the_hash_prefix_of_the_torch_hub_names():
    assert wd.WEIGHTS["inception"].sha256_prefix == "6726825d" and wd.WEIGHTS["inception"].target == INCEPTION_FILE
    assert wd.WEIGHTS["vgg19"].sha256_prefix == "dcbb9e9d" and wd.WEIGHTS["vgg19"].target == VGG19_FILENAME
    assert wd.weights_url("inception") == INCEPTION_URL and wd.weights_url("vgg19") == VGG19_URL
    assert wd.weights_url("official:cyclegan/horse2zebra") == pretrained_url("cyclegan", "horse2zebra")
    assert wd.weights_url("official:pix2pix/facades_label2photo") == pretrained_url("pix2pix", "facades_label2photo")
    # Dropbox: dl=1 serves the zip itself; a mirror serves the same file name
    assert wd.weights_url("official:stargan/celeba-128x128-5attrs").endswith("celeba-128x128-5attrs.zip?dl=1")
    assert wd.weights_url("vgg19", "http://127.0.0.1:9/m/") == "http://127.0.0.1:9/m/vgg19-dcbb9e9d.pth"
    assert all(source.sha256_prefix is None for key, source in wd.WEIGHTS.items() if key.startswith("official:"))


def test_vgg19_is_installed_where_from_pretrained_finds_it(hub, server, monkeypatch, capsys):
    state = vgg_state()
    body = saved(state)
    server.files[f"/mirror/{VGG19_FILENAME}"] = body
    pin_prefix(monkeypatch, "vgg19", body)
    assert main(["vgg19", "--base-url", server.url]) == 0
    assert files_in(hub) == [VGG19_FILENAME] and (hub / VGG19_FILENAME).read_bytes() == body
    assert f"vgg19 is in {hub / VGG19_FILENAME}" in capsys.readouterr().out
    net = VGG19Features.from_pretrained(layers=("relu1_1",))  # no path: it looks in the hub folder
    torch.testing.assert_close(net.features[0].weight, state["features.0.weight"])
    # Already in place: no second request, unless --force
    assert main(["vgg19", "--base-url", server.url]) == 0
    assert "already in place" in capsys.readouterr().err and len(server.requests) == 1


def test_inception_is_installed_where_resolve_inception_weights_looks(hub, server, monkeypatch, capsys):
    body = saved({"w": torch.zeros(3)})
    server.files[f"/mirror/{INCEPTION_FILE}"] = body
    pin_prefix(monkeypatch, "inception", body)
    monkeypatch.setenv("GANLIT_DOWNLOAD_BASE_URL", server.url)  # the mirror through the environment
    path = wd.download_weights("inception")
    assert path == hub / INCEPTION_FILE == resolve_inception_weights()
    assert f"sha256 {hashlib.sha256(body).hexdigest()}" in capsys.readouterr().err


@pytest.mark.parametrize("name, filename", [("inception", INCEPTION_FILE), ("vgg19", VGG19_FILENAME)])
def test_a_file_whose_sha256_does_not_start_with_its_names_prefix_is_refused(hub, server, capsys, name, filename):
    server.files[f"/mirror/{filename}"] = saved({"w": torch.ones(2)})  # sha256 does not start with 6726825d/dcbb9e9d
    assert main([name, "--base-url", server.url]) == 2
    err = error_line(capsys.readouterr().err)
    assert f"does not start with {wd.WEIGHTS[name].sha256_prefix}" in err and "removed" in err
    assert files_in(hub) == []  # no file, no .part, no .url sidecar
    with pytest.raises(MissingWeightsError):
        resolve_inception_weights() if name == "inception" else VGG19Features.from_pretrained()


def test_an_interrupted_transfer_resumes_with_a_range_request(hub, server, monkeypatch):
    body = saved({"features.0.weight": torch.randn(64, 3, 3, 3), "features.0.bias": torch.randn(64)})
    path = f"/mirror/{VGG19_FILENAME}"
    server.files[path] = body
    server.cut.add(path)
    pin_prefix(monkeypatch, "vgg19", body)
    with pytest.raises(DownloadError, match="rerun"):
        wd.download_weights("vgg19", base_url=server.url)
    part = f"{VGG19_FILENAME}.part"
    assert files_in(hub) == [part, part + ".url"]  # the bytes so far and the URL they came from; nothing installed
    size = (hub / part).stat().st_size
    assert 0 < size < len(body)
    server.cut.clear()
    assert wd.download_weights("vgg19", base_url=server.url) == hub / VGG19_FILENAME
    assert server.requests[-1] == (path, f"bytes={size}-")
    assert files_in(hub) == [VGG19_FILENAME] and (hub / VGG19_FILENAME).read_bytes() == body


def test_official_cyclegan_prints_its_sha256_and_translate_finds_it_by_name(hub, server, resnet_weights, tmp_path,
                                                                         capsys):
    from ganlit.commands.translate import main as translate

    body = resnet_weights.read_bytes()
    digest = hashlib.sha256(body).hexdigest()
    server.files["/mirror/horse2zebra.pth"] = body
    assert main(["official:cyclegan/horse2zebra", "--base-url", server.url]) == 0
    err = capsys.readouterr().err
    assert f"horse2zebra.pth: sha256 {digest} (no checksum is published" in err and "--sha256" in err
    installed = hub / official_weights_file("cyclegan", "horse2zebra")
    assert files_in(hub) == ["ganlit-official/cyclegan/horse2zebra.pth"]
    assert resolve_official("cyclegan", "horse2zebra") == installed
    load_official("cyclegan", installed)  # strict load of the generator the file describes

    Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(tmp_path / "in.png")
    rc = translate(["--model", "official:cyclegan/horse2zebra", "--input", str(tmp_path / "in.png"),
                    "--output", str(tmp_path / "out"), "--device", "cpu"])
    assert rc == 0 and (tmp_path / "out" / "in.png").is_file()
    assert str(installed) in capsys.readouterr().err  # the description names the file it used

    # --sha256 pins it; a wrong one is refused and the installed file stays as it was
    assert main(["official:cyclegan/horse2zebra", "--base-url", server.url, "--force", "--sha256", "0" * 64]) == 2
    assert "!= expected 0000" in capsys.readouterr().err and installed.read_bytes() == body
    assert files_in(hub) == ["ganlit-official/cyclegan/horse2zebra.pth"]
    assert main(["official:cyclegan/horse2zebra", "--base-url", server.url, "--force", "--sha256", digest]) == 0


def test_an_official_file_that_is_not_a_state_dict_is_not_installed(hub, server, capsys):
    server.files["/mirror/edges2shoes.pth"] = b"<html>Not Found</html>" * 20
    assert main(["official:pix2pix/edges2shoes", "--base-url", server.url]) == 2
    err = error_line(capsys.readouterr().err)
    assert "not a PyTorch checkpoint file" in err and "removed" in err
    assert files_in(hub) == []


def stargan_zip(g_body: bytes, name: str = "200000-G.ckpt") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(f"stargan_celeba_128/models/{name}", g_body)
        zf.writestr("stargan_celeba_128/models/200000-D.ckpt", saved({"main.0.weight": torch.zeros(1)}))
    return buffer.getvalue()


def test_stargan_zip_gives_its_generator_where_the_official_loader_looks(hub, server, stargan_weights, capsys):
    g_path, state = stargan_weights
    server.files["/mirror/celeba-128x128-5attrs.zip"] = stargan_zip(g_path.read_bytes())
    assert main(["official:stargan/celeba-128x128-5attrs", "--base-url", server.url]) == 0
    assert "celeba-128x128-5attrs.zip: sha256 " in capsys.readouterr().err
    installed = resolve_official("stargan", "celeba-128x128-5attrs")
    assert installed == hub / "ganlit-official" / "stargan" / "celeba-128x128-5attrs" / "200000-G.ckpt"
    assert files_in(hub) == ["ganlit-official/stargan/celeba-128x128-5attrs/200000-G.ckpt"]  # no zip, D or staging
    net = load_official("stargan", installed)
    torch.testing.assert_close(net.state_dict()["main.0.weight"], state["main.0.weight"])


def test_a_stargan_zip_without_the_generator_installs_nothing(hub, server, capsys):
    server.files["/mirror/celeba-256x256-5attrs.zip"] = stargan_zip(b"x", name="100000-G.ckpt")
    assert main(["official:stargan/celeba-256x256-5attrs", "--base-url", server.url]) == 2
    assert "expected one 200000-G.ckpt in the archive, found 0" in capsys.readouterr().err
    assert files_in(hub) == []


def test_list_shows_weights_and_datasets_with_size_and_source(hub, capsys):
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ") and line.split()[0][0] != "-"}
    assert str(hub) in out.splitlines()[0]
    assert "548.1 MB" in rows["vgg19"] and VGG19_URL in rows["vgg19"] and "dcbb9e9d" in rows["vgg19"]
    assert "size unknown" in rows["inception"] and INCEPTION_URL in rows["inception"]
    assert "size unknown" in rows["official:cyclegan/horse2zebra"]
    assert pretrained_url("cyclegan", "horse2zebra") in rows["official:cyclegan/horse2zebra"]
    assert "no published checksum" in rows["official:pix2pix/facades_label2photo"]
    assert "200000-G.ckpt taken out" in rows["official:stargan/celeba-256x256-5attrs"]
    assert "-> ganlit-official/cyclegan/horse2zebra.pth" in out
    assert "size unknown" in rows["facades"] and "pix2pix/datasets/facades.tar.gz" in rows["facades"]
    assert len([k for k in rows if k.startswith("official:")]) == 18 + 5 + 2


def test_missing_weights_errors_name_the_download_line(hub, tmp_path, capsys):
    cases = [
        (resolve_inception_weights, "ganlit download inception"),
        (VGG19Features.from_pretrained, "ganlit download vgg19"),
        *[(lambda kind=kind, name=name: resolve_official(kind, name), f"ganlit download official:{kind}/{name}")
          for kind, name in (("pix2pix", "facades_label2photo"), ("cyclegan", "horse2zebra"),
                             ("stargan", "celeba-128x128-5attrs"))],
    ]
    for load, line in cases:
        with pytest.raises(MissingWeightsError) as info:
            load()
        message = str(info.value)
        assert f"Get it with: {line} " in message and "\n" not in message
        assert str(hub) in message  # the offline instructions stay: which folder
    assert "inside the archive https://www.dropbox.com" in message  # StarGAN: the file is in a zip

    from ganlit.commands.stylize import main as stylize
    from ganlit.commands.translate import main as translate

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    assert translate(["--model", "official:cyclegan/horse2zebra", "--input", str(tmp_path / "a.png"),
                      "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "ganlit download official:cyclegan/horse2zebra" in err and err.count("\n") == 1
    assert translate(["--model", "official:cyclegan", "--input", str(tmp_path / "a.png"),
                      "--output", str(tmp_path / "out")]) == 2
    assert "official:cyclegan/<name>" in capsys.readouterr().err
    assert stylize(["--content", str(tmp_path / "a.png"), "--style", str(tmp_path / "a.png"),
                    "--output", str(tmp_path / "s.png"), "--size", "8"]) == 2
    assert "ganlit download vgg19" in capsys.readouterr().err
    assert hub_checkpoint_dir() == hub and not hub.exists()  # nothing looked for was created


def test_command_line_errors_are_one_line_with_exit_code_2(hub, server, capsys):
    cases = [
        (["official:cyclegan/horse2zebar"], "did you mean horse2zebra?"),
        (["official:biggan/x"], "expected inception, vgg19 or official:<pix2pix|cyclegan|stargan>/<name>"),
        (["vgg19", "--root", "data/vgg"], "--root is for datasets"),
        (["inception", "--md5", "0" * 32], "--md5 is for datasets"),
        (["vgg19", "--sha256", "abc"], "expected 64 hexadecimal digits"),
        (["official:pix2pix/day2night", "--base-url", server.url], "HTTP 404"),
    ]
    for argv, expected in cases:
        assert main(argv) == 2, argv
        err = error_line(capsys.readouterr().err)
        assert expected in err, (argv, err)
    assert "without network access, fetch" in err and str(hub / "ganlit-official" / "pix2pix") in err
    assert files_in(hub) == []
