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


# ----------------------------------------------------------------------------- data loss and one-line errors
def mount_tmpfs(folder: Path, size: str, read_only: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or 'mount failed'}): the disk-full and "
                    "read-only cases need one")
    return folder


@pytest.fixture
def mounts(tmp_path):
    """``mount(name, size)`` -> a small tmpfs in this test's folder, unmounted afterwards."""
    made: list[Path] = []

    def mount(name: str, size: str) -> Path:
        made.append(mount_tmpfs(tmp_path / name, size))
        return made[-1]

    yield mount
    for folder in reversed(made):
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def read_only(folder: Path) -> Path:
    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
    return folder


def fill(folder: Path) -> None:
    """Take every free byte of ``folder``'s file system."""
    with open(folder / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    for size in (4096, 512, 1):  # the buffer's tail: fill the last blocks too
        try:
            with open(folder / f"filler-{size}", "wb") as f:
                while True:
                    f.write(b"\0" * size)
                    f.flush()
        except OSError:
            pass


@pytest.fixture(scope="module")
def trees(files, tmp_path_factory):
    """Real-format datasets (pix2pix A|B, CelebA with one short attribute line, an unpaired tree of broken files),
    a tiny CycleGAN checkpoint, and a YAML alias bomb."""
    from fixtures_data import write_celeba_tree, write_paired_tree

    from ganlit.models import CycleGAN

    root = tmp_path_factory.mktemp("trees")
    write_paired_tree(root / "paired")
    write_celeba_tree(root / "celeba")
    attr = root / "celeba" / "list_attr_celeba.txt"
    lines = attr.read_text().splitlines()
    lines[3] = " ".join(lines[3].split()[:-3])  # image 2 lists 37 of the 40 values
    attr.write_text("\n".join(lines) + "\n")
    for domain in ("trainA", "trainB", "testA", "testB"):
        (root / "broken" / domain).mkdir(parents=True)
        for i in range(3):
            (root / "broken" / domain / f"{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    torch.manual_seed(0)
    save_module(CycleGAN(ngf=4, ndf=4, n_blocks=1), root / "cyclegan.ckpt", {"image_size": 32, "channels": 3})
    (root / "photos").mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / "photos" / f"{i}.png")
    bomb = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 9):
        bomb.append(f"{chr(97 + i)}: &{chr(97 + i)} [" + ", ".join([f"*{chr(96 + i)}"] * 9) + "]")
    (root / "bomb.yaml").write_text("\n".join(bomb) + "\ntrainer:\n  max_epochs: 1\n")
    return root


def tiny_cyclegan_fit(data: str, *extra: str) -> list[str]:
    return ["fit", "--model", "ganlit.models.CycleGAN", "--model.init_args.ngf", "4", "--model.init_args.ndf", "4",
            "--model.init_args.n_blocks", "1", "--data", "ganlit.data.UnpairedImageDataModule", "--data.init_args.root",
            data, "--data.init_args.image_size", "32", "--data.init_args.batch_size", "1", "--trainer.logger", "false",
            "--trainer.max_steps", "1", *extra]


def copy_photos(trees: Path, to: Path) -> Path:
    to.mkdir(parents=True, exist_ok=True)
    for p in (trees / "photos").iterdir():
        (to / p.name).write_bytes(p.read_bytes())
    return to


