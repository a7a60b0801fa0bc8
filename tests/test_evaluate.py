"""``ganlit evaluate``: a CGAN-on-digits checkpoint scored with Inception (random weights) or the digits judge."""

import json
from pathlib import Path

import lightning as L
import pytest

from ganlit.cli import main as ganlit
from ganlit.metrics import INCEPTION_FILE, INCEPTION_URL

RECIPES = Path(__file__).resolve().parent.parent / "recipes"


@pytest.fixture(scope="module")
def cgan_ckpt(tmp_path_factory) -> Path:
    """A small CGAN trained on the 16 px digits for a few steps, saved as ganlit fit would."""
    from ganlit.data import DigitsDataModule
    from ganlit.models import CGAN

    out = tmp_path_factory.mktemp("cgan")
    L.seed_everything(0)
    trainer = L.Trainer(max_epochs=1, limit_train_batches=3, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=out, accelerator="cpu")
    trainer.fit(CGAN(image_size=16, channels=1, ngf=8, ndf=8, num_samples=10),
                DigitsDataModule(image_size=16, batch_size=16))
    trainer.save_checkpoint(out / "cgan.ckpt")
    return out / "cgan.ckpt"


def test_digits_features_from_the_quickstart_recipe_print_table_protocol_and_json(cgan_ckpt, tmp_path, capsys):
    out = tmp_path / "eval.json"
    rc = ganlit(["evaluate", "--ckpt", str(cgan_ckpt), "--config", str(RECIPES / "quickstart.yaml"),
                 "--num", "30", "--num-real", "40", "--json", str(out), "--no-cache"])
    printed = capsys.readouterr().out
    assert rc == 0
    for word in ("digits_fid", "digits_kid", "digits_is", "protocol:", "digits judge", "real_split   test",
                 "real_count   40", "fake_count   30", "raw generator (no EMA)"):
        assert word in printed, word
    report = json.loads(out.read_text())
    assert set(report["metrics"]) == {"digits_fid", "digits_kid_mean", "digits_kid_std", "digits_is_mean", "digits_is_std"}
    assert report["metrics"]["digits_fid"] > 0 and report["protocol"]["fake_count"] == 30
    assert report["protocol"]["data"].startswith("DigitsDataModule") and '"image_size": 16' in report["protocol"]["data"]


def test_data_class_without_a_recipe_takes_the_models_image_size(cgan_ckpt, capsys):
    assert ganlit(["evaluate", "--ckpt", str(cgan_ckpt), "--data", "ganlit.data.DigitsDataModule",
                   "--num", "20", "--num-real", "20", "--no-cache"]) == 0
    assert '"image_size": 16' in capsys.readouterr().out


@pytest.mark.slow
def test_inception_features_with_weights_in_torch_home(cgan_ckpt, torch_home, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    out = tmp_path / "eval.json"
    rc = ganlit(["evaluate", "--ckpt", str(cgan_ckpt), "--data", "ganlit.data.DigitsDataModule", "--features",
                 "inception", "--num", "3", "--num-real", "3", "--batch-size", "3", "--json", str(out), "--no-cache"])
    printed = capsys.readouterr().out
    assert rc == 0
    for word in ("fid", "kid", "is ", "inception-v3-compat", INCEPTION_FILE, "bilinear to 299x299",
                 "real_count   3", "fake_count   3"):
        assert word in printed, word
    metrics = json.loads(out.read_text())["metrics"]
    assert set(metrics) == {"fid", "kid_mean", "kid_std", "is_mean", "is_std"}
    assert all(v == v for v in metrics.values())  # no NaN


def test_without_inception_weights_one_message_and_exit_code_2(cgan_ckpt, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    rc = ganlit(["evaluate", "--ckpt", str(cgan_ckpt), "--data", "ganlit.data.DigitsDataModule",
                 "--features", "inception"])
    captured = capsys.readouterr()
    assert rc == 2 and captured.out == ""
    assert INCEPTION_FILE in captured.err and INCEPTION_URL in captured.err
    assert str(tmp_path / "empty" / "hub" / "checkpoints") in captured.err
    assert "Traceback" not in captured.err and captured.err.count("\n") == 1


@pytest.mark.parametrize("args, expected", [
    (["--ckpt", "missing.ckpt", "--data", "ganlit.data.DigitsDataModule"], "missing.ckpt does not exist"),
    (["--data", "ganlit.data.NoSuchModule"], "cannot be imported"),
    ([], "--config RECIPE.yaml"),
    (["--config", "no_such_recipe.yaml"], "no_such_recipe.yaml does not exist"),
    (["--data", "ganlit.data.DigitsDataModule", "--num", "1"], "at least 2"),
])
def test_bad_input_gets_a_clear_message(cgan_ckpt, args, expected, capsys):
    if "--ckpt" not in args:
        args = ["--ckpt", str(cgan_ckpt)] + args
    assert ganlit(["evaluate"] + args) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
