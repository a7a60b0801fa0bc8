"""The official download locations of every dataset ganlit knows, and an atomic, resumable downloader.

Names: the pix2pix paired sets are ``facades``, ``edges2shoes``, ``edges2handbags``, ``maps``,
``night2day`` (also reachable as ``pix2pix/<name>``); the CycleGAN unpaired sets are ``horse2zebra``,
``apple2orange``, ... (also ``cyclegan/<name>``). ``facades`` and ``maps`` exist in both families with
different layouts: the bare name is the pix2pix A|B set, ``cyclegan/facades`` and ``cyclegan/maps`` are
the unpaired ones. ``celeba`` is StarGAN's zip, ``mnist`` goes through torchvision, ``makeup`` (the MT
set) and ``rafd`` cannot be fetched by a script: asking for them raises ``ManualDownloadRequired``
with instructions.

``download_dataset`` writes ``<root>`` in one step: the archive is fetched into ``.<root>.<file>.part``
beside the target (resumed with an HTTP Range request when the file is already partly there and came from the
same URL), checked (length; sha256 or md5 where one is pinned or given), its expanded size checked against a
limit and the free space, extracted into a temporary folder beside the target and only then renamed to
``root``. An interruption leaves at most the ``.part`` file, never a half-extracted tree; a rejected archive
is removed; an existing non-empty target is never overwritten unless ``force=True``. Redirects from https to
plain http are refused.
Set ``GANLIT_DOWNLOAD_BASE_URL`` (or pass ``base_url``) to fetch the same file names from a mirror.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from ganlit.data.extract import DEFAULT_MAX_EXTRACT_GB, ArchiveError, extract
from ganlit.errors import UsageError
# The transfer itself (resume, sidecar, redirect policy, checksums) is shared with the weights: ganlit.fetch.
from ganlit.fetch import _NoDowngrade, DownloadError  # noqa: F401 - re-exported: callers catch them from here
from ganlit.fetch import check_digests as _check_digests
from ganlit.fetch import fetch as _fetch
from ganlit.fetch import origin as _origin
from ganlit.fetch import origin_file as _origin_file
from ganlit.fetch import record_origin as _record_origin
from ganlit.fetch import remove_with_origin as _remove
from ganlit.utils.atomic import disk_error

BASE_URL_ENV = "GANLIT_DOWNLOAD_BASE_URL"
# The official scripts fetch these over plain http (the files moved here from people.eecs.berkeley.edu, whose https
# certificate expired); pass --sha256 to check what arrives.
PIX2PIX_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/{}.tar.gz"
CYCLEGAN_URL = "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/{}.zip"
PIX2PIX_SETS = ("facades", "edges2shoes", "edges2handbags", "maps", "night2day")
CYCLEGAN_SETS = (
    "horse2zebra", "apple2orange", "summer2winter_yosemite", "monet2photo", "cezanne2photo", "ukiyoe2photo",
    "vangogh2photo", "maps", "facades", "iphone2dslr_flower", "mini",
)

MT_INSTRUCTIONS = """\
The MT makeup dataset (BeautyGAN, Li et al., ACM MM 2018) is distributed as a Google Drive file
linked from the BeautyGAN project page (http://liusi-group.com/projects/BeautyGAN); it cannot be
fetched by a script. Download it by hand, unzip it and point root at the folder that holds:
  images/makeup/*.png  images/non-makeup/*.png
  segs/makeup/*.png    segs/non-makeup/*.png      (single-channel label maps, same names)
  makeup.txt  non-makeup.txt  makeup_test.txt  nomakeup_test.txt"""

RAFD_INSTRUCTIONS = """\
The Radboud Faces Database (RaFD) is licensed per user: request it at https://rafd.socsci.ru.nl/,
then arrange the (face-cropped) images as train/<expression>/*.jpg and test/<expression>/*.jpg."""


@dataclass(frozen=True)
class DatasetSource:
    """Where a dataset comes from and what its extracted tree looks like."""

    url: Optional[str]
    layout: str
    # None where the publisher gives no checksum: none of the efrosgans or Dropbox files has one (the official
    # scripts check nothing), so ganlit prints the sha256 it received and --sha256 checks it next time.
    md5: Optional[str] = None
    sha256: Optional[str] = None
    instructions: Optional[str] = None  # for datasets that no script may fetch


def _table() -> dict[str, DatasetSource]:
    table: dict[str, DatasetSource] = {}
    for name in PIX2PIX_SETS:
        table[name] = DatasetSource(PIX2PIX_URL.format(name), "train/ val/ [test/]: A|B side-by-side jpgs")
    for name in CYCLEGAN_SETS:
        key = f"cyclegan/{name}" if name in PIX2PIX_SETS else name
        table[key] = DatasetSource(CYCLEGAN_URL.format(name), "trainA/ trainB/ testA/ testB/")
    table["celeba"] = DatasetSource(
        "https://www.dropbox.com/s/d1kjpkqklf0uw77/celeba.zip?dl=1",
        "images/*.jpg (StarGAN's copy of img_align_celeba) + list_attr_celeba.txt",
    )
    table["mnist"] = DatasetSource(None, "MNIST/raw/*-ubyte (torchvision)")
    table["makeup"] = DatasetSource(None, "images/ segs/ + four list files", instructions=MT_INSTRUCTIONS)
    table["rafd"] = DatasetSource(None, "train/<expression>/ test/<expression>/", instructions=RAFD_INSTRUCTIONS)
    return table


DATASETS: dict[str, DatasetSource] = _table()
ALIASES: dict[str, str] = {
    **{f"pix2pix/{n}": n for n in PIX2PIX_SETS},
    **{f"cyclegan/{n}": n for n in CYCLEGAN_SETS if n not in PIX2PIX_SETS},
    "mt": "makeup",
}


class ManualDownloadRequired(UsageError, RuntimeError):
    """The dataset cannot be fetched by a script; the message says how to get it."""


def resolve_name(name: str) -> str:
    """Canonical table key for ``name`` (accepts the ``pix2pix/``, ``cyclegan/`` and ``mt`` aliases)."""
    key = ALIASES.get(name, name)
    if key not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    return key


def known_name(*candidates: Optional[str]) -> Optional[str]:
    """The canonical name of the first candidate the table knows (used to guess a name from a root folder)."""
    for name in candidates:
        if name and (name in DATASETS or name in ALIASES):
            return resolve_name(name)
    return None


def source_url(name: str, base_url: Optional[str] = None) -> str:
    """The URL ``name`` is fetched from: the official one, or the same file name under ``base_url``."""
    source = DATASETS[resolve_name(name)]
    if source.url is None:
        raise ValueError(f"{name!r} is not fetched from a URL")
    base_url = base_url or os.environ.get(BASE_URL_ENV) or None
    if base_url is None:
        return source.url
    filename = Path(urllib.parse.urlparse(source.url).path).name
    return base_url.rstrip("/") + "/" + filename


def download_dataset(
    name: str,
    root: Union[str, Path],
    base_url: Optional[str] = None,
    force: bool = False,
    md5: Optional[str] = None,
    keep_archive: bool = False,
    sha256: Optional[str] = None,
    max_extract_gb: float = DEFAULT_MAX_EXTRACT_GB,
) -> Path:
    """Fetch dataset ``name`` and extract it so that ``root`` is the dataset folder; return ``root``.

    ``sha256`` / ``md5`` override the table's checksums. Raises ``FileExistsError`` when ``root`` is a non-empty
    folder (unless ``force``), ``ManualDownloadRequired`` for datasets no script may fetch, ``DownloadError``
    for transfer or checksum failures, ``ArchiveError`` for an archive that cannot be extracted as it is and
    ``DiskError`` when it does not fit the disk. A rejected archive is removed, so a rerun fetches afresh.
    """
    key = resolve_name(name)
    source = DATASETS[key]
    root = Path(root).expanduser().absolute()
    if source.instructions is not None:
        raise ManualDownloadRequired(source.instructions)
    if key == "mnist":
        return _download_mnist(root, base_url)
    if _non_empty(root) and not force:
        raise FileExistsError(
            f"{root} already exists and is not empty; not overwriting it. "
            f"Use another --root, remove it, or pass --force to replace it."
        )
    url = source_url(key, base_url)
    filename = Path(urllib.parse.urlparse(url).path).name
    root.parent.mkdir(parents=True, exist_ok=True)
    archive = root.parent / f".{root.name}.{filename}"
    expected = {"sha256": sha256 or source.sha256, "md5": md5 or source.md5}
    try:
        if not archive.exists() or _origin(archive) != url:  # a file kept from another server is not reused
            _remove(archive)
            _fetch_to(url, archive, key, filename, root, source.layout)
        digests = _check_digests(archive, expected, url)
        if not any(expected.values()):
            print(f"{filename}: sha256 {digests['sha256']} (no checksum is published for it; pass --sha256 "
                  f"with this value to check a later download)", file=sys.stderr)
        _extract_into(archive, root, force, max_extract_gb)
    except (DownloadError, ArchiveError):
        _remove(archive)  # rejected: a rerun fetches it afresh (from whichever --base-url it names)
        raise
    if not keep_archive:
        _remove(archive)
    return root


def _fetch_to(url: str, archive: Path, key: str, filename: str, root: Path, layout: str) -> None:
    part = archive.with_name(archive.name + ".part")
    if part.exists() and _origin(part) != url:  # never append one server's bytes to another's
        _remove(part)
    try:
        _record_origin(part, url)
        _fetch(url, part, desc=f"{key} ({filename})")
    except DownloadError as error:
        raise DownloadError(
            f"{error}\nWithout network access, place the files by hand: fetch {url} elsewhere and extract it so "
            f"that {root} holds {layout}."
        ) from None
    except OSError as error:
        raise disk_error(error, part, hint="free space and rerun to resume") from None
    os.replace(part, archive)
    os.replace(_origin_file(part), _origin_file(archive))


def _non_empty(path: Path) -> bool:
    return path.exists() and (not path.is_dir() or any(path.iterdir()))


def _extract_into(archive: Path, root: Path, force: bool, max_extract_gb: float) -> None:
    """Extract beside ``root``, strip a single top-level folder, then rename into place."""
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.extract-", dir=root.parent))
    try:
        extract(archive, staging, max_extract_gb, target=root)
        entries = [p for p in staging.iterdir() if p.name != "__MACOSX"]
        content = entries[0] if len(entries) == 1 and entries[0].is_dir() else staging
        if not entries:
            raise ArchiveError(f"{archive}: the archive is empty")
        if content is staging:  # keep the rename target distinct from the staging folder we delete below
            content = staging / ".content"
            content.mkdir()
            for entry in entries:
                entry.rename(content / entry.name)
        previous = None
        if root.exists():
            if _non_empty(root) and not force:
                raise FileExistsError(f"{root} appeared while downloading; not overwriting it")
            previous = staging / ".previous"  # deleted with the staging folder once the new tree is in place
            root.rename(previous)
        try:
            os.replace(content, root)
        except OSError:
            if previous is not None:
                previous.rename(root)
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _download_mnist(root: Path, base_url: Optional[str]) -> Path:
    """MNIST through torchvision (its own mirrors, checksums and layout ``<root>/MNIST/raw``)."""
    from torchvision.datasets import MNIST

    base_url = base_url or os.environ.get(BASE_URL_ENV) or None
    official = MNIST.mirrors
    try:
        if base_url is not None:
            MNIST.mirrors = [base_url.rstrip("/") + "/"]
        for train in (True, False):
            MNIST(str(root), train=train, download=True)
    finally:
        MNIST.mirrors = official
    return root
