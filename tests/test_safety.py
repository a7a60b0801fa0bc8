"""Nothing in a file can run code or destroy a user's work: every case through the real command, in a fresh folder.

Each row runs ``python -m ganlit ...`` in a subprocess and checks the exit code (2), the one ``ganlit <command>:
error: ...`` line, that no traceback is printed and that no file that existed before changed (hashes before and
after). Disk-full and read-only cases run on a small tmpfs and skip where mounting is not allowed. The matrix of
code-carrying checkpoints x commands runs in one process (tests/safety_driver.py, the same ``ganlit.cli.main`` as
the script), a few of its rows also as real subprocesses.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytestmark = pytest.mark.slow  # about 30 subprocesses, each importing torch and Lightning

HERE = Path(__file__).resolve().parent
RECIPES = HERE.parent / "recipes"
QUICK = ["--config", str(RECIPES / "quickstart.yaml"), "--trainer.logger", "false", "--trainer.limit_train_batches",
         "2", "--trainer.limit_val_batches", "1"]

USER_MODULE = '''
from pathlib import Path

from ganlit.models import CGAN


class TinyCGAN(CGAN):
    """A user's own paper: a CGAN subclass in the user's own module."""


class NaNCGAN(CGAN):
    """Diverges at its fourth iteration."""

    def generator_loss(self, batch, out):
        loss, logs = super().generator_loss(batch, out)
        return (loss * float("nan") if int(self.iteration) >= 3 else loss), logs


def wipe(target="pwned"):
    Path(target).write_text("a user's function, called by a checkpoint")
'''

# (id, ganlit_class, hyper_parameters): each would create ./pwned if it were called with its arguments.
PAYLOADS = [
    ("subprocess.run", "subprocess.run", {"args": "echo x > pwned", "shell": True}),
    ("os.system", "os.system", {"command": "echo x > pwned"}),
    ("builtins.eval", "builtins.eval", {"source": "open('pwned', 'w')"}),
    ("ganlit-function", "ganlit.utils.atomic.atomic_write_text", {"path": "pwned", "text": "x"}),
    ("user-function", "safety_papers.wipe", {"target": "pwned"}),
]


def tree_hashes(*roots: Path) -> dict[str, str]:
    out = {}
    for root in roots:
        for p in sorted(Path(root).rglob("*")):
            if p.is_file():
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def python_path(*folders: Path) -> str:
    return os.pathsep.join([*map(str, folders), *filter(None, [os.environ.get("PYTHONPATH")])])


def ganlit(args: list[str], cwd: Path, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "GANLIT_DEBUG"}
    environment.update({"WANDB_MODE": "disabled", "PYTHONPATH": python_path(cwd, HERE), **(env or {})})
    return subprocess.run([sys.executable, "-m", "ganlit", *args], cwd=cwd, env=environment, capture_output=True,
                          text=True, timeout=timeout)


def assert_one_error(proc: subprocess.CompletedProcess, command: str, *fragments: str) -> str:
    err = proc.stderr
    assert proc.returncode == 2, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    lines = [ln for ln in err.splitlines() if ": error: " in ln]
    assert len(lines) == 1 and lines[0].startswith(f"ganlit {command}: error: "), err[-3000:]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def save_module(model, path: Path, facts: dict, **extra) -> Path:
    hparams = {k: v for k, v in dict(model.hparams).items() if not k.startswith("_")}
    torch.save({"ganlit_class": f"{type(model).__module__}.{type(model).__qualname__}", "hyper_parameters": hparams,
                "state_dict": model.state_dict(), "ganlit_facts": facts, **extra}, path)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Checkpoints (a good CGAN, code-carrying ones, one that does not fit), images, a user's module."""
    from ganlit.models import CGAN

    root = tmp_path_factory.mktemp("safety")
    (root / "safety_papers.py").write_text(USER_MODULE)
    torch.manual_seed(0)
    model = CGAN(image_size=16, channels=1, ngf=8, ndf=8)
    facts = {"image_size": 16, "channels": 1, "num_classes": 10}
    good = save_module(model, root / "good.ckpt", facts)
    for name, class_path, hparams in PAYLOADS:
        torch.save({"ganlit_class": class_path, "hyper_parameters": hparams, "state_dict": {}}, root / f"{name}.ckpt")
    # Lightning's own key: a good model class, but hyper_parameters naming another class to build.
    ckpt = torch.load(good, weights_only=True)
    ckpt["hyper_parameters"] = {**ckpt["hyper_parameters"], "_class_path": "subprocess.Popen"}
    torch.save(ckpt, root / "lightning-class-path.ckpt")
    ckpt = torch.load(good, weights_only=True)
    ckpt["hyper_parameters"]["ngf"] = 16  # loads, but the weights are of an ngf-8 network
    torch.save(ckpt, root / "misfit.ckpt")
    ckpt = torch.load(good, weights_only=True)
    ckpt["ganlit_class"] = "safety_papers.TinyCGAN"
    torch.save(ckpt, root / "user-paper.ckpt")
    (root / "images").mkdir()
    for i in range(2):
        Image.fromarray(np.full((16, 16), 60 * i + 30, np.uint8)).save(root / "images" / f"{i}.png")
    return root


