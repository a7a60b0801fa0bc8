import os
import sys
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("GANLIT_CACHE", str(Path(__file__).resolve().parent.parent / ".cache" / "ganlit"))
sys.path.insert(0, str(Path(__file__).resolve().parent))


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _run_in_tmp_path(tmp_path, monkeypatch):
    """Every test runs in its own folder: runs, sample grids and outputs never land in the checkout."""
    monkeypatch.chdir(tmp_path)
