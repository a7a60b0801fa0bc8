"""Rendering the digits worlds: scikit-learn's real handwritten digits as ink maps, and the domains drawn from
them (colour, inversion, thickness, outline, striped makeup styles). Images in [0, 1] here; ``to_model`` maps to
the models' [-1, 1]."""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

COLOURS = {"white": (1.0, 1.0, 1.0), "red": (1.0, 0.15, 0.15), "green": (0.15, 1.0, 0.15), "blue": (0.15, 0.15, 1.0)}
ATTRS = ["red", "green", "blue", "thick", "inverted"]
# Makeup styles: a stroke colour and a stripe pattern (period 4 px at 32 px).
STYLES = [("red", "horizontal"), ("green", "vertical"), ("blue", "checker")]
Domain = str  # "plain", "outline", "inverted", "thick", a colour name, or "style<k>"
N_TEST = 297


# ----------------------------------------------------------------------------- the real digits
def load_ink(image_size: int = 32) -> tuple[Tensor, Tensor]:
    """All 1,797 digits as ink maps [N, 1, S, S] in [0, 1] (1 = stroke) and their classes [N]."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    ink = torch.from_numpy(digits.images).float().div(16.0).unsqueeze(1)
    ink = F.pad(ink, (1, 1, 1, 1))  # many scans touch their border; the background must show all around
    ink = F.interpolate(ink, size=(image_size, image_size), mode="bilinear", align_corners=False).clamp(0, 1)
    return ink, torch.from_numpy(digits.target).long()


def split_indices(n: int = 1797) -> tuple[np.ndarray, np.ndarray]:
    """The fixed train/test split: a seeded permutation, the last 297 digits are the test set."""
    perm = np.random.RandomState(0).permutation(n)
    return perm[:-N_TEST], perm[-N_TEST:]


# ----------------------------------------------------------------------------- domains
def _dilate(ink: Tensor, k: int) -> Tensor:
    return F.max_pool2d(ink, k, 1, k // 2)


def erode(ink: Tensor, k: int) -> Tensor:
    return -F.max_pool2d(-ink, k, 1, k // 2)


def stripes(kind: str, size: int) -> Tensor:
    """A {0.35, 1} stripe pattern [1, 1, S, S] with a period of size/8 pixels."""
    period = max(2, size // 8)
    idx = torch.arange(size)
    on = ((idx // (period // 2)) % 2 == 0).float()
    if kind == "horizontal":
        p = on[:, None].expand(size, size)
    elif kind == "vertical":
        p = on[None, :].expand(size, size)
    elif kind == "checker":
        p = ((on[:, None] + on[None, :]) % 2 == 0).float()
    else:
        raise ValueError(f"stripe pattern {kind!r}: expected horizontal, vertical or checker")
    return (0.35 + 0.65 * p)[None, None]


def render(ink: Tensor, colour: str = "white", inverted: bool = False, thick: bool = False,
           outline: bool = False, style: Optional[int] = None) -> Tensor:
    """Render ink maps [N, 1, S, S] as RGB images [N, 3, S, S] in [0, 1] in one domain."""
    if thick:
        # +1 px per side at 16 px, +2 at 32 px: the loops of 0, 6, 8, 9 stay open, so a thick digit still shows
        # its shape (a 7x7 dilation at 32 px filled them, and thin strokes could not be recovered from it).
        ink = _dilate(ink, 2 * (ink.shape[-1] // 16) + 1)
    if outline:
        ink = (ink - erode(ink, 3)).clamp(0, 1)
    if style is not None:
        colour, pattern = STYLES[style]
        ink = ink * stripes(pattern, ink.shape[-1]).to(ink)
    c = torch.tensor(COLOURS[colour], dtype=ink.dtype, device=ink.device)[None, :, None, None]
    if inverted:  # a white background; white strokes turn black, coloured ones keep their colour
        return 1.0 - ink * (1.0 - c if colour != "white" else torch.ones_like(c))
    return ink * c


def render_domain(ink: Tensor, domain: Domain) -> Tensor:
    """``render`` by domain name: plain, outline, inverted, thick, red/green/blue, style0..style2."""
    if domain == "plain":
        return render(ink)
    if domain in ("outline", "inverted", "thick"):
        return render(ink, **{domain: True})
    if domain in COLOURS:
        return render(ink, colour=domain)
    if domain.startswith("style") and domain[5:].isdigit() and int(domain[5:]) < len(STYLES):
        return render(ink, style=int(domain[5:]))
    raise ValueError(
        f"digits domain {domain!r}: expected plain, outline, inverted, thick, white, red, green, blue"
        f" or style0..style{len(STYLES) - 1}"
    )


def to_model(rgb: Tensor) -> Tensor:
    return rgb * 2.0 - 1.0


def from_model(x: Tensor) -> Tensor:
    x = (x.float() + 1.0) / 2.0
    return x.expand(-1, 3, -1, -1) if x.size(1) == 1 else x


def random_domains(ink: Tensor, generator: torch.Generator) -> Tensor:
    """Render each ink map in a random mix of colour, inversion, thickness, outline or style."""
    out = []
    for i in range(ink.size(0)):
        r = torch.rand(5, generator=generator).tolist()
        k = int(r[0] * 8)
        if k == 0:
            out.append(render(ink[i:i + 1], outline=True))
        elif k == 1:
            out.append(render(ink[i:i + 1], style=int(r[1] * len(STYLES))))
        else:
            colour = list(COLOURS)[int(r[1] * len(COLOURS))]
            out.append(render(ink[i:i + 1], colour=colour, inverted=r[2] < 0.4, thick=r[3] < 0.4))
    return torch.cat(out)