def controls(files: Path, tmp_path: Path) -> None:
    """The payloads are real: called with their arguments, each creates ./pwned."""
    import importlib

    sys.path.insert(0, str(files))
    try:
        for name, class_path, hparams in PAYLOADS:
            folder = tmp_path / f"control-{name}"
            folder.mkdir()
            cwd = os.getcwd()
            os.chdir(folder)
            try:
                module, _, attr = class_path.rpartition(".")
                target = getattr(importlib.import_module(module), attr)
                if name == "builtins.eval":
                    target(hparams["source"])  # eval takes its source positionally
                else:
                    target(**hparams)
            finally:
                os.chdir(cwd)
            assert (folder / "pwned").exists(), name
    finally:
        sys.path.remove(str(files))


def command_lines(ckpt: Path, files: Path) -> dict[str, list[str]]:
    """Every command that takes a model, with ``ckpt`` as its model."""
    return {
        "sample": ["sample", "--ckpt", str(ckpt), "--output", "out", "--num", "2"],
        "translate": ["translate", "--model", str(ckpt), "--input", str(files / "images"), "--output", "out"],
        "export": ["export", "--ckpt", str(ckpt), "--format", "torchscript", "--output", "g.pt"],
        "evaluate": ["evaluate", "--ckpt", str(ckpt), "--data", "ganlit.data.DigitsDataModule"],
        "demo": ["demo", "--model", str(ckpt), "--port", "0"],
        "fit": ["fit", *QUICK, "--ckpt_path", str(ckpt)],
        "validate": ["validate", *QUICK, "--ckpt_path", str(ckpt)],
        "predict": ["predict", *QUICK, "--ckpt_path", str(ckpt)],
    }


def test_no_checkpoint_can_choose_the_code_that_runs(files, tmp_path):
    controls(files, tmp_path)
    cases = []
    for name, class_path, _ in [*PAYLOADS, ("lightning-class-path", "subprocess.Popen", None)]:
        for command, argv in command_lines(files / f"{name}.ckpt", files).items():
            if name == "lightning-class-path" and command not in ("fit", "validate", "predict"):
                continue  # only Lightning's --ckpt_path reads `_class_path`
            cases.append({"id": f"{name}-{command}", "argv": argv, "value": class_path, "command": command})
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    env = {k: v for k, v in os.environ.items() if k != "GANLIT_DEBUG"}
    env.update({"WANDB_MODE": "disabled", "PYTHONPATH": python_path(files, HERE),
                "SAFETY_WORKDIR": str(tmp_path)})
    before = tree_hashes(files)
    proc = subprocess.run([sys.executable, str(HERE / "safety_driver.py"), str(tmp_path / "cases.json")],
                          capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout)
    for case in cases:
        got = results[case["id"]]
        assert got["pwned"] == [], (case["id"], got)
        err = got["stderr"]
        assert got["code"] == 2, (case["id"], got)
        assert "Traceback" not in err, (case["id"], err)
        lines = [ln for ln in err.splitlines() if ": error: " in ln]
        assert len(lines) == 1 and lines[0].startswith(f"ganlit {case['command']}: error: "), (case["id"], err)
        key = "_class_path" if case["id"].startswith("lightning") else "ganlit_class"
        assert f"{key} {case['value']!r}" in lines[0] and "refused" in lines[0], (case["id"], lines[0])
    assert tree_hashes(files) == before
    assert all(p.parent.name.startswith("control-") for p in tmp_path.rglob("pwned*"))


def test_refusals_through_the_real_command_and_a_users_own_paper_works(files, tmp_path):
    for name, command in (("subprocess.run", "sample"), ("os.system", "fit")):
        argv = command_lines(files / f"{name}.ckpt", files)[command]
        assert_one_error(ganlit(argv, tmp_path), command, f"ganlit_class {name!r}", "refused")
        assert not list(tmp_path.rglob("pwned*"))
    proc = ganlit(["sample", "--ckpt", str(files / "user-paper.ckpt"), "--output", "out", "--num", "3"], tmp_path,
                  env={"PYTHONPATH": python_path(files, HERE)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0_0.png", "1_0.png", "2_0.png"]
