"""One process at a time in a run folder: ``<run>/.ganlit.lock``.

``ganlit fit`` holds an exclusive ``flock`` on the lock file for as long as it trains (its DDP ranks share the
run through rank 0). The file names the holder (pid, host, start time, command), so a second ``fit`` resuming the
same run is refused in one line saying who trains it. The kernel drops the lock of a process that dies, even by
SIGKILL: the next ``fit`` then takes it over and says so. The file itself is never deleted (deleting a locked file
lets two processes lock two different files); a clean exit empties it.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import socket
import sys
import time
from pathlib import Path
from typing import Any, Optional

from ganlit.errors import UsageError

LOCK_NAME = ".ganlit.lock"
_held: dict[Path, int] = {}  # run folder -> open descriptor of its lock file, for this process's lifetime


class RunInUseError(UsageError):
    """The run folder is being trained by another process."""


def _describe(holder: dict[str, Any]) -> str:
    when = holder.get("started")
    since = time.strftime(" since %Y-%m-%d %H:%M:%S", time.localtime(when)) if isinstance(when, (int, float)) else ""
    command = f" ({holder['command']})" if holder.get("command") else ""
    return f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}{since}{command}"


def _read(fd: int) -> dict[str, Any]:
    os.lseek(fd, 0, os.SEEK_SET)
    data = os.read(fd, 65536)
    try:
        holder = json.loads(data.decode("utf-8")) if data.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        holder = {"pid": "?", "host": "?"}
    return holder if isinstance(holder, dict) else {}


def acquire(run: Path, command: Optional[list[str]] = None) -> Optional[dict[str, Any]]:
    """Lock ``run`` for this process (again: a no-op); return the dead holder it took over from, if any.

    Raises ``RunInUseError`` naming the live holder.
    """
    run = Path(run).resolve()
    if run in _held:
        return None
    path = run / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read(fd)
        os.close(fd)
        raise RunInUseError(f"{run} is in use: it is being trained by {_describe(holder)}; wait for that run to "
                            f"finish or stop it (kill {holder.get('pid', '<pid>')}), then run this again") from None
    previous = _read(fd)
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
          "command": shlex.join(["ganlit", *(command if command is not None else sys.argv[1:])])}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(me) + "\n").encode("utf-8"), 0)
    _held[run] = fd
    return previous or None


def release(run: Optional[Path] = None) -> None:
    """Empty and unlock ``run``'s lock file (every lock this process holds when ``run`` is None)."""
    for folder in [Path(run).resolve()] if run is not None else list(_held):
        fd = _held.pop(folder, None)
        if fd is None:
            continue
        try:
            os.ftruncate(fd, 0)
        except OSError:  # a full or read-only disk: the lock goes with the descriptor anyway
            pass
        os.close(fd)


def holder(run: Path) -> Optional[dict[str, Any]]:
    """Who trains ``run`` now (None when nobody does)."""
    path = Path(run) / LOCK_NAME
    if Path(run).resolve() in _held or not path.is_file():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(fd) or {"pid": "?", "host": "?"}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
