"""What ganlit computes once and keeps (the digits judge, real-image features): ``$GANLIT_CACHE``, by default
``~/.cache/ganlit``, written so that processes sharing it (DDP ranks, test workers) never read a half-written file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def cache_root() -> Path:
    """``$GANLIT_CACHE`` or ``~/.cache/ganlit``."""
    return Path(os.environ.get("GANLIT_CACHE", Path.home() / ".cache" / "ganlit"))


def save_atomic(obj: Any, path: Path) -> Path:
    """``torch.save`` through ``ganlit.utils.atomic``: a concurrent reader sees the old file or the new one."""
    from ganlit.utils.atomic import save_torch

    return save_torch(obj, path)
