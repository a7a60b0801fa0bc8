"""``ganlit download <dataset> --root DIR`` fetches a dataset from its official location; ``ganlit download <weights>``
(``inception``, ``vgg19``, ``official:<pix2pix|cyclegan|stargan>/<name>``) fetches pretrained weights to where ganlit
looks for them; ``ganlit download --list`` shows both, with sizes where known and sources."""

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
        description="Download a dataset from its official URL, check it and extract it so that ROOT is the dataset "
        "folder; or download pretrained weights, check them and put them where ganlit looks for them.",
        epilog=f"datasets: {names}. 'facades' and 'maps' are the pix2pix A|B sets; the CycleGAN ones are "
        f"'cyclegan/facades' and 'cyclegan/maps'. weights: inception (FID), vgg19 (style transfer), "
        f"official:pix2pix/<name>, official:cyclegan/<name>, official:stargan/<name> (see --list). "
        f"Mirror: set {BASE_URL_ENV} or --base-url.",
    )
    parser.add_argument("dataset", nargs="?", help="dataset or weights name (see --list)")
    parser.add_argument("--root", help="folder the dataset is extracted to, e.g. data/facades")
    parser.add_argument("--force", action="store_true",
                        help="replace ROOT when it already holds files (weights: fetch them again)")
    parser.add_argument("--base-url", default=None, help="fetch the same file names from this URL instead")
    parser.add_argument("--sha256", default=None,
                        help="the expected sha256 of the fetched file (checked before extraction or installation)")
    parser.add_argument("--md5", default=None, help="the archive's expected md5, where the publisher gives one")
    parser.add_argument("--max-extract-gb", type=float, default=DEFAULT_MAX_EXTRACT_GB,
                        help="refuse an archive that expands to more than this (default %(default)g GB)")
    parser.add_argument("--list", action="store_true", help="list the known weights and datasets, sizes and sources")
    return parser


def _where(name: str) -> str:
    source = DATASETS[name]
    if source.url is None:
        return "torchvision (its own md5s)" if name == "mnist" else f"manual download (see: ganlit download {name})"
    if source.sha256 or source.md5:
        return f"{source.url} ({'sha256 ' + source.sha256 if source.sha256 else 'md5 ' + str(source.md5)})"
    return f"{source.url} (no published checksum: --sha256)"


def _list() -> None:
    from ganlit.weights_download import list_lines

    print("\n".join(list_lines()))
    print("datasets (extracted into --root DIR):")
    for name in sorted(DATASETS):
        print(f"  {name:24s} {'size unknown':13s} {_where(name)}\n  {'':24s} -> {DATASETS[name].layout}")
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
    from ganlit.weights_download import is_weights_name

    if is_weights_name(args.dataset):
        return _weights(args)
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


def _weights(args: argparse.Namespace) -> int:
    """``ganlit download <weights>``: fetch, check, install where ganlit looks, print that path."""
    from ganlit.weights_download import WEIGHTS, download_weights, installed_path, resolve_weights_name, weights_url

    name = resolve_weights_name(args.dataset)
    for option, value in (("--root", args.root), ("--md5", args.md5)):
        if value is not None:
            raise UsageError(f"{option} is for datasets: {name} goes where ganlit looks for it, {installed_path(name)} "
                             f"(it follows $TORCH_HOME)")
    if args.force or not installed_path(name).is_file():
        print(f"downloading {name} from {weights_url(name, args.base_url)}")
    path = download_weights(name, base_url=args.base_url, sha256=args.sha256, force=args.force,
                            max_extract_gb=args.max_extract_gb)
    print(f"{name} is in {path} ({WEIGHTS[name].what}; used by {WEIGHTS[name].used_by})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
