"""W&B offline: the quickstart recipe's run folder holds the digits metrics, the sample grids, the config and the protocol;
the W&B run holds the same pixels, the best FID/KID as summaries, the ganlit source and the checkpoints as artifacts."""

import json
import time
from pathlib import Path
from typing import Optional

import numpy as np
import pytest
from recipes_util import tiny_quickstart_recipe
from PIL import Image



def wandb_records(path: Path):
    """The records of a ``run-<id>.wandb`` transaction log, parsed with wandb's own protobuf ``Record``.

    The file is a ``:W&B`` header (7 bytes) then LevelDB-log chunks in 32 KiB blocks: crc32c (4), length (2, little
    endian), type (1: full, 2: first, 3: middle, 4: last). wandb 0.31 ships no Python reader for it.
    """
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B transaction log"
    pos, block, pending = 7, 32768, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:  # a block's tail too short for a header is padding
            pos += left
            continue
        length, kind = int.from_bytes(data[pos + 4:pos + 6], "little"), data[pos + 6]
        if pos + 7 + length > len(data):  # a chunk still being written
            return
        pending += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def items(updates) -> dict:
    return {u.key or "/".join(u.nested_key): json.loads(u.value_json) for u in updates}


def tiny_quickstart(tmp_path: Path, *argv: str) -> int:
    """``ganlit fit`` of the quickstart recipe cut to 2 epochs of 2 batches, evaluated each epoch on 20 images."""
    import wandb

    from ganlit.cli import main

    # An earlier test's disabled run must not be reused: ganlit.cli.main closes the run it opened.
    assert wandb.run is None
    tiny_quickstart_recipe(tmp_path)
    try:
        return main(["fit", "--config", "recipe.yaml", *argv])
    finally:
        wandb.finish()


def offline_env(tmp_path: Path, monkeypatch, wandb_dir: Optional[Path]) -> None:
    """W&B offline, with its settings, cache and artifact staging under ``tmp_path``; ``WANDB_DIR`` only if given."""
    for var in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "wandb_home"))
    if wandb_dir is None:
        monkeypatch.delenv("WANDB_DIR", raising=False)
    else:
        monkeypatch.setenv("WANDB_DIR", str(wandb_dir))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.chdir(tmp_path)


def read_run(run: Path) -> dict:
    """History rows, config, summary and artifacts of an offline run folder, once wandb-core wrote its exit record."""
    log = next(run.glob("run-*.wandb"))
    deadline = time.monotonic() + 60
    while not any(r.WhichOneof("record_type") == "exit" for r in wandb_records(log)):
        # wandb-core may still be writing after wandb.finish() returns: wait for the run's exit record.
        assert time.monotonic() < deadline, f"{log} has no exit record after 60 s"
        time.sleep(0.5)
    out = {"history": [], "config": {}, "summary": {}, "artifacts": []}
    for record in wandb_records(log):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            out["history"].append(items(record.history.item))
        elif kind == "config":
            out["config"].update(items(record.config.update))
        elif kind == "summary":
            out["summary"].update(items(record.summary.update))
        elif kind == "artifact":
            out["artifacts"].append(record.artifact)
    return out


