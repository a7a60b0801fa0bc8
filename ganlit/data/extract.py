"""Extracting a downloaded archive with bounds: members stay inside the target, and the expanded size is checked
against a limit and against the free space before a byte is written (a small archive can inflate to gigabytes)."""

from __future__ import annotations

import shutil
import tarfile
import zipfile
from pathlib import Path
from typing import Optional

from ganlit.errors import UsageError
from ganlit.utils.atomic import DiskError, disk_error

# The largest official archive (edges2shoes, ~2 GB) expands to under 3 GB; the limit leaves room for mirrors' own sets.
DEFAULT_MAX_EXTRACT_GB = 20.0


class ArchiveError(UsageError, RuntimeError):
    """The archive cannot be extracted as it is (corrupt, unknown type, a member outside the target, too large)."""


def expanded_size(archive: Path) -> int:
    """The bytes ``archive`` expands to, from its member headers (tar and zip readers stop at the declared size)."""
    kind = archive_kind(archive)
    try:
        if kind == "tar":
            with tarfile.open(archive) as tar:
                return sum(m.size for m in tar.getmembers() if m.isfile())
        with zipfile.ZipFile(archive) as zf:
            return sum(info.file_size for info in zf.infolist())
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as error:
        raise ArchiveError(f"{archive}: corrupt archive ({error})") from error


def archive_kind(archive: Path) -> str:
    name = archive.name.lower()
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        return "tar"
    if name.endswith(".zip"):
        return "zip"
    raise ArchiveError(f"{archive}: unknown archive type (expected .tar.gz, .tgz, .tar or .zip)")


def extract(archive: Path, destination: Path, max_gb: float = DEFAULT_MAX_EXTRACT_GB,
            target: Optional[Path] = None) -> None:
    """Extract ``archive`` into the folder ``destination`` after checking its expanded size.

    ``target`` is the folder the user asked for, named in messages (``destination`` may be a staging folder).
    Raises :class:`ArchiveError` for a bad archive or one larger than ``max_gb`` and a one-line
    :class:`~ganlit.utils.atomic.DiskError` when it does not fit the free space (or the disk fills anyway).
    """
    size = expanded_size(archive)
    if size > max_gb * 1e9:
        raise ArchiveError(
            f"{archive} expands to {size / 1e9:.2f} GB, more than the limit of {max_gb:g} GB; "
            f"raise it with --max-extract-gb if you expect a dataset this large"
        )
    free = shutil.disk_usage(destination).free
    if size > free:
        raise DiskError(f"cannot extract {archive} into {target or destination}: it expands to {size / 1e6:.1f} MB "
                        f"and {free / 1e6:.1f} MB are free there; free space and rerun")
    try:
        if archive_kind(archive) == "tar":
            with tarfile.open(archive) as tar:
                tar.extractall(destination, filter="data")  # refuses absolute paths, .., links out and devices
        else:
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    _inside(destination, member, archive)
                zf.extractall(destination)
    except tarfile.FilterError as error:
        raise ArchiveError(f"{archive}: refused member ({error})") from error
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as error:
        raise ArchiveError(f"{archive}: corrupt archive ({error})") from error
    except OSError as error:
        raise disk_error(error, target or destination, hint=f"free space and rerun (the archive needs "
                         f"{size / 1e6:.1f} MB)") from None


def _inside(destination: Path, member: str, archive: Path) -> None:
    target = (destination / member).resolve()
    if not target.is_relative_to(destination.resolve()):
        raise ArchiveError(f"{archive}: member {member!r} would be written outside the target")
