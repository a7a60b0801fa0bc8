"""``ganlit pack``: a trained model as a bundle to share: ``model.safetensors`` + ``config.json`` + ``README.md``.

    ganlit pack --model runs/quickstart/latest --output quickstart-cgan/          # the run's last.ckpt
    ganlit pack --model runs/quickstart/latest --best --output quickstart-cgan/   # its best*.ckpt
    ganlit pack --model path/to/model.ckpt --output DIR [--overwrite] [--license mit]
    ganlit pack --model runs/quickstart/latest --output DIR --push owner/name     # then upload (ganlit[hub])
    ganlit pack --model official:cyclegan/horse2zebra --output horse2zebra/       # released weights, downloaded
    ganlit pack --model official:pix2pix --weights latest_net_G.pth --output facades/

The bundle holds the inference weights only (the generator(s) ``sample``/``translate`` run, the EMA average where
one was kept), the class and init arguments, and a model card with Hugging Face Hub front matter: paper and
citation, data identity, the run's recipe, iterations and epochs, every metric measured with its protocol (best and
last), versions and hardware, intended use and limits. No file in it is a pickle. Official weights
(``official:<kind>``) give a bundle whose card names their release, file and sha256 and says that ganlit measured
nothing (see ``ganlit.official_bundle``). Every command that takes a
checkpoint takes the folder instead, with the same outputs bit for bit (``ganlit.load(DIR)`` in Python).

DIR must be empty or absent; ``--overwrite`` replaces a folder that holds a ganlit bundle, as a whole (the new
bundle is written beside it and renamed into place). ``--push owner/name`` uploads DIR to the Hugging Face Hub with
``huggingface_hub``'s ``upload_folder`` (``pip install 'ganlit[hub]'``, and ``huggingface-cli login`` first).
Exit codes: 0 written; 2 bad input, reported as one line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path
from typing import Any, Optional

from ganlit.errors import UsageError, command


class PackError(UsageError):
    """A problem with the user's input to ``ganlit pack``."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ganlit pack", description="Pack a ganlit checkpoint as a bundle "
                                "(model.safetensors, config.json, README.md model card) to share.")
    p.add_argument("--model", required=True, help="a ganlit checkpoint (.ckpt), a run folder (its "
                   "checkpoints/last.ckpt; --best for its best*.ckpt), or official:<kind>[/<name>] (released weights)")
    p.add_argument("--output", required=True, type=Path, help="the bundle folder to write (empty or absent)")
    p.add_argument("--best", action="store_true", help="a run folder: pack its best*.ckpt instead of last.ckpt")
    p.add_argument("--name", default=None, help="the model's name in its card (default: the output folder's name)")
    p.add_argument("--license", default=None, help="the card's license id (default: mit, ganlit's own, for a "
                   "ganlit model, whose data's license may restrict it; other for official weights)")
    p.add_argument("--overwrite", action="store_true", help="replace DIR when it holds a ganlit bundle")
    p.add_argument("--push", default=None, metavar="OWNER/NAME",
                   help="then upload DIR to this Hugging Face Hub model repository (needs huggingface_hub)")
    p.add_argument("--private", action="store_true", help="with --push: create the repository as private")
    official = p.add_argument_group("official weights (--model official:pix2pix | cyclegan | stargan[/<name>])")
    official.add_argument("--weights", default=None, help="the official weights file (wins over a downloaded "
                          "release of that name)")
    official.add_argument("--attrs", default=None, help="official:stargan: the attribute names the weights were "
                          "trained on, comma-separated, in order")
    official.add_argument("--no-dropout", action="store_true", help="official:pix2pix/cyclegan: a U-Net without "
                          "dropout")
    return p


def source_checkpoint(model: str, best: bool) -> Path:
    """The ``.ckpt`` file ``--model`` names (a file, or a run folder's last/best checkpoint)."""
    from ganlit.bundle import HF_PREFIX, is_bundle, run_checkpoint

    if model.startswith(HF_PREFIX) or is_bundle(model):
        raise PackError(f"--model {model} is already a bundle; copy its folder instead of packing it again")
    path = Path(model)
    if path.is_dir():
        return run_checkpoint(path, best)
    if best:
        raise PackError(f"--best picks the best checkpoint of a run folder; --model {model} is a file")
    if not path.is_file():
        raise PackError(f"--model {model}: no such checkpoint file or run folder")
    return path


def check_output(out: Path, ckpt: Path, overwrite: bool) -> bool:
    """Whether ``out`` holds a bundle that ``--overwrite`` lets this pack replace; refuse anything else there."""
    from ganlit.bundle import is_bundle

    if out.exists() and not out.is_dir():
        raise PackError(f"--output {out} is a file; expected a folder (empty or absent)")
    if not out.is_dir() or not any(out.iterdir()):
        return False
    if not overwrite:
        raise PackError(f"--output {out} is not empty; choose an empty folder or pass --overwrite to replace the "
                        "bundle in it")
    if not is_bundle(out):
        raise PackError(f"--output {out} holds files that are not a ganlit bundle (no config.json); --overwrite only "
                        "replaces a bundle folder: choose an empty folder")
    if out.resolve() in ckpt.resolve().parents:
        raise PackError(f"--output {out} holds the checkpoint {ckpt} being packed; choose another folder")
    return True