@pytest.mark.slow
def test_offline_run_folder_holds_metrics_grids_config_and_protocol(tmp_path, monkeypatch):
    offline_env(tmp_path, monkeypatch, wandb_dir=None)
    assert tiny_quickstart(tmp_path) == 0

    folder = tmp_path / "runs/quickstart/latest"
    (run,) = (folder / "wandb").glob("offline-run-*")  # no WANDB_DIR: W&B writes into the run folder
    records = read_run(run)
    history, config, summary = records["history"], records["config"], records["summary"]

    fids = [row["val/digits_fid"] for row in history if "val/digits_fid" in row]
    kids = [row["val/digits_kid_mean"] for row in history if "val/digits_kid_mean" in row]
    assert len(fids) == 2 and all(f > 0 for f in fids)  # one evaluation per epoch
    assert all(f"val/{k}" in summary for k in ("digits_fid", "digits_kid_mean", "digits_kid_std", "digits_is_mean"))
    # FID and KID are minimised: their summary is the best value (define_metric summary="min"), not the last.
    assert summary["val/digits_fid"] == {"min": min(fids)}
    assert summary["val/digits_kid_mean"] == {"min": min(kids)}
    assert summary["val/digits_is_mean"] == {"max": max(r["val/digits_is_mean"] for r in history if "val/digits_is_mean" in r)}
    assert "val/fid" not in summary  # never under the Inception name
    # The resolved config (SaveConfigNoClobber), the ganlit that ran and the protocol, next to the numbers.
    assert config["model"]["class_path"] == "ganlit.models.CGAN" and config["data"]["init_args"]["image_size"] == 16
    import ganlit
    from ganlit.utils.source import source_commit

    assert config["ganlit"]["version"] == ganlit.__version__
    commit = source_commit(Path(ganlit.__file__).resolve().parent)  # this checkout's HEAD (None outside git)
    assert config["ganlit"]["commit"] == commit and (commit is None or len(commit) == 40)
    protocol = config["eval_protocol"]
    assert protocol["features"].startswith("digits judge") and protocol["real_split"] == "test"
    assert protocol["real_count"] == 20 and protocol["fake_count"] == 20 and "no EMA" in protocol["generator"]
    # Sample grids: in the W&B media folder and as PNGs in the run folder.
    grids = [row for row in history if "samples/filenames" in row]
    assert grids and list((run / "files/media/images").glob("samples_*.png"))
    assert list((folder / "samples").glob("iter_*.png"))
    for row in grids:  # the pixels W&B got are exactly the PNG's of the same iteration, and not a blank image
        (logged,) = row["samples/filenames"]
        sent = np.asarray(Image.open(run / "files" / logged))
        saved = np.asarray(Image.open(folder / f"samples/iter_{row['trainer/global_step']:07d}.png"))
        assert sent.dtype == saved.dtype == np.uint8 and sent.shape == saved.shape
        assert np.array_equal(sent, saved)
        assert sent.min() != sent.max()
    # Checkpoints: the best by digits FID and the last, in the run folder and as W&B model artifacts (log_model).
    (best,) = (folder / "checkpoints").glob("best-digits-fid-epoch*.ckpt")
    assert (folder / "checkpoints/last.ckpt").exists()
    logged = {json.loads(a.metadata)["original_filename"]: list(a.aliases) for a in records["artifacts"]}
    assert set(logged) == {best.name, "last.ckpt"} and "best" in logged[best.name]
    assert all(a.type == "model" for a in records["artifacts"])


@pytest.mark.slow
def test_offline_run_respects_wandb_dir_and_log_model_false(tmp_path, monkeypatch):
    elsewhere = tmp_path / "wandb_dir"
    offline_env(tmp_path, monkeypatch, wandb_dir=elsewhere)
    assert tiny_quickstart(tmp_path, "--trainer.logger.init_args.log_model", "false") == 0

    folder = tmp_path / "runs/quickstart/latest"
    (run,) = (elsewhere / "wandb").glob("offline-run-*")  # WANDB_DIR wins over the run folder
    assert not (folder / "wandb").exists()
    records = read_run(run)
    assert records["artifacts"] == []  # the one switch that turns checkpoint artifacts off
    assert [r for r in records["history"] if "val/digits_fid" in r]
    # The run folder keeps everything else: config, samples, checkpoints, and checkpoints name it as their run.
    assert (folder / "config.yaml").is_file() and list((folder / "samples").glob("iter_*.png"))
    from ganlit.runs import read_saved_run

    assert read_saved_run(folder / "checkpoints/last.ckpt").run_dir.resolve() == folder.resolve()
    import torch

    ckpt = torch.load(folder / "checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    assert Path(ckpt["ganlit_run"]["dir"]).resolve() == folder.resolve()


def test_wandb_save_dir_order(tmp_path, monkeypatch):
    """An explicit save_dir (or dir) beats WANDB_DIR, which beats the run folder; "." is the logger's default."""
    from jsonargparse import Namespace

    from ganlit.run_config import _wandb_save_dir

    run = tmp_path / "run"
    monkeypatch.delenv("WANDB_DIR", raising=False)
    assert _wandb_save_dir(Namespace(save_dir=".", dir=None), run) == str(run)
    monkeypatch.setenv("WANDB_DIR", "/elsewhere")
    assert _wandb_save_dir(Namespace(save_dir=".", dir=None), run) == "/elsewhere"
    assert _wandb_save_dir(Namespace(save_dir="mine", dir=None), run) == "mine"
    assert _wandb_save_dir(Namespace(save_dir=".", dir="theirs"), run) == "theirs"


def test_offline_true_with_log_model_is_one_line_before_any_run_folder(tmp_path, monkeypatch, capsys):
    offline_env(tmp_path, monkeypatch, wandb_dir=None)
    assert tiny_quickstart(tmp_path, "--trainer.logger.init_args.offline", "true") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("ganlit fit: error: trainer.logger.init_args.offline=true refuses log_model")
    assert "Traceback" not in "\n".join(err) and not (tmp_path / "runs").exists()
