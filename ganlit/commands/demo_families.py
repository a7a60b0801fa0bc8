"""The Gradio layouts of ``ganlit demo``: sampling, translation, StarGAN attributes, makeup, style transfer.

Element ids (``elem_id``) are stable names for the browser test and for anyone scripting the page.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
from PIL import Image

from ganlit.commands.demo_pages import TITLE, Context, Limits, Workspace, open_upload

MAX_SAMPLES = 64
UPLOAD_TYPES = ["image"]


def _blocks(subtitle: str) -> Any:
    import gradio as gr

    blocks = gr.Blocks(title=f"{TITLE}: {subtitle}", analytics_enabled=False)
    return blocks


def _image_input(label: str, elem_id: str) -> Any:
    import gradio as gr

    # A file box, not gr.Image: the page gets the uploaded bytes untouched (as `ganlit translate` reads the file),
    # and a file that is not an image reaches our check, which answers with a message instead of a stack trace.
    return gr.File(label=label, file_types=UPLOAD_TYPES, type="filepath", elem_id=elem_id)


def _image_output(label: str, elem_id: str, height: int = 288) -> Any:
    import gradio as gr

    return gr.Image(label=label, type="filepath", format="png", interactive=False, elem_id=elem_id,
                    buttons=["download"], height=height)


# ----------------------------------------------------------------------------- GAN / CGAN
def grid_png(paths: list[Path], out: Path, nrow: int = 8, padding: int = 2) -> Path:
    """The PNGs tiled row by row, ``nrow`` per row, ``padding`` black pixels around each (torchvision's make_grid)."""
    from torchvision.utils import make_grid

    def read(path: Path) -> torch.Tensor:
        with Image.open(path) as image:
            return torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)

    tiles = torch.stack([read(p) for p in paths])
    grid = make_grid(tiles, nrow=min(nrow, len(paths)), padding=padding, pad_value=0)
    Image.fromarray(grid.permute(1, 2, 0).numpy()).save(out)
    return out


def sampling_page(ctx: Context) -> Any:
    """GAN / CGAN: class (conditional models), number, seed -> a grid and the PNGs ``ganlit sample`` writes."""
    import gradio as gr

    from ganlit.commands.sample import write_samples

    model = ctx.model
    classes = model.inference().classes
    conditional = bool(classes)
    with _blocks(type(model).__name__) as page:
        gr.Markdown(f"## {type(model).__name__}: samples\nThe same images as "
                    "`ganlit sample --model CKPT --num N --seed S" + (" --labels C`" if conditional else "`") + ".")
        with gr.Row():
            label = gr.Dropdown([str(c) for c in range(len(classes) or 1)], value="0",
                                label="class to draw", visible=conditional, elem_id="label")
            num = gr.Slider(1, MAX_SAMPLES, value=16, step=1, label="number of images", elem_id="num")
            seed = gr.Number(0, precision=0, label="seed", elem_id="seed")
        button = gr.Button("Sample", variant="primary", elem_id="run")
        grid = _image_output("samples (row by row, 8 per row)", "output")
        files = gr.File(label="the PNGs", file_count="multiple", interactive=False, elem_id="files")

        def sample(label_value: str, n: float, s: float) -> tuple[str, list[str]]:
            n, s = int(n), int(s or 0)
            if not 1 <= n <= MAX_SAMPLES:
                raise gr.Error(f"number of images must be 1..{MAX_SAMPLES}, got {n}")
            folder = ctx.workspace.new_dir()
            paths = write_samples(model, n, folder, s, [int(label_value)] if conditional else None)
            return str(grid_png(paths, folder.parent / f"{folder.name}_grid.png")), [str(p) for p in paths]

        button.click(sample, [label, num, seed], [grid, files])
    return page


# ----------------------------------------------------------------------------- pix2pix, PAN, CycleGAN, DiscoGAN
def translation_page(ctx: Context, two_way: bool, eval_option: bool, examples: list[str]) -> Any:
    """An image (upload or bundled example), the direction, optionally eval mode -> input and output side by side."""
    import gradio as gr

    with _blocks("translate") as page:
        gr.Markdown("## Translate an image\nThe same PNG as `ganlit translate` writes for this file "
                    "(at the input's size and aspect ratio, as translate keeps them).")
        with gr.Row():
            with gr.Column():
                upload = _image_input("image", "upload")
                if examples:
                    gr.Examples(examples, inputs=upload, label="bundled examples (digits)")
                direction = gr.Radio(["AtoB", "BtoA"], value="AtoB", label="direction", visible=two_way,
                                     elem_id="direction")
                eval_mode = gr.Checkbox(False, label="eval mode (running BatchNorm statistics, no dropout; "
                                        "unticked: as the official test)", visible=eval_option, elem_id="eval")
                button = gr.Button("Translate", variant="primary", elem_id="run")
            seen = _image_output("input, as the model sees it", "input")
            out = _image_output("output", "output")

        def translate(path: Optional[str], d: str, e: bool) -> tuple[str, str]:
            return ctx.translate(path, direction=d if two_way else None, eval_mode=bool(e and eval_option))

        button.click(translate, [upload, direction, eval_mode], [seen, out])
    return page