# Each row: (id, command, setup(tmp_path, files, trees, mount) -> argv, fragments of the one error line).
ROWS = [
    ("translate-onto-its-inputs", "translate",
     lambda t, f, d, m: ["translate", "--model", str(d / "cyclegan.ckpt"), "--input", str(copy_photos(d, t / "x")),
                         "--output", str(t / "x"), "--overwrite"], ["is the --input folder"]),
    ("translate-over-an-input-file", "translate",
     lambda t, f, d, m: ["translate", "--model", str(d / "cyclegan.ckpt"), "--input", str(copy_photos(d, t / "x") / "0.png"),
                         "--output", str(t / "x"), "--overwrite"], ["would replace the input", "0.png"]),
    ("export-over-its-checkpoint", "export",
     lambda t, f, d, m: ["export", "--ckpt", str(f / "good.ckpt"), "--format", "torchscript", "--output",
                         str(f / "good.ckpt"), "--overwrite"], ["would replace the input", "good.ckpt"]),
    ("checkpoint-that-does-not-fit", "sample",
     lambda t, f, d, m: ["sample", "--ckpt", str(f / "misfit.ckpt"), "--output", "out"],
     ["misfit.ckpt: its weights do not fit the CGAN", "size mismatch for"]),
    ("pix2pix-size-the-unet-cannot-take", "fit",
     lambda t, f, d, m: ["fit", "--config", str(RECIPES / "pix2pix_facades.yaml"), "--data.init_args.root",
                         str(d / "paired"), "--data.init_args.image_size", "100", "--trainer.logger", "false"],
     ["ganlit.models.Pix2Pix: image_size=100 is not divisible by 2**num_downs=256"]),
    ("stargan-32-px", "fit",
     lambda t, f, d, m: ["fit", "--config", str(RECIPES / "stargan.yaml"), "--data.init_args.root", str(d / "celeba"),
                         "--data.init_args.image_size", "32", "--trainer.logger", "false"],
     ["StarGANDiscriminator: image_size=32 must be a multiple of 2**repeat_num=64"]),
    ("negative-size", "fit", lambda t, f, d, m: ["fit", *QUICK, "--data.init_args.image_size", "-4"],
     ["data.init_args.image_size=-4: expected an integer >= 1"]),
    ("zero-batch-size", "fit", lambda t, f, d, m: ["fit", *QUICK, "--data.init_args.batch_size", "0"],
     ["data.init_args.batch_size=0: expected an integer >= 1"]),
    ("celeba-attribute-line-too-short", "fit",
     lambda t, f, d, m: ["fit", "--config", str(RECIPES / "stargan.yaml"), "--data.init_args.root", str(d / "celeba"),
                         "--data.init_args.split", "official", "--data.init_args.image_size", "64",
                         "--trainer.logger", "false"], ["list_attr_celeba.txt:4: expected a file name and 40 values"]),
    ("every-image-bad-under-workers", "fit",
     lambda t, f, d, m: tiny_cyclegan_fit(str(d / "broken"), "--data.init_args.skip_bad_images", "true",
                                          "--data.init_args.num_workers", "2"), ["no readable image left"]),
    ("yaml-alias-bomb", "fit", lambda t, f, d, m: ["fit", "--config", str(d / "bomb.yaml")],
     ["bomb.yaml: its YAML aliases expand to more than 1,000,000 values"]),
    ("divergence", "fit",
     lambda t, f, d, m: ["fit", *QUICK, "--model", "safety_papers.NaNCGAN", "--checkpoint.every_n_iterations", "1"],
     ["NaNCGAN: the G loss became nan at iteration 3", "--ckpt_path", "checkpoints/last.ckpt"]),
    ("fit-into-a-read-only-folder", "fit",
     lambda t, f, d, m: ["fit", *QUICK, "--trainer.default_root_dir", str(read_only(m("ro", "1m")) / "runs")],
     ["cannot write", "read-only"]),
    ("sample-into-a-read-only-folder", "sample",
     lambda t, f, d, m: ["sample", "--ckpt", str(f / "good.ckpt"), "--output", str(read_only(m("ro", "1m")) / "out")],
     ["cannot write", "read-only"]),
    ("export-into-a-read-only-folder", "export",
     lambda t, f, d, m: ["export", "--ckpt", str(f / "good.ckpt"), "--format", "torchscript", "--output",
                         str(read_only(m("ro", "1m")) / "g.pt")], ["cannot write", "g.pt", "read-only"]),
]


