"""The pretrained weights ``ganlit download <name>`` fetches, checks and puts where ganlit's loaders look.

Names:

- ``inception``: torch-fidelity's Inception-v3 for FID / IS / KID (:mod:`ganlit.metrics`);
- ``vgg19``: torchvision's ImageNet VGG-19 for style transfer (:class:`ganlit.networks.vgg.VGG19Features`);
- ``official:pix2pix/<name>``, ``official:cyclegan/<name>``: the authors' released generators (``<name>.pth``);
- ``official:stargan/<name>``: the authors' zip, from which ``200000-G.ckpt`` is taken out.

Every file lands under ``ganlit.weights.hub_checkpoint_dir()`` (``$TORCH_HOME/hub/checkpoints``): the first two
under their torch hub names, the official ones in ``ganlit-official/`` (see :func:`ganlit.hub.official_weights_file`),
which is exactly where :func:`ganlit.weights.resolve_weights` looks. The transfer is :func:`ganlit.fetch.fetch_checked`:
resumable, and a file is renamed into place only once it passed its checks: the sha256 prefix its torch hub name
carries (``...-6726825d.pth``), a full sha256 given with ``--sha256``, and for the official files (no checksum is
published) that it is a plain state dict; their received sha256 is printed so a later download can be pinned.
A mirror (``--base-url`` or ``GANLIT_DOWNLOAD_BASE_URL``) serves the same file names.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ganlit.data.download import BASE_URL_ENV
from ganlit.data.extract import DEFAULT_MAX_EXTRACT_GB, ArchiveError, extract
from ganlit.errors import UsageError, did_you_mean
from ganlit.fetch import DownloadError, check_digests, fetch_checked, remove_with_origin
from ganlit.hub import STARGAN_G_FILE, official_download, official_names, official_weights_file, pretrained_url
from ganlit.metrics.features import INCEPTION_DOWNLOAD, INCEPTION_FILE, INCEPTION_URL
from ganlit.networks.vgg import VGG19_DOWNLOAD, VGG19_FILENAME, VGG19_URL
from ganlit.weights import hub_checkpoint_dir

__all__ = ["WEIGHTS", "WeightsSource", "download_weights", "is_weights_name", "resolve_weights_name", "weights_url"]

OFFICIAL_KINDS = ("pix2pix", "cyclegan", "stargan")
# torch hub's convention (torch.hub.HASH_REGEX): `<stem>-<first hex digits of the sha256>.<ext>`.
_NAME_HASH = re.compile(r"-([a-f0-9]{8,})\.")


@dataclass(frozen=True)
class WeightsSource:
    """Where a weights file comes from, where it goes and how it is checked."""

    url: str  # the official URL; a mirror serves the same file name
    target: str  # the installed file, relative to hub_checkpoint_dir()
    what: str  # a few words for messages and --list
    used_by: str
    size: Optional[str] = None  # as the publisher states it; None: unknown
    sha256: Optional[str] = None  # a full pinned sha256, where one is known
    sha256_prefix: Optional[str] = None  # the hash a torch hub file name carries
    member: Optional[str] = None  # the file taken out of an archive (StarGAN's zips)

    @property
    def filename(self) -> str:
        """The file name fetched (the last part of the URL's path)."""
        return Path(urllib.parse.urlparse(self.url).path).name


def name_hash(filename: str) -> Optional[str]:
    """The sha256 prefix a torch hub file name carries (``vgg19-dcbb9e9d.pth`` -> ``dcbb9e9d``), or None."""
    match = _NAME_HASH.search(filename)
    return match.group(1) if match else None


def _table() -> dict[str, WeightsSource]:
    table = {
        "inception": WeightsSource(
            INCEPTION_URL, INCEPTION_FILE, "Inception-v3 FID weights (torch-fidelity)",
            "FID / IS / KID: ganlit.metrics, ganlit evaluate", sha256_prefix=name_hash(INCEPTION_FILE)),
        "vgg19": WeightsSource(
            VGG19_URL, VGG19_FILENAME, "VGG-19 ImageNet weights (torchvision)",
            "style transfer: ganlit stylize, ganlit.models.StyleTransfer",
            size="548.1 MB", sha256_prefix=name_hash(VGG19_FILENAME)),  # the size torchvision's weight table gives
    }
    for kind in OFFICIAL_KINDS:
        for name in official_names(kind):
            url = pretrained_url(kind, name)  # type: ignore[arg-type]
            if kind == "stargan":  # Dropbox serves the file itself for dl=1 (dl=0 is its preview page)
                url = url.replace("?dl=0", "?dl=1")
            table[f"official:{kind}/{name}"] = WeightsSource(
                url, official_weights_file(kind, name), f"official {kind} generator {name!r}",  # type: ignore[arg-type]
                f"ganlit translate / demo --model official:{kind}/{name}",
                member=STARGAN_G_FILE if kind == "stargan" else None)
    return table


WEIGHTS: dict[str, WeightsSource] = _table()


def download_command(name: str) -> str:
    """The command line that fetches weights ``name``."""
    if name == "inception":
        return INCEPTION_DOWNLOAD
    if name == "vgg19":
        return VGG19_DOWNLOAD
    kind, _, model = name.removeprefix("official:").partition("/")
    return official_download(kind, model)  # type: ignore[arg-type]


def is_weights_name(name: str) -> bool:
    """Whether ``name`` asks for weights (``inception``, ``vgg19``, ``official:...``) rather than a dataset."""
    return name in WEIGHTS or name.startswith("official:")


def resolve_weights_name(name: str) -> str:
    """``name`` checked against the table; an unknown one raises a one-line ``UsageError`` naming the known ones."""
    if name in WEIGHTS:
        return name
    kind, _, model = name.removeprefix("official:").partition("/")
    if kind in OFFICIAL_KINDS:
        raise UsageError(f"no official {kind} weights named {model!r}{did_you_mean(model, official_names(kind))}; "
                         f"known: {', '.join(f'official:{kind}/{n}' for n in official_names(kind))}")
    raise UsageError(f"unknown weights {name!r}: expected inception, vgg19 or "
                     f"official:<pix2pix|cyclegan|stargan>/<name> (see ganlit download --list)")


def weights_url(name: str, base_url: Optional[str] = None) -> str:
    """The URL weights ``name`` are fetched from: the official one, or the same file name under ``base_url``."""
    source = WEIGHTS[resolve_weights_name(name)]
    base_url = base_url or os.environ.get(BASE_URL_ENV) or None
    return source.url if base_url is None else base_url.rstrip("/") + "/" + source.filename


def installed_path(name: str) -> Path:
    """Where weights ``name`` are installed: where ganlit's loader looks for them."""
    return hub_checkpoint_dir() / WEIGHTS[resolve_weights_name(name)].target


def download_weights(name: str, base_url: Optional[str] = None, sha256: Optional[str] = None, force: bool = False,
                     max_extract_gb: float = DEFAULT_MAX_EXTRACT_GB) -> Path:
    """Fetch weights ``name``, check them and put them where ganlit looks; return that path.

    ``sha256`` is the expected sha256 of the fetched file (for StarGAN: of the zip). A file already in place is
    kept (and checked against ``sha256`` when given) unless ``force``. Raises ``DownloadError`` for a transfer or
    check failure (nothing is installed, no partial file is left unless the transfer was cut: a rerun resumes it),
    ``ArchiveError`` for a StarGAN zip without the generator, ``DiskError`` when the disk refuses the bytes.
    """
    key = resolve_weights_name(name)
    source = WEIGHTS[key]
    dest = installed_path(key)
    if sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", sha256.strip()):
        raise UsageError(f"--sha256 {sha256!r}: expected 64 hexadecimal digits")
    if dest.is_file() and not force:
        found = check_digests(dest, {}, str(dest))["sha256"] if sha256 is not None and source.member is None else None
        if found is not None and found != sha256.strip().lower():
            raise DownloadError(f"{dest}: sha256 {found} != --sha256 {sha256}; the file in place was kept, "
                                f"pass --force to fetch it again")
        print(f"{key}: already in place at {dest} (--force fetches it again)", file=sys.stderr)
        return dest
    url = weights_url(key, base_url)
    hint = (f"; without network access, fetch {url} elsewhere and place "
            f"{'its ' + source.member if source.member else 'it'} at {dest}.")
    expected = {"sha256": sha256 or source.sha256, "md5": None}
    fetched = dest if source.member is None else dest.with_name(f".{source.filename}")
    validate = None if source.sha256_prefix else _plain_state_dict
    digests = fetch_checked(url, fetched, f"{key} ({source.filename})", expected, source.sha256_prefix, hint,
                            validate=validate if source.member is None else None)
    if source.member is not None:
        try:
            _take_member(fetched, source.member, dest, max_extract_gb)
        except (ArchiveError, DownloadError):
            remove_with_origin(fetched)
            raise
        remove_with_origin(fetched)
    if expected["sha256"] is None:
        checked = f"its name's prefix {source.sha256_prefix}" if source.sha256_prefix else "no checksum is published"
        print(f"{source.filename}: sha256 {digests['sha256']} ({checked}; pass --sha256 with this value to check a "
              f"later download)", file=sys.stderr)
    return dest


def _plain_state_dict(path: Path) -> None:
    """Refuse a file that is not a plain state dict (an HTML error page, a pickle carrying code)."""
    from ganlit.hub import read_state_dict

    try:
        read_state_dict(path)
    except (ValueError, FileNotFoundError) as err:
        raise DownloadError(f"{str(err).splitlines()[0]}; the file was removed") from None


def _take_member(archive: Path, member: str, dest: Path, max_extract_gb: float) -> None:
    """Extract ``archive`` beside ``dest`` and move its one file named ``member`` (checked) to ``dest``."""
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.extract-", dir=dest.parent))
    try:
        extract(archive, staging, max_extract_gb, target=dest.parent)
        found = sorted(p for p in staging.rglob(member) if p.is_file())
        if len(found) != 1:
            raise ArchiveError(f"{archive}: expected one {member} in the archive, found {len(found)}")
        _plain_state_dict(found[0])
        os.replace(found[0], dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def list_lines() -> list[str]:
    """``--list``'s weights rows: name, size (or "size unknown"), source and checksum, where it goes."""
    lines = [f"weights (installed under {hub_checkpoint_dir()}, where ganlit looks; follows $TORCH_HOME):"]
    for key, source in WEIGHTS.items():
        if source.sha256:
            check = f"sha256 {source.sha256}"
        elif source.sha256_prefix:
            check = f"sha256 starts with {source.sha256_prefix}, as its name says"
        else:
            check = "no published checksum: --sha256"
        taken = f", {source.member} taken out" if source.member else ""
        lines.append(f"  {key:40s} {source.size or 'size unknown':13s} {source.url} ({check}{taken})")
        lines.append(f"  {'':40s} -> {source.target}; used by {source.used_by}")
    return lines

