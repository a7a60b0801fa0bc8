"""Writing a user-visible file so that it is either the old file or the whole new one, never a partial one.

Every file ganlit writes for a user (checkpoints, exports, translated and sampled images, JSON reports, cached
features) goes through :func:`atomic_write`: the bytes go to ``<name>.tmp-<pid>`` in the same folder, are flushed
to disk and then renamed over the target (atomic on POSIX). A failure removes the temporary file and leaves the
target as it was. A full disk, a read-only folder or a missing permission becomes :class:`DiskError`, one line
naming the path; a kill leaves at most the temporary file, which :func:`remove_leftovers` clears later.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, Optional, Union

from ganlit.errors import UsageError

__all__ = ["DiskError", "atomic_path", "atomic_write", "atomic_write_bytes", "atomic_write_text", "disk_error", "remove_leftovers",
           "save_torch", "TMP_PATTERN"]

# The errors of the storage itself, as opposed to a bug: each gets a short reason the user can act on.
_REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}
TMP_PATTERN = re.compile(r"\.tmp-(\d+)$")


class DiskError(UsageError, OSError):
    """A file could not be written (disk full, read-only, no permission); the message names the path."""

    def __init__(self, message: str, code: Optional[int] = None) -> None:
        super().__init__(message)
        self.errno = code

    def __str__(self) -> str:
        return str(self.args[0])


def disk_error(err: OSError, path: Union[str, Path], hint: str = "") -> Union[DiskError, OSError]:
    """``err`` as a one-line :class:`DiskError` naming ``path`` when it is a storage error, else ``err`` itself."""
    reason = _REASONS.get(err.errno or -1)
    if reason is None:
        return err
    message = f"cannot write {path}: {reason}"
    return DiskError(f"{message}{'; ' + hint if hint else ''}", err.errno)


class _RecordingFile:
    """The temporary file, keeping its write errors: torch's zip writer turns them into a generic RuntimeError."""

    def __init__(self, f: BinaryIO) -> None:
        self.f, self.error = f, None

    def write(self, data: Any) -> int:
        try:
            return self.f.write(data)
        except OSError as err:
            self.error = err
            raise

    def __getattr__(self, name: str) -> Any:  # flush, tell, seek, fileno: the file's own
        return getattr(self.f, name)


def atomic_write(path: Union[str, Path], write: Callable[[BinaryIO], Any], hint: str = "") -> Path:
    """Call ``write(f)`` on a temporary file beside ``path``, then rename it over ``path``.

    Raises :class:`DiskError` (the target untouched, the temporary file removed) when the storage refuses the
    write; any other exception is re-raised after the same clean-up.
    """
    with atomic_path(path, hint) as tmp:
        with open(tmp, "wb") as raw:
            f = _RecordingFile(raw)
            try:
                write(f)  # type: ignore[arg-type]
            except RuntimeError:
                if f.error is not None:  # torch.save hides the OSError of the file it wrote to
                    raise f.error from None
                raise
    return Path(path)


@contextlib.contextmanager
def atomic_path(path: Union[str, Path], hint: str = "") -> Iterator[Path]:
    """For writers that want a file name (exporters): yield a temporary path beside ``path``; when the block ends
    without error it is flushed and renamed over ``path``, else removed, the target untouched."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        raise disk_error(err, path, hint) from None
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path: Union[str, Path], data: bytes, hint: str = "") -> Path:
    return atomic_write(path, lambda f: f.write(data), hint)


def atomic_write_text(path: Union[str, Path], text: str, hint: str = "") -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), hint)


def save_torch(obj: Any, path: Union[str, Path], hint: str = "") -> Path:
    """``torch.save(obj)`` as an atomic write."""
    import torch

    return atomic_write(path, lambda f: torch.save(obj, f), hint)


def remove_leftovers(folder: Union[str, Path], owned: bool = False) -> list[Path]:
    """Delete the temporary files of interrupted writes into ``folder`` (and its sub-folders); return their paths.

    ``owned``: the caller holds the folder's lock, so no other process writes there and every temporary file is
    a leftover; otherwise a file whose process still runs (a save in progress) is kept.
    """
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for path in folder.rglob("*.tmp-*"):
        m = TMP_PATTERN.search(path.name)
        if m is None or not path.is_file() or (not owned and _alive(int(m.group(1)))):
            continue
        try:
            path.unlink()
            removed.append(path)
        except OSError:
            pass
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process is only starting: nothing of its own is being written yet
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True
