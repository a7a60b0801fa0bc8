"""``ganlit demo``: try a checkpoint or official weights in a local web page (Gradio, the ``ganlit[demo]`` extra).

    ganlit demo --model runs/quickstart/checkpoints/last.ckpt        # or the run folder: runs/quickstart
    ganlit demo --model official:cyclegan --weights horse2zebra.pth
    ganlit demo --model official:cyclegan/horse2zebra                 # after: ganlit download official:cyclegan/horse2zebra
    ganlit demo --model official:stargan --weights 200000-G.ckpt --attrs Black_Hair,Blond_Hair,Brown_Hair,Male,Young
    ganlit demo --model stylize [--weights vgg19-dcbb9e9d.pth]

The page fits what the model declares (``model.inference()``, :mod:`ganlit.models.inference`): a sample grid for a
sampler (GAN, CGAN), attribute toggles when it translates to target attributes (StarGAN), face + reference when it
takes a reference image (PairedCycleGAN), otherwise an image translator (pix2pix, PAN, CycleGAN, DiscoGAN, official
pix2pix/CycleGAN, a paper of one's own), and content + style for Gatys. Every result is computed by the functions of
``ganlit translate`` / ``ganlit sample`` / ``ganlit stylize`` on the model ``ganlit.load`` gives, so the same input
gives the same PNG.

Safe by default: it listens on 127.0.0.1 (``--host`` to change), never opens a public share link, caps uploads
(``--max-upload-mb``) and input images (``--max-pixels``), sizes inputs as ``ganlit translate`` does, and writes only
inside a temporary folder it deletes on exit. Exit code 2 with one line on bad input or without Gradio.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from ganlit.commands.demo_pages import Limits

__all__ = ["build_page", "build_parser", "main"]

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


def build_page(args: argparse.Namespace, device: str, workdir: Path, limits: "Limits") -> tuple[Any, str]:
    """The Gradio Blocks for ``args.model`` and a one-line description of what it serves: the model from
    :func:`ganlit.load`, its page chosen by what it declares (``model.inference()``), never by its class."""
    from ganlit.api import load
    from ganlit.commands import demo_families as fam
    from ganlit.commands.demo_pages import Context, Workspace, digit_examples

    workspace = Workspace(workdir)
    if args.model == "stylize":
        return fam.stylize_page(args, device, workspace, limits)
    attrs = None if args.attrs is None else args.attrs.split(",")
    model = load(args.model, device, weights=args.weights, attrs=attrs)
    spec = model.inference()
    ctx = Context(model, args.model, device, workspace, limits)
    name = f"{type(model).__name__} from {args.model}" + (f" ({args.weights})" if args.weights else "")
    if spec.task == "sample":
        return fam.sampling_page(ctx), name
    small = bool(spec.image_size) and spec.image_size <= 64

    def examples(domains: list[str]) -> list[str]:  # digits for the small models the digits world trains
        return digit_examples(workdir / "examples", domains) if small else []

    if "target" in spec.options and spec.attributes:
        return fam.stargan_page(ctx, list(spec.attributes), list(spec.exclusive), examples(["plain"])), name
    if "reference" in spec.options:
        return fam.makeup_page(ctx, examples(["plain", "style0", "style1"])), name
    return fam.translation_page(ctx, two_way=len(spec.directions) == 2, eval_option="eval_mode" in spec.options,
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

    from ganlit.commands import demo_pages
    from ganlit.commands.translators import InputError
    from ganlit.errors import UsageError

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        if device == "cuda" and not torch.cuda.is_available():
            raise InputError("--device cuda was asked for but no CUDA device is available")
        if args.max_upload_mb <= 0 or args.max_pixels < 1:
            raise InputError("--max-upload-mb and --max-pixels must be positive")
        page, description = build_page(args, device, workdir, demo_pages.Limits(max_pixels=args.max_pixels))
    except (UsageError, FileNotFoundError, ValueError) as err:  # InputError, CheckpointError, MissingWeightsError
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
