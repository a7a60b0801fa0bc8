"""What the pages of ``ganlit demo`` share. Every result comes from the code of ``ganlit translate``/``sample``/
``stylize`` (``make_translator`` with typed options, ``write_samples``, ``StyleTransfer.stylize``) on the model
``ganlit.load`` gave: page and command agree pixel for pixel.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from PIL import Image

from ganlit.commands.translators import InputError, TranslateOptions, Translator, make_translator

TITLE = "ganlit demo"


@dataclass
class Limits:
    """Caps on what a visitor may send (the upload size itself is capped by Gradio's ``max_file_size``)."""

    max_pixels: int = 40_000_000


class Workspace:
    """Numbered result folders inside the demo's temporary folder: nothing is written anywhere else."""

    def __init__(self, root: Path) -> None:
        self.root, self._n = root, itertools.count()

    def new_dir(self) -> Path:
        path = self.root / "results" / f"{next(self._n):05d}"
        path.mkdir(parents=True)
        return path


def _gr():
    import gradio as gr

    return gr


def open_upload(path: Optional[str], what: str, limits: Limits) -> Image.Image:
    """The uploaded file as a PIL image; anything else becomes a message in the page (``gr.Error``)."""
    from ganlit.commands.translators import open_image

    gr = _gr()
    if not path:
        raise gr.Error(f"Upload the {what} first (PNG, JPEG, ...).")
    name = Path(path).name
    try:
        with Image.open(path) as image:  # reads the header only: the size is checked before decoding
            width, height = image.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise gr.Error(f"{name} is not an image this demo can read (expected PNG, JPEG, BMP, WebP, ...).") from None
    if width * height > limits.max_pixels:
        raise gr.Error(f"{name} is {width}x{height} = {width * height:,} pixels; this demo accepts at most "
                       f"{limits.max_pixels:,} (ganlit demo --max-pixels).")
    try:
        return open_image(Path(path))
    except InputError:
        raise gr.Error(f"{name} could not be decoded as an image.") from None


def run_translator(translator: Translator, image: Image.Image, device: str) -> tuple[np.ndarray, np.ndarray]:
    """One image through ``ganlit translate``'s steps: (what the model sees, its output) as uint8 arrays."""
    x = translator.preprocess(image)[None].to(device)
    with torch.no_grad():
        y = translator.run(x)
    out = np.asarray(translator.output_picture(y[0], tuple(x.shape[-2:]), image.size))  # as translate writes it
    return translator.to_uint8(x[0]), out


class Context:
    """What every page needs: the model (loaded once by ``ganlit.load``), where to write, the caps on uploads."""

    def __init__(self, model: torch.nn.Module, source: str, device: str, workspace: Workspace, limits: Limits) -> None:
        self.model, self.source, self.device, self.workspace, self.limits = model, source, device, workspace, limits

    def translator(self, options: TranslateOptions) -> Translator:
        """``ganlit translate``'s translator of the model for ``options``."""
        return make_translator(self.model, options, self.device, self.source)

    def translate(self, path: Optional[str], **options: object) -> tuple[str, str]:
        """Translate an upload with the :class:`TranslateOptions` ``options``; return the PNGs (input as the model
        sees it, output), named as translate names them."""
        image = open_upload(path, "image", self.limits)
        try:
            seen, out = run_translator(self.translator(TranslateOptions(**options)), image, self.device)
        except (InputError, ValueError, TypeError) as err:
            raise _gr().Error(str(err)) from None
        folder = self.workspace.new_dir()
        stem = Path(path).stem
        Image.fromarray(seen).save(folder / f"{stem}_input.png")
        Image.fromarray(out).save(folder / f"{stem}.png")
        return str(folder / f"{stem}_input.png"), str(folder / f"{stem}.png")


def digit_examples(folder: Path, domains: list[str], size: int = 32, classes: tuple[int, ...] = (3, 7)) -> list[str]:
    """Test-split digits of ``classes`` in ``domains`` (PNG files in ``folder``): the page's bundled examples."""
    from ganlit.data.digits import load_ink, render_domain, split_indices

    ink, labels = load_ink(size)
    _, test = split_indices(len(labels))
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for domain in domains:
        for c in classes:
            i = next(int(i) for i in test if int(labels[int(i)]) == c)
            rgb = render_domain(ink[i][None], domain)[0]
            array = rgb.mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
            path = folder / f"digit{c}_{domain}.png"
            Image.fromarray(array).save(path)
            paths.append(str(path))
    return paths
