"""Every recipe's literal command, ``lightning fit --config recipes/<name>.yaml``, in a fresh folder without its
dataset: one error line naming the folder the recipe reads and how to get it, exit 2, and nothing left behind
(no run folder, no W&B run: the data is checked before the loggers start). StarGAN's recipe on a CelebA tree
too small for its split stops the same way."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from fixtures_data import write_celeba_tree

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
NEEDS_DATA = sorted(p.stem for p in RECIPES.glob("*.yaml") if p.stem != "quickstart")  # the digits need no data
MANUAL = {"paired_cyclegan_makeup", "stargan_rafd"}  # no script may fetch MT or RaFD

pytestmark = pytest.mark.slow  # one subprocess per recipe, three at a time


def lightning_fit(recipe: str, cwd: Path) -> subprocess.CompletedProcess:
    """The user's command, from a folder holding a copy of ``recipes/`` (the recipes name relative data roots)."""
    (cwd / "recipes").mkdir(parents=True, exist_ok=True)
    shutil.copy(RECIPES / f"{recipe}.yaml", cwd / "recipes")
    script = Path(sys.executable).with_name("lightning")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "ganlit"]
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_DIR": str(cwd), "GANLIT_DEBUG": ""}
    return subprocess.run([*command, "fit", "--config", f"recipes/{recipe}.yaml"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def left_behind(cwd: Path, keep: set[str]) -> list[str]:
    return sorted(str(p.relative_to(cwd)) for p in cwd.rglob("*")
                  if p.relative_to(cwd).parts[0] not in keep)


def test_every_recipe_without_its_data_stops_in_one_line_and_leaves_nothing(tmp_path):
    with ThreadPoolExecutor(3) as pool:
        procs = dict(zip(NEEDS_DATA, pool.map(lambda r: lightning_fit(r, tmp_path / r), NEEDS_DATA)))
    for recipe, proc in procs.items():
        root = yaml.safe_load((RECIPES / f"{recipe}.yaml").read_text())["data"]["init_args"]["root"]
        errors = [line for line in proc.stderr.splitlines() if ": error: " in line]
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, (recipe, proc.stderr[-2000:])
        assert len(errors) == 1 and errors[0].startswith("ganlit fit: error: "), (recipe, proc.stderr[-2000:])
        assert root in errors[0], (recipe, errors[0])
        if recipe not in MANUAL:
            assert f"ganlit download {Path(root).name if recipe not in ('gan_mnist', 'cgan_mnist') else 'mnist'}" \
                in proc.stderr, (recipe, proc.stderr[-2000:])
        assert "wandb: Tracking run" not in proc.stderr + proc.stdout, recipe  # no logger run was started
        assert left_behind(tmp_path / recipe, {"recipes"}) == [], recipe


def test_stargan_on_a_celeba_tree_too_small_for_its_split(tmp_path):
    write_celeba_tree(tmp_path / "data" / "celeba", n=40)
    proc = lightning_fit("stargan", tmp_path)
    errors = [line for line in proc.stderr.splitlines() if ": error: " in line]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and len(errors) == 1, proc.stderr[-2000:]
    assert errors[0] == ("ganlit fit: error: data/celeba/list_attr_celeba.txt: the stargan split leaves no training "
                         "image (40 listed, the first 1999 go to test; lower test_size)")
    assert left_behind(tmp_path, {"recipes", "data"}) == []