def write_bundle(out: Path, files: dict[str, bytes], replace: bool) -> None:
    """Write ``files`` into a new folder beside ``out``, then rename it into place (the old bundle removed after)."""
    from ganlit.utils.atomic import atomic_write_bytes, disk_error

    out = out.absolute()
    staging = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for name, data in files.items():
            atomic_write_bytes(staging / name, data)
        if replace:
            os.replace(out, old)
        elif out.is_dir():
            out.rmdir()  # empty (checked): rename(2) onto it is allowed, but only where the OS allows it
        os.replace(staging, out)
    except OSError as err:
        if replace and old.exists() and not out.exists():
            os.replace(old, out)
        raise disk_error(err, out) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def push(out: Path, repo_id: str, private: bool) -> str:
    """Upload the bundle folder to the Hub repository ``repo_id`` (created if absent); returns its URL."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    api.upload_folder(folder_path=str(out), repo_id=repo_id, repo_type="model",
                      commit_message="ganlit pack: model.safetensors, config.json, README.md")
    return f"https://huggingface.co/{repo_id}"


@command("pack")
def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    from ganlit.bundle import _REPO_ID, CARD, CONFIG, WEIGHTS, bundle_config, weights_bytes
    from ganlit.card import model_card
    from ganlit.checkpoint import load_module, read_checkpoint

    if args.push is not None:
        if not _REPO_ID.match(args.push):
            raise PackError(f"--push {args.push!r}: expected OWNER/NAME, e.g. --push someone/ganlit-quickstart")
        try:
            import huggingface_hub  # noqa: F401
        except ImportError:
            raise PackError("--push needs huggingface_hub: pip install 'ganlit[hub]'") from None
    if args.model.startswith("official:"):
        return pack_official(args)
    if args.weights is not None or args.attrs is not None or args.no_dropout:
        raise PackError("--weights, --attrs and --no-dropout are for --model official:...; a ganlit checkpoint "
                        "is given with --model alone")
    ckpt_path = source_checkpoint(args.model, args.best)
    replace = check_output(args.output, ckpt_path, args.overwrite)
    ckpt: dict[str, Any] = read_checkpoint(ckpt_path, mmap=True)  # the record, the callbacks' state, the counters
    model = load_module(ckpt_path, map_location="cpu")
    config = bundle_config(model, ckpt, ckpt_path)
    card = model_card(model, ckpt, ckpt_path, config, license=args.license or "mit",
                      name=args.name or args.output.absolute().name)
    files = {WEIGHTS: weights_bytes(model), CONFIG: (json.dumps(config, indent=1) + "\n").encode(),
             CARD: card.encode()}
    write_bundle(args.output, files, replace)
    print(f"ganlit pack: wrote {args.output} ({type(model).__name__} from {ckpt_path}: {WEIGHTS} "
          f"{config['weights']['parameters']:,} parameters, {CONFIG}, {CARD})")
    return upload(args)


def pack_official(args: argparse.Namespace) -> int:
    """``--model official:<kind>[/<name>]``: the released generator as ``ganlit.load`` builds it, and a card that
    names its source and says that ganlit measured nothing."""
    from ganlit.api import load
    from ganlit.bundle import CARD, CONFIG, WEIGHTS
    from ganlit.official_bundle import official_card, official_config, official_weights_of
    from safetensors.torch import save

    if args.best:
        raise PackError(f"--best picks the best checkpoint of a run folder; --model {args.model} is official weights")
    attrs = None if args.attrs is None else args.attrs.split(",")
    weights = official_weights_of(args.model, args.weights, attrs)
    replace = check_output(args.output, weights, args.overwrite)
    model = load(args.model, "cpu", weights=weights, attrs=attrs, dropout=not args.no_dropout)
    config = official_config(model, args.model, weights, dropout=not args.no_dropout)
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.generator.state_dict().items()}
    files = {WEIGHTS: save(state, metadata={"format": "pt", "ganlit": "ganlit-bundle"}),
             CONFIG: (json.dumps(config, indent=1) + "\n").encode(),
             CARD: official_card(config, args.license or "other", args.name or args.output.absolute().name).encode()}
    write_bundle(args.output, files, replace)
    print(f"ganlit pack: wrote {args.output} (official {config['official']['kind']} generator from {weights}: "
          f"{WEIGHTS} {config['weights']['parameters']:,} parameters, {CONFIG}, {CARD})")
    return upload(args)


def upload(args: argparse.Namespace) -> int:
    """``--push``: upload the written bundle; a failure leaves it written and says how to retry."""
    if args.push is not None:
        try:
            url = push(args.output, args.push, args.private)
        except Exception as err:  # no login, no network, no rights: the bundle stays written
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise PackError(f"--push {args.push}: upload failed ({type(err).__name__}: {first}); {args.output} is "
                            "written, upload it later with the same command or huggingface-cli upload") from None
        print(f"ganlit pack: uploaded to {url}")
    return 0
