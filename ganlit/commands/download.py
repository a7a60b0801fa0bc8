"""``ganlit download <dataset> --root DIR``: fetch a dataset from its official location."""

from __future__ import annotations

import argparse
import sys
from typing import Optional

from ganlit.errors import UsageError, command
from ganlit.data.extract import DEFAULT_MAX_EXTRACT_GB
from ganlit.data.download import (
    ALIASES,
    BASE_URL_ENV,
    DATASETS,
    ManualDownloadRequired,
    download_dataset,
    resolve_name,
    source_url,
)


def build_parser() -> argparse.ArgumentParser:
    names = ", ".join(sorted(DATASETS))
    parser = argparse.ArgumentParser(
        prog="ganlit download",
        description="Download a dataset from its official URL, check it and extract it so that ROOT is the dataset folder.",
        epilog=f"datasets: {names}. 'facades' and 'maps' are the pix2pix A|B sets; the CycleGAN ones are "
        f"'cyclegan/facades' and 'cyclegan/maps'. Mirror: set {BASE_URL_ENV} or --base-url.",
    )
    parser.add_argument("dataset", nargs="?", help="dataset name (see --list)")
    parser.add_argument("--root", help="folder the dataset is extracted to, e.g. data/facades")
    parser.add_argument("--force", action="store_true", help="replace ROOT when it already holds files")
    parser.add_argument("--base-url", default=None, help="fetch the same file names from this URL instead")
    parser.add_argument("--sha256", default=None, help="the archive's expected sha256 (checked before extraction)")
    parser.add_argument("--md5", default=None, help="the archive's expected md5, where the publisher gives one")
    parser.add_argument("--max-extract-gb", type=float, default=DEFAULT_MAX_EXTRACT_GB,
                        help="refuse an archive that expands to more than this (default %(default)g GB)")
    parser.add_argument("--list", action="store_true", help="list the known datasets and their sources")
    return parser


def _where(name: str) -> str:
    source = DATASETS[name]
    if source.url is None:
        return "torchvision (its own md5s)" if name == "mnist" else f"manual download (see: ganlit download {name})"
    if source.sha256 or source.md5:
        return f"{source.url} ({'sha256 ' + source.sha256 if source.sha256 else 'md5 ' + str(source.md5)})"
    return f"{source.url} (no published checksum: --sha256)"


def _list() -> None:
    for name in sorted(DATASETS):
        print(f"{name:24s} {_where(name)}\n{'':24s} -> {DATASETS[name].layout}")
    print("aliases: " + ", ".join(f"{alias} -> {name}" for alias, name in sorted(ALIASES.items())))


@command("download")
def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        _list()
        return 0
    if args.dataset is None:
        parser.error("the dataset name is required (or --list)")
    try:
        name = resolve_name(args.dataset)
    except KeyError as error:
        parser.error(str(error.args[0]))
    source = DATASETS[name]
    if source.instructions is not None:
        raise ManualDownloadRequired(source.instructions)
    if args.root is None:
        parser.error(f"--root is required, e.g. --root data/{name.replace('/', '_')}")
    if source.url is not None:
        print(f"downloading {name} from {source_url(name, args.base_url)}")
    try:
        root = download_dataset(name, args.root, base_url=args.base_url, force=args.force, md5=args.md5,
                                sha256=args.sha256, max_extract_gb=args.max_extract_gb)
    except FileExistsError as error:
        raise UsageError(str(error)) from None
    print(f"{name} is in {root} ({source.layout})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
