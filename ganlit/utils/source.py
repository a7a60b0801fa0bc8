"""Which ganlit made a run: its version and the git commit of its source tree (recorded in the W&B run config)."""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path
from typing import Optional


def source_version() -> dict[str, Optional[str]]:
    """``{"version": ganlit.__version__, "commit": <40 hex digits or None>}`` of the ganlit that is imported."""
    from ganlit._version import __version__

    return {"version": __version__, "commit": source_commit(Path(__file__).resolve().parents[1])}


@functools.lru_cache(maxsize=None)
def source_commit(package: Path) -> Optional[str]:
    """The commit checked out in the git repository whose ``ganlit/`` folder is ``package``; None when ganlit is not
    a git checkout (an installed wheel), git is missing, or the repository around it is someone else's (a virtual
    environment inside a project). Read from the package's folder, never from the current folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}  # GIT_DIR would name another repository
    try:
        out = subprocess.run(["git", "-C", str(package), "rev-parse", "--show-toplevel", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=True, env=env).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    if len(out) != 2 or Path(out[0]).resolve() != package.parent:
        return None
    return out[1]