# ----------------------------------------------------------------------------- StarGAN
def stargan_page(ctx: Context, names: list[str], group: list[str], examples: Optional[list[str]]) -> Any:
    """One control per attribute (the exclusive group as one choice, as the paper's test grid), and the test row."""
    import gradio as gr

    others = [n for n in names if n not in group]
    with _blocks("StarGAN") as page:
        gr.Markdown("## StarGAN: change attributes\nThe same PNG as `ganlit translate --target ...` (one image) "
                    "or without `--target` (the official test row: the input, then one translation per attribute).")
        with gr.Row():
            with gr.Column():
                upload = _image_input("image", "upload")
                if examples:
                    gr.Examples(examples, inputs=upload, label="bundled examples (digits)")
                choice = gr.Radio(group, value=group[0] if group else None, label=" / ".join(group) + " (one of)",
                                  visible=bool(group), elem_id="group")
                toggles = [gr.Checkbox(False, label=n, elem_id=f"attr-{n}") for n in others]
                source = gr.CheckboxGroup(names, label="the input's own attributes (the test row flips them)",
                                          elem_id="source")
                with gr.Row():
                    button = gr.Button("Translate", variant="primary", elem_id="run")
                    row_button = gr.Button("Show the whole test row", elem_id="row")
            seen = _image_output("input, as the model sees it", "input")
        out = _image_output("output", "output", height=200)

        def target(path: Optional[str], picked: Optional[str], *flags: bool) -> tuple[str, str]:
            on = {picked} | {n for n, f in zip(others, flags) if f}
            return ctx.translate(path, target={n: float(n in on) for n in names})

        def test_row(path: Optional[str], own: list[str]) -> tuple[str, str]:
            return ctx.translate(path, source={n: 1.0 for n in own} if own else None)

        button.click(target, [upload, choice, *toggles], [seen, out])
        row_button.click(test_row, [upload, source], [seen, out])
    return page


# ----------------------------------------------------------------------------- PairedCycleGAN
def makeup_page(ctx: Context, examples: list[str]) -> Any:
    """A face and a reference face -> the reference's makeup applied; or the face's makeup removed."""
    import gradio as gr

    with _blocks("makeup") as page:
        gr.Markdown("## PairedCycleGAN: apply or remove makeup\nThe same PNG as "
                    "`ganlit translate --reference REF` / `--remove`.")
        with gr.Row():
            with gr.Column():
                face = _image_input("face", "upload")
                reference = _image_input("reference (its makeup is applied)", "reference")
                if len(examples) >= 5:  # plain 3, plain 7, style0 3, style0 7, ...: a plain face, a styled reference
                    gr.Examples([[examples[0], examples[3]], [examples[1], examples[4]]], inputs=[face, reference],
                                label="bundled examples (digits)")
                with gr.Row():
                    button = gr.Button("Apply the reference's makeup", variant="primary", elem_id="run")
                    remove = gr.Button("Remove makeup", elem_id="remove")
            seen = _image_output("face, as the model sees it", "input")
            out = _image_output("output", "output")

        def apply(path: Optional[str], ref: Optional[str]) -> tuple[str, str]:
            open_upload(ref, "reference face", ctx.limits)
            return ctx.translate(path, reference=Path(ref))

        button.click(apply, [face, reference], [seen, out])
        remove.click(lambda path: ctx.translate(path, remove=True), [face], [seen, out])
    return page


# ----------------------------------------------------------------------------- Gatys style transfer
def run_stylize(model: torch.nn.Module, workspace: Workspace, limits: Limits, content: Optional[str],
                style: Optional[str], steps: int, size: int,
                report: Optional[Callable[[int, dict[str, float]], None]] = None) -> tuple[str, list[dict[str, float]]]:
    """``ganlit stylize --content C --style S --steps N --size PX`` (seed 0) into the workspace: (PNG path, losses)."""
    from ganlit.commands.stylize import load_image, save_image

    open_upload(content, "content image", limits)
    open_upload(style, "style image", limits)
    image, losses = model.stylize(load_image(Path(content), size), [load_image(Path(style), size)], steps=steps,
                                  seed=0, callback=report)
    path = workspace.new_dir() / f"{Path(content).stem}_stylized.png"
    save_image(image, path)
    return str(path), losses


def stylize_page(args: argparse.Namespace, device: str, workspace: Workspace, limits: Limits) -> tuple[Any, str]:
    """Content, style, steps, size -> the stylised PNG (``ganlit stylize``), the loss in the progress bar."""
    import gradio as gr

    from ganlit.models.style_transfer import StyleTransfer

    if args.attrs is not None:
        raise ValueError("--attrs is for official:stargan")
    model = StyleTransfer(vgg_weights=None if args.weights is None else str(args.weights)).to(device)
    with _blocks("style transfer") as page:
        gr.Markdown("## Neural style transfer (Gatys et al. 2016)\nThe same PNG as "
                    "`ganlit stylize --content C --style S --steps N --size PX`; the bar shows the loss falling.")
        with gr.Row():
            with gr.Column():
                content = _image_input("content image", "upload")
                style = _image_input("style image", "reference")
                steps = gr.Slider(1, 500, value=100, step=1, label="steps", elem_id="steps")
                size = gr.Slider(32, 512, value=256, step=32, label="longer side (px)", elem_id="size")
                button = gr.Button("Stylize", variant="primary", elem_id="run")
            out = _image_output("output", "output")
        losses_box = gr.Textbox(label="loss (first -> last)", interactive=False, elem_id="loss")

        def stylize(c: Optional[str], s: Optional[str], n: float, px: float,
                    progress: gr.Progress = gr.Progress()) -> tuple[str, str]:
            def report(evaluation: int, losses: dict[str, float]) -> None:
                progress((min(evaluation, int(n)), int(n)), desc=f"loss {losses['total']:.4g}")

            path, losses = run_stylize(model, workspace, limits, c, s, int(n), int(px), report)
            return path, f"{losses[0]['total']:.4g} -> {losses[-1]['total']:.4g} ({len(losses)} evaluations)"

        button.click(stylize, [content, style, steps, size], [out, losses_box])
    return page, "Gatys style transfer"
