"""One resumable, atomic, checked HTTP download, shared by datasets (``ganlit.data.download``) and weights
(``ganlit.weights_download``).

A file is fetched into ``<target>.part`` with a ``<target>.part.url`` sidecar that records the URL its bytes came
from. A rerun of an interrupted transfer resumes with an HTTP ``Range`` request, but only when the sidecar names the
same URL (one server's bytes are never appended to another's). Redirects from https to plain http are refused.
:func:`fetch_checked` checks the whole file (length; sha256 / md5 / a sha256 prefix) before it renames it to
``target``; a file that fails a check is removed with its sidecar, so nothing half-right is ever left where a
loader looks.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Optional

from tqdm.auto import tqdm

from ganlit.errors import UsageError
from ganlit.utils.atomic import disk_error

__all__ = ["CHUNK", "DownloadError", "check_digests", "fetch", "fetch_checked", "origin", "origin_file", "part_of",
           "record_origin", "remove_with_origin"]

CHUNK = 1 << 16


class DownloadError(UsageError, RuntimeError):
    """The transfer failed or the file is not what was expected; nothing was written at the target."""


def origin_file(path: Path) -> Path:
    """The sidecar that records where the bytes of ``path`` came from."""
    return path.with_name(path.name + ".url")


def origin(path: Path) -> Optional[str]:
    """The URL recorded for ``path``, or None when there is no sidecar."""
    try:
        return origin_file(path).read_text().strip()
    except OSError:
        return None


def record_origin(path: Path, url: str) -> None:
    """Write ``url`` into the sidecar of ``path`` (unless it already says so)."""
    if origin(path) != url:
        origin_file(path).write_text(url + "\n")


def remove_with_origin(path: Path) -> None:
    """Remove ``path`` and its sidecar, where they exist."""
    for p in (path, origin_file(path)):
        p.unlink(missing_ok=True)


def part_of(target: Path) -> Path:
    """The partial file a transfer to ``target`` writes: ``<target>.part``."""
    return target.with_name(target.name + ".part")


class _NoDowngrade(urllib.request.HTTPRedirectHandler):
    """Follows redirects, except from https to plain http (that would drop the transport's integrity)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, ANN201 - urllib's signature
        if req.full_url.startswith("https:") and not newurl.startswith("https:"):
            raise DownloadError(f"{req.full_url}: the server redirected to {newurl}, a plain http address; refused")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_NoDowngrade)


def fetch(url: str, part: Path, desc: str) -> None:
    """Download ``url`` into ``part``, resuming from its current length; raise if the body is cut short."""
    start = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "ganlit-download"}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        response = _OPENER.open(urllib.request.Request(url, headers=headers), timeout=60)
    except urllib.error.HTTPError as error:
        if error.code == 416 and start:  # our partial file is unusable for this server: start over
            part.unlink()
            return fetch(url, part, desc)
        raise DownloadError(f"{url}: HTTP {error.code} {error.reason}") from error
    except (urllib.error.URLError, OSError) as error:
        raise DownloadError(f"{url}: {getattr(error, 'reason', error)}") from error
    with response:
        resumed = start > 0 and response.status == 206
        if not resumed:
            start = 0
        length = response.headers.get("Content-Length")
        total = start + int(length) if length is not None else None
        received = start
        with open(part, "ab" if resumed else "wb") as out, tqdm(
            total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024, desc=desc
        ) as bar:
            while True:
                try:
                    chunk = response.read(CHUNK)
                except (OSError, ValueError) as error:
                    raise DownloadError(f"{url}: transfer broke after {received} bytes ({error}); rerun to resume") from error
                if not chunk:
                    break
                out.write(chunk)  # an OSError here is the disk's, reported by the caller
                received += len(chunk)
                bar.update(len(chunk))
    if total is not None and received != total:
        raise DownloadError(
            f"{url}: connection closed after {received} of {total} bytes; rerun the same command to resume "
            f"from {part}"
        )


def check_digests(path: Path, expected: dict[str, Optional[str]], url: str,
                  sha256_prefix: Optional[str] = None) -> dict[str, str]:
    """The sha256 and md5 of ``path``; a mismatch with an expected one (or with ``sha256_prefix``, the start of
    the sha256 that a torch hub file name carries) raises :class:`DownloadError` (the caller removes the file)."""
    digests = {"sha256": hashlib.sha256(), "md5": hashlib.md5()}
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            for digest in digests.values():
                digest.update(block)
    found = {name: digest.hexdigest() for name, digest in digests.items()}
    for name, want in expected.items():
        if want is not None and found[name] != want.strip().lower():
            raise DownloadError(f"{url}: {name} {found[name]} != expected {want}; the file was removed")
    if sha256_prefix and not found["sha256"].startswith(sha256_prefix.lower()):
        raise DownloadError(f"{url}: sha256 {found['sha256']} does not start with {sha256_prefix}, the hash its "
                            f"file name carries; the file was removed")
    return found


def fetch_checked(url: str, target: Path, desc: str, expected: dict[str, Optional[str]],
                  sha256_prefix: Optional[str] = None, hint: str = "",
                  validate: Optional[Callable[[Path], None]] = None) -> dict[str, str]:
    """Fetch ``url`` to ``target`` through ``<target>.part`` (resumed where it came from the same URL), check it
    and only then rename it to ``target``; return its digests.

    ``hint`` is appended as is to a transfer error (how to get the file without this command). ``validate`` looks
    at the checked file before it is renamed and raises :class:`DownloadError` to refuse it (e.g. not a state
    dict). A file that fails a check is removed with its sidecar; an interrupted transfer keeps ``.part`` and its
    sidecar for the rerun, and one that received nothing leaves neither.
    Raises :class:`DownloadError`, or a one-line ``DiskError`` when the disk refuses the bytes.
    """
    part = part_of(target)
    if part.exists() and origin(part) != url:  # never append one server's bytes to another's
        remove_with_origin(part)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        record_origin(part, url)
        fetch(url, part, desc)
    except DownloadError as error:
        if not part.exists() or not part.stat().st_size:  # nothing received (HTTP 404, no route): nothing to resume
            remove_with_origin(part)
        raise DownloadError(f"{error}{hint}") from None
    except OSError as error:
        raise disk_error(error, part, hint="free space and rerun to resume") from None
    try:
        digests = check_digests(part, expected, url, sha256_prefix)
        if validate is not None:
            validate(part)
    except DownloadError:
        remove_with_origin(part)
        raise
    os.replace(part, target)
    origin_file(part).unlink(missing_ok=True)
    return digests
