"""The dataset downloader against a local HTTP server on 127.0.0.1 (no outside network)."""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest
from fixtures_data import write_paired_tree, write_unpaired_tree
from http_util import Server

from ganlit.commands.download import main
from ganlit.data.extract import ArchiveError
from ganlit.data.download import (
    BASE_URL_ENV,
    DATASETS,
    DownloadError,
    ManualDownloadRequired,
    download_dataset,
    resolve_name,
    source_url,
)
from ganlit.data.paired import PairedImageDataModule
from ganlit.data.unpaired import UnpairedImageDataModule


def tar_gz_of(folder: Path, top: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(folder, arcname=top)
    return buffer.getvalue()


def zip_of(folder: Path, top: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path in sorted(folder.rglob("*")):
            zf.write(path, f"{top}/{path.relative_to(folder)}")
    return buffer.getvalue()


@pytest.fixture
def server(tmp_path):
    source = tmp_path / "source"
    with Server() as srv:
        srv.files["/mirror/facades.tar.gz"] = tar_gz_of(write_paired_tree(source / "facades", n=2, size=16), "facades")
        srv.files["/mirror/horse2zebra.zip"] = zip_of(
            write_unpaired_tree(source / "horse2zebra", n_a=2, n_b=3, size=16), "horse2zebra"
        )
        yield srv


def leftovers(folder: Path, keep: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != keep)


def test_tar_gz_is_extracted_into_root(tmp_path, server):
    root = tmp_path / "data" / "facades"
    assert download_dataset("facades", root, base_url=server.url) == root
    assert sorted(p.name for p in root.iterdir()) == ["test", "train", "val"]
    assert sorted(p.name for p in (root / "train").iterdir()) == ["1.jpg", "2.jpg"]
    assert leftovers(root.parent, "facades") == []  # no .part, archive or staging folder left
    assert server.requests == [("/mirror/facades.tar.gz", None)]
    dm = PairedImageDataModule(str(root), batch_size=2, num_workers=0, image_size=8, load_size=8)
    dm.setup("fit")
    assert next(iter(dm.train_dataloader()))["A"].shape == (2, 3, 8, 8)


def test_zip_through_the_data_module_and_the_environment_variable(tmp_path, server, monkeypatch):
    monkeypatch.setenv(BASE_URL_ENV, server.url)
    root = tmp_path / "data" / "horse2zebra"
    dm = UnpairedImageDataModule(str(root), batch_size=1, num_workers=0, image_size=8, load_size=8, download=True)
    dm.prepare_data()
    assert sorted(p.name for p in root.iterdir()) == ["testA", "testB", "trainA", "trainB"]
    dm.setup("fit")
    assert len(dm.train_set) == 3
    dm.prepare_data()  # data present: no second request
    assert len(server.requests) == 1


def test_interrupted_download_leaves_no_target_and_resumes(tmp_path, server):
    root = tmp_path / "data" / "facades"
    server.cut.add("/mirror/facades.tar.gz")
    with pytest.raises(DownloadError, match="rerun"):
        download_dataset("facades", root, base_url=server.url)
    assert not root.exists()
    part = root.parent / ".facades.facades.tar.gz.part"
    assert leftovers(root.parent, "") == [part.name, part.name + ".url"]  # the bytes and the URL they came from
    size = part.stat().st_size
    assert 0 < size < len(server.files["/mirror/facades.tar.gz"])

    server.cut.clear()
    download_dataset("facades", root, base_url=server.url)
    assert server.requests[-1] == ("/mirror/facades.tar.gz", f"bytes={size}-")
    assert sorted(p.name for p in (root / "val").iterdir()) == ["1.jpg", "2.jpg"]
    assert leftovers(root.parent, "facades") == []


def test_existing_target_is_not_overwritten_unless_forced(tmp_path, server):
    root = tmp_path / "facades"
    root.mkdir()
    (root / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not overwriting"):
        download_dataset("facades", root, base_url=server.url)
    assert (root / "mine.txt").read_text() == "keep me" and server.requests == []
    download_dataset("facades", root, base_url=server.url, force=True)
    assert sorted(p.name for p in root.iterdir()) == ["test", "train", "val"]
    assert leftovers(tmp_path, "facades") == ["source"]


def test_empty_existing_target_is_filled(tmp_path, server):
    root = tmp_path / "facades"
    root.mkdir()
    download_dataset("facades", root, base_url=server.url)
    assert (root / "train" / "1.jpg").is_file()


def test_md5_is_checked(tmp_path, server):
    root = tmp_path / "facades"
    good = hashlib.md5(server.files["/mirror/facades.tar.gz"]).hexdigest()
    with pytest.raises(DownloadError, match="md5"):
        download_dataset("facades", root, base_url=server.url, md5="0" * 32)
    assert not root.exists() and leftovers(tmp_path, "source") == []
    download_dataset("facades", root, base_url=server.url, md5=good)
    assert (root / "train").is_dir()


def test_corrupt_archive_leaves_nothing(tmp_path, server):
    server.files["/mirror/facades.tar.gz"] = b"this is not a tar archive" * 10
    root = tmp_path / "facades"
    with pytest.raises(ArchiveError, match="corrupt archive"):
        download_dataset("facades", root, base_url=server.url)
    assert leftovers(tmp_path, "source") == []


def test_zip_member_outside_the_target_is_refused(tmp_path, server):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("horse2zebra/trainA/a.jpg", b"x")
        zf.writestr("../escaped.txt", b"x")
    server.files["/mirror/horse2zebra.zip"] = buffer.getvalue()
    with pytest.raises(ArchiveError, match="outside the target"):
        download_dataset("horse2zebra", tmp_path / "data" / "horse2zebra", base_url=server.url)
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "data" / "horse2zebra").exists()


def test_missing_file_on_server_is_a_clear_error(tmp_path, server):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_dataset("maps", tmp_path / "maps", base_url=server.url)
    assert not (tmp_path / "maps").exists()


def test_table_keeps_the_official_urls():
    for name in ("facades", "edges2shoes", "edges2handbags", "maps", "night2day"):
        assert source_url(name) == f"http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/{name}.tar.gz"
    for name in ("horse2zebra", "apple2orange", "summer2winter_yosemite", "monet2photo", "cezanne2photo",
                 "ukiyoe2photo", "vangogh2photo", "iphone2dslr_flower", "mini", "cyclegan/maps", "cyclegan/facades"):
        assert source_url(name) == f"http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/{name.split('/')[-1]}.zip"
    assert source_url("celeba") == "https://www.dropbox.com/s/d1kjpkqklf0uw77/celeba.zip?dl=1"
    assert source_url("celeba", "http://127.0.0.1:9/m/") == "http://127.0.0.1:9/m/celeba.zip"
    assert resolve_name("pix2pix/facades") == "facades" and resolve_name("cyclegan/horse2zebra") == "horse2zebra"
    assert DATASETS["mnist"].url is None and DATASETS["makeup"].instructions is not None
    with pytest.raises(KeyError, match="horse2zebra"):
        resolve_name("horse2zebar")


def test_makeup_cannot_be_scripted(tmp_path, capsys):
    with pytest.raises(ManualDownloadRequired, match="BeautyGAN"):
        download_dataset("makeup", tmp_path / "mt")
    assert main(["mt", "--root", str(tmp_path / "mt")]) == 2
    assert "liusi-group.com/projects/BeautyGAN" in capsys.readouterr().err
    assert not (tmp_path / "mt").exists()


def test_command_line(tmp_path, server, capsys):
    root = tmp_path / "facades"
    assert main(["facades", "--root", str(root), "--base-url", server.url]) == 0
    assert str(root) in capsys.readouterr().out and (root / "train").is_dir()
    assert main(["facades", "--root", str(root), "--base-url", server.url]) == 2
    assert "not overwriting" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["nonsense", "--root", str(root)])
    assert info.value.code == 2 and "cyclegan/facades" in capsys.readouterr().err
    assert main(["--list"]) == 0
    assert "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/facades.tar.gz" in capsys.readouterr().out


def test_sha256_is_checked_and_printed_where_none_is_pinned(tmp_path, server, capsys):
    body = server.files["/mirror/facades.tar.gz"]
    root = tmp_path / "facades"
    with pytest.raises(DownloadError, match="sha256 .* != expected 0000"):
        download_dataset("facades", root, base_url=server.url, sha256="0" * 64)
    assert not root.exists() and leftovers(tmp_path, "source") == []  # the rejected archive is gone
    download_dataset("facades", root, base_url=server.url)
    assert f"sha256 {hashlib.sha256(body).hexdigest()} (no checksum is published" in capsys.readouterr().err
    download_dataset("facades", tmp_path / "again", base_url=server.url, sha256=hashlib.sha256(body).hexdigest())
    assert (tmp_path / "again" / "train" / "1.jpg").is_file()


def test_a_rejected_archive_is_fetched_afresh_from_another_mirror(tmp_path, server):
    good = server.files["/mirror/facades.tar.gz"]
    server.files["/mirror/facades.tar.gz"] = b"not an archive" * 20
    root = tmp_path / "data" / "facades"
    with pytest.raises(ArchiveError, match="corrupt archive"):
        download_dataset("facades", root, base_url=server.url)
    assert leftovers(root.parent, "") == []
    with Server() as other:
        other.files["/mirror/facades.tar.gz"] = good
        download_dataset("facades", root, base_url=other.url)
        assert other.requests == [("/mirror/facades.tar.gz", None)]  # fetched whole from the new mirror
    assert sorted(p.name for p in (root / "val").iterdir()) == ["1.jpg", "2.jpg"]


def test_a_partial_file_from_another_server_is_not_resumed(tmp_path, server):
    root = tmp_path / "data" / "facades"
    server.cut.add("/mirror/facades.tar.gz")
    with pytest.raises(DownloadError, match="rerun"):
        download_dataset("facades", root, base_url=server.url)
    with Server() as other:
        other.files["/mirror/facades.tar.gz"] = server.files["/mirror/facades.tar.gz"]
        download_dataset("facades", root, base_url=other.url)
        assert other.requests == [("/mirror/facades.tar.gz", None)]  # no Range: its bytes are not appended
    assert (root / "train" / "1.jpg").is_file() and leftovers(root.parent, "facades") == []


def bomb(megabytes: int) -> bytes:
    """A tar.gz of one file of zeros: a few kB that expand to ``megabytes`` MB."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("facades/train/zeros.bin")
        info.size = megabytes * 1_000_000
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    return buffer.getvalue()


def test_an_archive_expanding_past_the_limit_is_refused_in_one_line(tmp_path, server, capsys):
    server.files["/mirror/facades.tar.gz"] = payload = bomb(30)
    assert len(payload) < 100_000
    root = tmp_path / "data" / "facades"
    assert main(["facades", "--root", str(root), "--base-url", server.url, "--max-extract-gb", "0.01"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("ganlit download: error: ") and "expands to 0.03 GB, more than the limit of 0.01 GB" in err
    assert leftovers(root.parent, "") == []  # no tree, no staging folder, no cached archive
    assert main(["facades", "--root", str(root), "--base-url", server.url, "--max-extract-gb", "1"]) == 0
    assert (root / "train" / "zeros.bin").stat().st_size == 30_000_000


def test_an_archive_larger_than_the_free_space_is_refused_before_writing(tmp_path, server, capsys):
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(small)], capture_output=True).returncode:
        pytest.skip("this machine does not let the tests mount a 2 MB tmpfs")
    try:
        server.files["/mirror/facades.tar.gz"] = bomb(64)
        root = small / "facades"
        assert main(["facades", "--root", str(root), "--base-url", server.url]) == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert err.startswith(f"ganlit download: error: cannot extract {small}/.facades.facades.tar.gz into {root}:")
        assert "expands to 64.0 MB and 2.0 MB are free there; free space and rerun" in err
        # Nothing was extracted; the archive (whole and not rejected) is kept for the rerun.
        assert sorted(p.name for p in small.iterdir()) == [".facades.facades.tar.gz", ".facades.facades.tar.gz.url"]
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_a_redirect_from_https_to_http_is_refused():
    import urllib.request

    from ganlit.data.download import _NoDowngrade

    request = urllib.request.Request("https://example.org/celeba.zip")
    with pytest.raises(DownloadError, match="redirected to http://example.org/celeba.zip, a plain http address"):
        _NoDowngrade().redirect_request(request, None, 302, "Found", {}, "http://example.org/celeba.zip")
    assert _NoDowngrade().redirect_request(request, None, 302, "Found", {}, "https://cdn.example.org/c.zip")
