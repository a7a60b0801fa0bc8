"""W&B offline: the quickstart recipe's run folder holds the digits metrics, the sample grids, the config and the protocol."""

import json
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

RECIPES = Path(__file__).resolve().parent.parent / "recipes"


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


@pytest.mark.slow
def test_offline_run_folder_holds_metrics_grids_config_and_protocol(tmp_path, monkeypatch):
    import wandb

    from ganlit.cli import main

    for var in ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "wandb_home"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.chdir(tmp_path)
    # An earlier test's disabled run must not be reused: ganlit.cli.main closes the run it opened.
    assert wandb.run is None
    recipe = yaml.safe_load((RECIPES / "quickstart.yaml").read_text())
    recipe["trainer"].update(max_epochs=2, limit_train_batches=2, enable_progress_bar=False)
    for callback in recipe["trainer"]["callbacks"]:
        args = callback["init_args"]
        if "every_n_epochs" in args:
            args["every_n_epochs"] = 1
        if callback["class_path"] == "ganlit.metrics.Evaluation":
            args.update(num_samples=20, num_real=20)
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    try:
        assert main(["fit", "--config", "recipe.yaml"]) == 0
    finally:
        wandb.finish()

    (run,) = (tmp_path / "runs/quickstart/latest/wandb").glob("offline-run-*")
    log = next(run.glob("run-*.wandb"))
    deadline = time.monotonic() + 60
    while not any(r.WhichOneof("record_type") == "exit" for r in wandb_records(log)):
        # wandb-core may still be writing after wandb.finish() returns: wait for the run's exit record.
        assert time.monotonic() < deadline, f"{log} has no exit record after 60 s"
        time.sleep(0.5)
    history, config, summary = [], {}, {}
    for record in wandb_records(log):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            history.append(items(record.history.item))
        elif kind == "config":
            config.update(items(record.config.update))
        elif kind == "summary":
            summary.update(items(record.summary.update))

    fids = [row["val/digits_fid"] for row in history if "val/digits_fid" in row]
    assert len(fids) == 2 and all(f > 0 for f in fids)  # one evaluation per epoch
    assert all(f"val/{k}" in summary for k in ("digits_fid", "digits_kid_mean", "digits_kid_std", "digits_is_mean"))
    assert summary["val/digits_fid"] == fids[-1]
    assert "val/fid" not in summary  # never under the Inception name
    # The resolved config (SaveConfigNoClobber) and the protocol, next to the numbers.
    assert config["model"]["class_path"] == "ganlit.models.CGAN" and config["data"]["init_args"]["image_size"] == 16
    protocol = config["eval_protocol"]
    assert protocol["features"].startswith("digits judge") and protocol["real_split"] == "test"
    assert protocol["real_count"] == 20 and protocol["fake_count"] == 20 and "no EMA" in protocol["generator"]
    # Sample grids: in the W&B media folder and as PNGs in the run folder.
    grids = [row for row in history if "samples/filenames" in row]
    assert grids and list((run / "files/media/images").glob("samples_*.png"))
    assert list((tmp_path / "runs/quickstart/latest/samples").glob("iter_*.png"))
    for row in grids:  # the pixels W&B got are exactly the PNG's of the same iteration, and not a blank image
        (logged,) = row["samples/filenames"]
        sent = np.asarray(Image.open(run / "files" / logged))
        saved = np.asarray(Image.open(tmp_path / f"runs/quickstart/latest/samples/iter_{row['trainer/global_step']:07d}.png"))
        assert sent.dtype == saved.dtype == np.uint8 and sent.shape == saved.shape
        assert np.array_equal(sent, saved)
        assert sent.min() != sent.max()
    # Checkpoints: the best by digits FID and the last.
    assert len(list((tmp_path / "runs/quickstart/latest/checkpoints").glob("best-digits-fid-epoch*.ckpt"))) == 1
    assert (tmp_path / "runs/quickstart/latest/checkpoints/last.ckpt").exists()
