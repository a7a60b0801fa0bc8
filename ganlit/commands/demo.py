"""``ganlit demo``: try a checkpoint or official weights in a local web page (Gradio, the ``ganlit[demo]`` extra).

    ganlit demo --model runs/quickstart/checkpoints/last.ckpt        # or the run folder: runs/quickstart
    ganlit demo --model official:cyclegan --weights horse2zebra.pth
    ganlit demo --model official:cyclegan/horse2zebra                 # after: ganlit download official:cyclegan/horse2zebra
    ganlit demo --model official:stargan --weights 200000-G.ckpt --attrs Black_Hair,Blond_Hair,Brown_Hair,Male,Young
    ganlit demo --model stylize [--weights vgg19-dcbb9e9d.pth]

The page fits the model: a sample grid (GAN, CGAN), an image translator (pix2pix, PAN, CycleGAN, DiscoGAN, official
pix2pix/CycleGAN), attribute toggles (StarGAN), face + reference (PairedCycleGAN), content + style (Gatys). Every
result is computed by the functions of ``ganlit translate`` / ``ganlit sample`` / ``ganlit stylize``, so the same
input gives the same PNG.

Safe by default: it listens on 127.0.0.1 (``--host`` to change), never opens a public share link, caps uploads
(``--max-upload-mb``) and input images (``--max-pixels``), resizes inputs as the model was trained, and writes only
inside a temporary folder it deletes on exit. Exit code 2 with one line on bad input or without Gradio.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from ganlit.commands.demo_pages import Limits

__all__ = ["build_parser", "main", "resolve_checkpoint"]

# Results fill their box, so a 16 px digit is shown large; pixelated keeps small images crisp when scaled up.
PAGE_CSS = ("#input img, #output img { width: 100%; height: 100%; object-fit: contain; "
            "image-rendering: pixelated; }")
INSTALL_HINT = "ganlit demo needs Gradio: pip install 'ganlit[demo]' (or: pip install gradio)"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ganlit demo", description="Try a ganlit checkpoint or official weights in a "
                                "local web page.")
    p.add_argument("--model", required=True,
                   help="a ganlit checkpoint (.ckpt), a run folder (its checkpoints/last.ckpt), a bundle folder "
                        "(ganlit pack), hf:owner/name, official:pix2pix | official:cyclegan | official:stargan (with "
                        "--weights, or official:<kind>/<name> once `ganlit download` fetched it), or stylize (Gatys)")
    p.add_argument("--weights", type=Path, default=None,
                   help="official weights file (official:*), or VGG-19 weights (stylize; default the torch hub cache)")
    p.add_argument("--attrs", default=None, help="official:stargan: the attribute names, in training order")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=None, help="port (default: the first free one from 7860)")
    p.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default cuda when available, else cpu")
    p.add_argument("--max-upload-mb", type=float, default=20.0, help="largest accepted upload (default 20 MB)")
    p.add_argument("--max-pixels", type=int, default=40_000_000,
                   help="largest accepted input image, width x height (default 40 megapixels)")
    return p


def resolve_checkpoint(model: str) -> Path:
    """A checkpoint path, a bundle folder (``ganlit pack``) or ``hf:owner/name``, or a run folder's
    ``checkpoints/last.ckpt`` (else its ``last.ckpt``)."""
    from ganlit.bundle import HF_PREFIX, is_bundle, resolve_source

    if model.startswith(HF_PREFIX):
        return resolve_source(model)
    path = Path(model)
    if is_bundle(path):
        return path
    if path.is_dir():
        for candidate in (path / "checkpoints" / "last.ckpt", path / "last.ckpt"):
            if candidate.is_file():
                return candidate
        raise FileNotFoundError(f"--model {path}: a folder without checkpoints/last.ckpt or last.ckpt; "
                                "pass the .ckpt file itself")
    if not path.is_file():
        raise FileNotFoundError(f"--model {path}: no such checkpoint file or run folder")
    return path


def build_page(args: argparse.Namespace, device: str, workdir: Path, limits: "Limits") -> tuple[Any, str]:
    """The Gradio Blocks for ``args.model`` and a one-line description of what it serves."""
    from ganlit.commands import demo_families as fam
    from ganlit.commands.demo_pages import Context, Workspace, digit_examples
    from ganlit.commands.translators import InputError

    workspace = Workspace(workdir)
    if args.model == "stylize":
        return fam.stylize_page(args, device, workspace, limits)
    if args.model.startswith("official:"):
        from ganlit.commands.translators import missing_official_weights, official_kind
        from ganlit.hub import load_official

        kind = official_kind(args)  # official:<kind>/<name> finds the file `ganlit download` put in place
        if args.weights is None:
            raise InputError(missing_official_weights(kind))
        net = load_official(kind, args.weights).to(device)
        ctx = Context(args, args.model, net, device, workspace, limits)
        ctx.translator()  # fail now, on the command line, if an option is missing (e.g. --attrs)
        if kind == "stargan":
            from ganlit.attributes import HAIR_COLOURS

            names = [a.strip() for a in args.attrs.split(",") if a.strip()]
            return fam.stargan_page(ctx, names, [n for n in names if n in HAIR_COLOURS], None), \
                f"official StarGAN from {args.weights}"
        return fam.translation_page(ctx, two_way=False, eval_option=True, examples=[]), \
            f"official {kind} from {args.weights}"

    from ganlit.checkpoint import load_module

    if args.weights is not None or args.attrs is not None:
        raise InputError("--weights/--attrs are for official:* models (and --weights for stylize); "
                         "a ganlit checkpoint is given with --model alone")
    ckpt = resolve_checkpoint(args.model)
    model = load_module(ckpt, map_location=device)
    ctx = Context(args, str(ckpt), model, device, workspace, limits)
    name = f"{type(model).__name__} from {ckpt}"
    if hasattr(model, "sample"):
        return fam.sampling_page(ctx), name
    if not callable(getattr(model, "translate", None)):
        raise InputError(f"{ckpt}: {type(model).__name__} has neither sample() nor translate(); nothing to show")
    params = inspect.signature(model.translate).parameters
    size = int(getattr(model, "image_size", 32) or 32)

    def examples(domains: list[str]) -> list[str]:  # digits for the small models the digits world trains
        return digit_examples(workdir / "examples", domains) if size <= 64 else []

    if "c_org" in params and getattr(model, "attr_names", None):
        names = list(model.attr_names)
        group = names if getattr(model, "single_label", False) else \
            [n for n in names if n in getattr(model, "exclusive_attrs", [])]
        return fam.stargan_page(ctx, names, group, examples(["plain"])), name
    if "reference" in params:
        return fam.makeup_page(ctx, examples(["plain", "style0", "style1"])), name
    two_way = len(getattr(model, "generators", {})) == 2
    return fam.translation_page(ctx, two_way=two_way, eval_option="eval_mode" in params,
                                examples=examples(["plain", "outline", "red"])), name


def _quiet_gradio() -> None:
    """No analytics, no version check, no telemetry: the page must work offline and tell nobody about itself."""
    for key, value in {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
                       "GRADIO_SSR_MODE": "False"}.items():
        os.environ.setdefault(key, value)


def main(argv: Optional[list[str]] = None) -> int:
    """Run ``ganlit demo``; return the exit code (blocks while the page is served)."""
    args = build_parser().parse_args(argv)
    _quiet_gradio()
    workdir = Path(tempfile.mkdtemp(prefix="ganlit-demo-"))
    # Gradio keeps uploads and results in GRADIO_TEMP_DIR: inside our folder, deleted on exit.
    os.environ["GRADIO_TEMP_DIR"] = str(workdir / "gradio")
    try:
        try:
            importlib.import_module("gradio")
        except ImportError:
            print(f"ganlit demo: error: {INSTALL_HINT}", file=sys.stderr)
            return 2
        return _serve(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _serve(args: argparse.Namespace, workdir: Path) -> int:
    import torch

    from ganlit.checkpoint import UnsafeCheckpointError
    from ganlit.commands import demo_pages
    from ganlit.commands.translators import InputError

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        if device == "cuda" and not torch.cuda.is_available():
            raise InputError("--device cuda was asked for but no CUDA device is available")
        if args.max_upload_mb <= 0 or args.max_pixels < 1:
            raise InputError("--max-upload-mb and --max-pixels must be positive")
        page, description = build_page(args, device, workdir, demo_pages.Limits(max_pixels=args.max_pixels))
    except (InputError, FileNotFoundError, UnsafeCheckpointError, ValueError) as err:
        print(f"ganlit demo: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # a file torch cannot parse at all: still one line, no traceback
        first_line = (str(err).splitlines() or [""])[0]
        print(f"ganlit demo: error: cannot load {args.weights or args.model}: {type(err).__name__}: {first_line}",
              file=sys.stderr)
        return 2
    # Ctrl+C and a plain `kill` both stop the page cleanly (and the temporary folder goes), even when the shell
    # that started us in the background set SIGINT to be ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    page.queue(default_concurrency_limit=1, max_size=32)
    _, url, _ = page.launch(
        server_name=args.host, server_port=args.port, share=False, inbrowser=False, prevent_thread_lock=True,
        quiet=True, ssr_mode=False, max_file_size=int(args.max_upload_mb * 1024 * 1024), show_error=True,
        allowed_paths=[str(workdir)], mcp_server=False, pwa=False, footer_links=[],
        css=PAGE_CSS,
    )
    print(f"ganlit demo: {description} on {device}; serving {url} (Ctrl+C to stop); files in {workdir} "
          "(deleted on exit)", flush=True)
    try:
        page.block_thread()
    except KeyboardInterrupt:
        pass
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):  # shutting down: a second Ctrl+C must not skip the clean-up
            signal.signal(sig, signal.SIG_IGN)
        page.close()
    return 0
