"""Every user mistake gets one clear error: ``ganlit <command>: error: ...``, exit code 2, no traceback.

One table: each row runs the real ``ganlit`` command in a subprocess (in a fresh folder) and checks the exit code,
the message and that no traceback is printed. Checkpoints and data are written once per module.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytestmark = pytest.mark.slow  # about 15 subprocesses, each importing torch and Lightning

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
CLOSED_PORT = "http://127.0.0.1:9"  # nothing listens there: the same failure as having no network


def save_module(model, path: Path, facts: dict) -> Path:
    """A checkpoint as ``ganlit fit`` writes it (class, hyperparameters, weights, training facts)."""
    hparams = {k: v for k, v in dict(model.hparams).items() if not k.startswith("_")}
    torch.save({"ganlit_class": f"{type(model).__module__}.{type(model).__qualname__}", "hyper_parameters": hparams,
                "state_dict": model.state_dict(), "ganlit_facts": facts}, path)
    return path


class Evil:
    def __reduce__(self):
        return (print, ("this ran",))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from ganlit.models import CGAN, CycleGAN

    root = tmp_path_factory.mktemp("inputs")
    torch.manual_seed(0)
    cgan = save_module(CGAN(image_size=16, channels=1, ngf=8, ndf=8), root / "cgan.ckpt",
                       {"image_size": 16, "channels": 1, "num_classes": 10})
    save_module(CycleGAN(ngf=4, ndf=4, n_blocks=1), root / "cyclegan.ckpt",
                           {"image_size": 32, "channels": 3})
    data = cgan.read_bytes()
    (root / "truncated.ckpt").write_bytes(data[: len(data) // 2])
    (root / "random.ckpt").write_bytes(np.random.default_rng(0).bytes(4096))
    torch.save({"state_dict": {}, "payload": Evil()}, root / "code.ckpt")
    # An unpaired image folder with one corrupt file among good ones.
    for domain in ("trainA", "trainB", "testA", "testB"):
        (root / "unpaired" / domain).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((32, 32, 3), 40 * i, np.uint8)).save(root / "unpaired" / domain / f"{i}.png")
    (root / "unpaired" / "trainA" / "0.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    return root


def tiny_fit(*extra: str) -> list[str]:
    """A CycleGAN fit on digits with tiny networks and no logger (the row adds what goes wrong)."""
    return ["fit", "--model", "ganlit.models.CycleGAN", "--model.init_args.ngf", "4", "--model.init_args.ndf", "4",
            "--model.init_args.n_blocks", "1", "--data", "ganlit.data.DigitsDataModule",
            "--data.init_args.task", "unpaired", "--data.init_args.batch_size", "2", "--trainer.logger", "false",
            "--trainer.max_steps", "1", "--trainer.enable_checkpointing", "false", "--trainer.accelerator", "cpu",
            *extra]


QUICKSTART = ["fit", "--config", str(RECIPES / "quickstart.yaml"), "--trainer.logger", "false"]

# (id, arguments (with {root} for the fixture folder), extra environment, expected exit, fragments of stderr)
CASES = [
    ("labels-out-of-range", ["sample", "--ckpt", "{root}/cgan.ckpt", "--labels", "12", "--output", "out"], {}, 2,
     ["ganlit sample: error: --labels 12", "must lie in 0..9"]),
    ("evaluate-wrong-recipe", ["evaluate", "--ckpt", "{root}/cyclegan.ckpt", "--config", str(RECIPES / "quickstart.yaml")],
     {}, 2, ["ganlit evaluate: error:", "CycleGAN", "reads 'B'", "--config"]),
    ("truncated-checkpoint", ["sample", "--ckpt", "{root}/truncated.ckpt", "--output", "out"], {}, 2,
     ["ganlit sample: error:", "truncated.ckpt: damaged checkpoint", "zip archive cut short"]),
    ("random-bytes-checkpoint", ["export", "--ckpt", "{root}/random.ckpt", "--format", "torchscript", "--output",
                                 "g.pt"], {}, 2,
     ["ganlit export: error:", "random.ckpt: damaged checkpoint", "not a PyTorch checkpoint"]),
    ("checkpoint-carrying-code", ["translate", "--model", "{root}/code.ckpt", "--input", "{root}/unpaired/testA",
                                  "--output", "out"], {}, 2,
     ["ganlit translate: error:", "code.ckpt: refused: the file carries pickled code (print)"]),
    ("missing-celeba", ["fit", "--config", str(RECIPES / "stargan.yaml"), "--data.init_args.root", "nowhere",
                        "--trainer.max_steps", "1"], {"WANDB_MODE": "offline"}, 2,
     ["ganlit fit: error: CelebADataModule: dataset not found", "ganlit download celeba"]),
    ("corrupt-training-image", tiny_fit("--data", "ganlit.data.UnpairedImageDataModule", "--data.init_args.root",
                                        "{root}/unpaired", "--data.init_args.image_size", "32",
                                        "--data.init_args.num_workers", "0", "--data.init_args.batch_size", "1"), {}, 2,
     ["ganlit fit: error: cannot use image", "0.png", "skip_bad_images: true"]),
    ("download-true-without-network", ["fit", "--config", str(RECIPES / "stargan.yaml"), "--data.init_args.root",
                                       "celeba", "--data.init_args.download", "true", "--trainer.logger", "false"],
     {"GANLIT_DOWNLOAD_BASE_URL": CLOSED_PORT}, 2, ["ganlit fit: error:", "place the files by hand"]),
    ("download-command-without-network", ["download", "facades", "--root", "facades", "--base-url", CLOSED_PORT], {},
     2, ["ganlit download: error:", "place the files by hand", "facades"]),
    ("cyclegan-too-small", tiny_fit("--data.init_args.image_size", "16"), {}, 2,
     ["ganlit fit: error: image_size 16 does not fit CycleGAN's PatchDiscriminator", "smallest size that works is 24"]),
    ("misspelled-key", [*QUICKSTART, "--trainer.max_epocs", "3"], {}, 2,
     ["ganlit fit: error: unknown key 'trainer.max_epocs' (did you mean trainer.max_epochs?)"]),
    ("misspelled-model-key", [*QUICKSTART, "--model.init_args.ngff", "3"], {}, 2,
     ["ganlit fit: error: unknown key model.init_args.ngff", "(did you mean ngf?)"]),
    ("wrong-type", [*QUICKSTART, "--trainer.max_epochs", "many"], {}, 2,
     ["ganlit fit: error: bad value many for trainer.max_epochs: expected int or None"]),
    ("unknown-command", ["sampel"], {}, 2, ["ganlit: error: unknown command 'sampel' (did you mean sample?)",
                                              "fit, validate, test, predict, sample, translate, download"]),
]


def run(args: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "GANLIT_DEBUG"}
    environment.update({"WANDB_MODE": "disabled", **env})
    return subprocess.run([sys.executable, "-m", "ganlit", *args], cwd=cwd, env=environment, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.parametrize("args,env,code,fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_mistake_gives_one_clear_error(files, tmp_path, args, env, code, fragments):
    proc = run([a.replace("{root}", str(files)) for a in args], tmp_path, env)
    err = proc.stderr
    assert proc.returncode == code, err[-3000:]
    assert "Traceback" not in err and "usage:" not in err, err[-3000:]
    error_lines = [ln for ln in err.splitlines() if ": error: " in ln]
    assert len(error_lines) == 1, err[-3000:]
    for fragment in fragments:
        assert fragment in err, (fragment, err[-3000:])
    # A setup that failed leaves no empty W&B run behind.
    assert not list(tmp_path.rglob("offline-run-*")), sorted(map(str, tmp_path.rglob("*")))


def test_debug_shows_the_traceback(files, tmp_path):
    proc = run(["sample", "--ckpt", str(files / "truncated.ckpt"), "--output", "out"], tmp_path, {"GANLIT_DEBUG": "1"})
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "DamagedCheckpointError" in proc.stderr


def test_help_lists_every_command(tmp_path):
    proc = run(["--help"], tmp_path, {})
    assert proc.returncode == 0 and proc.stderr == ""
    for name in ("fit", "validate", "test", "predict", "sample", "translate", "download", "evaluate", "export",
                 "stylize"):
        assert f"\n  {name} " in proc.stdout, proc.stdout


@pytest.mark.parametrize("message,expected", [
    ("Subcommand 'fit' does not accept option 'trainer.max_epoch'",  # a misspelled key in a recipe file
     "unknown key 'trainer.max_epoch' (did you mean trainer.max_epochs?)"),
    ('Parser key "model":\n  Does not validate against any of the Union subtypes\n  Subtypes: [<class '
     "'ganlit.models.base.GANModule'>, <class 'NoneType'>]\n  Errors:\n    - Problem with given class_path "
     "'ganlit.models.CGAN':\n        Parser key \"ngf\":\n          Expected a <class 'int'>. Got value: wide\n    - "
     "Expected a <class 'NoneType'>\n  Given value type: <class 'jsonargparse._util.NestedArg'>\n  Given value: "
     "NestedArg(key='ngf', val='wide')", "bad value wide for model.init_args.ngf: expected int"),
])
def test_config_error_messages_become_one_line(message, expected):
    from ganlit.errors import describe_config_error

    assert describe_config_error(message, ["trainer.max_epochs", "trainer.max_steps"]) == expected


def test_print_config_shows_the_model_with_the_data_modules_facts(tmp_path):
    """``--print_config`` prints what will run: the model's image size is the data module's (32), not the
    model's own default (128), as in the run's saved config.yaml."""
    import yaml

    recipe = Path(__file__).resolve().parent.parent / "recipes" / "stargan.yaml"
    proc = run(["fit", "--config", str(recipe), "--data.init_args.image_size", "32", "--print_config"], tmp_path, {})
    assert proc.returncode == 0, proc.stderr[-2000:]
    printed = yaml.safe_load(proc.stdout)
    model, data = printed["model"]["init_args"], printed["data"]["init_args"]
    assert model["image_size"] == data["image_size"] == 32
    assert model["num_attrs"] == len(data["attrs"]) == 5
    assert list(tmp_path.iterdir()) == []  # printing a config writes nothing