@pytest.mark.parametrize("command,setup,fragments", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_each_case_ends_in_one_line_and_changes_no_file(files, trees, mounts, tmp_path, command, setup, fragments):
    argv = setup(tmp_path, files, trees, mounts)
    before = tree_hashes(files, trees, tmp_path)
    proc = ganlit(argv, tmp_path, env={"PYTHONPATH": python_path(files, HERE)})
    assert_one_error(proc, command, *fragments)
    after = tree_hashes(files, trees, tmp_path)
    assert {k: after.get(k) for k in before} == before  # new files may appear (a run folder); none changed
    assert not list(tmp_path.rglob("*.tmp-*")), list(tmp_path.rglob("*.tmp-*"))


def test_a_full_disk_stops_fit_in_one_line_with_the_checkpoint_to_resume_from(mounts, tmp_path):
    disk = mounts("disk", "3500k")  # room for one CGAN checkpoint (2.3 MB), not for a second beside it
    proc = ganlit(["fit", *QUICK, "--trainer.max_epochs", "3", "--trainer.default_root_dir", str(disk / "runs")],
                  tmp_path)
    last = disk / "runs" / "version_0" / "checkpoints" / "last.ckpt"
    line = assert_one_error(proc, "fit", f"cannot write {last.resolve()}: no space left on the device",
                            "is the last good checkpoint", "resume with: ganlit fit", f"--ckpt_path {last}")
    assert torch.load(last, weights_only=True)["epoch"] == 0, line  # the first epoch's checkpoint, whole
    assert not list(disk.rglob("*.tmp-*"))


def test_a_full_disk_keeps_the_previous_export_and_leaves_no_empty_image(files, trees, mounts, tmp_path):
    disk = mounts("disk", "3m")
    assert ganlit(["export", "--ckpt", str(files / "good.ckpt"), "--format", "torchscript", "--output",
                   str(disk / "g.pt")], tmp_path).returncode == 0
    (disk / "out").mkdir()
    fill(disk)
    before = tree_hashes(disk)
    proc = ganlit(["export", "--ckpt", str(files / "good.ckpt"), "--format", "torchscript", "--output",
                   str(disk / "g.pt"), "--overwrite"], tmp_path)
    assert_one_error(proc, "export", f"cannot write {disk / 'g.pt'}: no space left on the device")
    assert tree_hashes(disk) == before and torch.jit.load(str(disk / "g.pt")) is not None
    proc = ganlit(["translate", "--model", str(trees / "cyclegan.ckpt"), "--input", str(trees / "photos"), "--output",
                   str(disk / "out")], tmp_path)
    assert_one_error(proc, "translate", "cannot write", "no space left on the device")
    assert list((disk / "out").iterdir()) == []  # no zero-byte or partial PNG
    assert tree_hashes(disk) == before


def test_one_run_folder_one_fit_a_killed_fit_leaves_nothing_behind(tmp_path):
    root = tmp_path / "runs"
    quick = [*QUICK, "--trainer.default_root_dir", str(root)]
    assert ganlit(["fit", *quick, "--trainer.max_epochs", "1"], tmp_path).returncode == 0
    lock = root / "version_0" / ".ganlit.lock"
    env = {k: v for k, v in os.environ.items() if k != "GANLIT_DEBUG"}
    env.update({"WANDB_MODE": "disabled"})
    first = subprocess.Popen([sys.executable, "-m", "ganlit", "fit", *quick, "--trainer.max_epochs", "1000",
                              "--trainer.limit_train_batches", "1000", "--ckpt_path", "last"], cwd=tmp_path, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (lock.is_file() and lock.read_text().strip()):
            time.sleep(0.2)
        holder = json.loads(lock.read_text())
        assert holder["pid"] == first.pid
        second = ganlit(["fit", *quick, "--trainer.max_epochs", "1000", "--ckpt_path", "last"], tmp_path)
        assert_one_error(second, "fit", "version_0 is in use", f"pid {first.pid}", f"kill {first.pid}")
        assert sorted(p.name for p in root.iterdir()) == ["latest", "version_0"]  # and it started no run of its own
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    dead = root / "version_0" / "checkpoints" / f"last.ckpt.tmp-{first.pid}"
    dead.write_bytes(b"half a checkpoint")  # what a kill during a save leaves
    from ganlit.runs import read_saved_run

    done = read_saved_run(root / "version_0" / "checkpoints" / "last.ckpt").epochs_done
    third = ganlit(["fit", *quick, "--trainer.max_epochs", str(done + 1), "--ckpt_path", "last"], tmp_path)
    assert third.returncode == 0, third.stderr[-3000:]
    assert f"left locked by pid {first.pid}" in third.stderr and "which no longer runs" in third.stderr
    assert "removed 1 partial file(s) left by interrupted saves: checkpoints/last.ckpt.tmp-" in third.stderr
    assert not dead.exists() and lock.read_text() == ""  # a finished fit leaves the lock empty


def test_a_damaged_last_checkpoint_does_not_block_resuming_another_run(tmp_path):
    root = tmp_path / "runs"
    quick = [*QUICK, "--trainer.default_root_dir", str(root), "--trainer.max_epochs", "1"]
    assert ganlit(["fit", *quick], tmp_path).returncode == 0
    assert ganlit(["fit", *quick], tmp_path).returncode == 0
    damaged = root / "version_1" / "checkpoints" / "last.ckpt"
    damaged.write_bytes(damaged.read_bytes()[:1000])
    proc = ganlit(["fit", *QUICK, "--trainer.default_root_dir", str(root), "--trainer.max_epochs", "2",
                   "--ckpt_path", "last"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"--ckpt_path last skips {damaged}: " in proc.stderr and "damaged checkpoint" in proc.stderr
    assert "resuming " + str(root / "version_0" / "checkpoints" / "last.ckpt") in proc.stderr
    assert torch.load(root / "version_0" / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 1


def test_a_download_that_cannot_fit_the_disk_stops_before_writing(mounts, tmp_path):
    from test_download import Server, bomb

    disk = mounts("disk", "2m")
    with Server() as server:
        server.files["/mirror/facades.tar.gz"] = bomb(64)  # ~60 kB that expand to 64 MB
        proc = ganlit(["download", "facades", "--root", str(disk / "facades"), "--base-url", server.url], tmp_path)
        assert_one_error(proc, "download", f"cannot extract {disk}/.facades.facades.tar.gz into {disk / 'facades'}",
                         "expands to 64.0 MB and 2.0 MB are free there")
        proc = ganlit(["download", "facades", "--root", str(disk / "facades"), "--base-url", server.url,
                       "--max-extract-gb", "0.01"], tmp_path)
        assert_one_error(proc, "download", "expands to 0.06 GB, more than the limit of 0.01 GB", "--max-extract-gb")
    assert list(disk.iterdir()) == []  # the refused archive is removed: a rerun fetches afresh
