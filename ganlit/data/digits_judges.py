"""What the digits learning checks measure with: domain checks computed from the pixels (background, stroke
colour, thickness, stripes, makeup style) and the class judge, a small CNN trained once and cached on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlit.cache import cache_root, save_atomic
from ganlit.data.digits_render import (
    STYLES,
    Domain,
    erode,
    from_model,
    load_ink,
    random_domains,
    split_indices,
    to_model,
)
from ganlit.utils.modes import evaluating
from ganlit.utils.safeload import read_weights


# ----------------------------------------------------------------------------- measurable domain checks
def background(x: Tensor) -> Tensor:
    """Per-image background colour [N, 3]: the median of the border pixels (input in [-1, 1])."""
    rgb = from_model(x)
    border = torch.cat([rgb[:, :, 0], rgb[:, :, -1], rgb[:, :, :, 0], rgb[:, :, :, -1]], dim=2)
    return border.median(dim=2).values


def is_inverted(x: Tensor) -> Tensor:
    """True where the background is light (input in [-1, 1])."""
    return background(x).mean(1) > 0.5


def ink_of(x: Tensor) -> Tensor:
    """Ink strength [N, 1, S, S] in [0, 1]: the distance of each pixel from the background colour."""
    rgb = from_model(x)
    return (rgb - background(x)[:, :, None, None]).abs().amax(1, keepdim=True).clamp(0, 1)


def stroke_colour(x: Tensor) -> list[str]:
    """The stroke colour of each image: ``white`` or the dominant channel's name (input in [-1, 1])."""
    rgb, ink = from_model(x), ink_of(x)
    weight = (ink > 0.4).float()
    inverted = is_inverted(x)
    # On a white background a coloured stroke keeps its own channel and loses the two others.
    # On a white background a coloured stroke darkens the two other channels: its own is the one left bright.
    signal = torch.where(inverted[:, None, None, None], 1.0 - rgb, rgb)
    mean = (signal * weight).sum((2, 3)) / weight.sum((2, 3)).clamp_min(1.0)
    names = []
    for m, inv in zip(mean, inverted.tolist()):
        hi, lo = m.max().item(), m.min().item()
        if hi - lo < 0.3 * max(hi, 1e-6):
            names.append("white")
        else:
            names.append(["red", "green", "blue"][int(m.argmin() if inv else m.argmax())])
    return names


def thickness(x: Tensor) -> Tensor:
    """Mean depth of the stroke pixels: how many 3x3 erosions each survives (about half the stroke width)."""
    mask = (ink_of(x) > 0.3).float()
    area = mask.sum((1, 2, 3)).clamp_min(1.0)
    total = torch.zeros(x.size(0), device=x.device)
    for _ in range(x.shape[-1] // 2):
        total = total + mask.sum((1, 2, 3))
        mask = erode(mask, 3)
    return total / area


def is_thick(x: Tensor) -> Tensor:
    """Thick strokes (the ``thick`` domain): mean depth above 1.6 px at 16 px, 2.6 px at 32 px (calibrated on the
    digits: 99.7-100% of thick renders above, 0.7% of plain ones)."""
    return thickness(x) > 0.6 + x.shape[-1] / 16


def stripe_direction(x: Tensor) -> list[str]:
    """``horizontal``, ``vertical``, ``checker`` or ``none``: where the stroke intensity oscillates."""
    ink = ink_of(x)
    mask = (erode((ink > 0.2).float(), 3) > 0).float()
    dy = ((ink[:, :, 1:] - ink[:, :, :-1]).abs() * mask[:, :, 1:] * mask[:, :, :-1]).sum((1, 2, 3))
    dx = ((ink[..., 1:] - ink[..., :-1]).abs() * mask[..., 1:] * mask[..., :-1]).sum((1, 2, 3))
    area = mask.sum((1, 2, 3)).clamp_min(1.0)
    dy, dx = dy / area, dx / area
    out = []
    for a, b in zip(dy.tolist(), dx.tolist()):
        # Calibrated on the test digits at 32 px: solid strokes stay below 0.115 both ways.
        if max(a, b) < 0.115:
            out.append("none")
        elif min(a, b) > 0.09:
            out.append("checker")
        else:
            out.append("horizontal" if a > b else "vertical")
    return out


def style_of(x: Tensor) -> list[Optional[int]]:
    """The makeup style each image wears (index into ``STYLES``), or None for a plain digit."""
    lookup = {s: i for i, s in enumerate(STYLES)}
    return [lookup.get((c, d)) for c, d in zip(stroke_colour(x), stripe_direction(x))]


def domain_check(x: Tensor, domain: Domain) -> Tensor:
    """Bool per image: does it show ``domain``? (input in [-1, 1])."""
    colours, inverted, thick = stroke_colour(x), is_inverted(x), is_thick(x)
    if domain == "plain":
        ok = [c == "white" and not i and not t for c, i, t in zip(colours, inverted, thick)]
    elif domain == "inverted":
        ok = inverted.tolist()
    elif domain == "thick":
        ok = thick.tolist()
    elif domain in ("red", "green", "blue"):
        ok = [c == domain for c in colours]
    elif domain.startswith("style"):
        ok = [s == int(domain[5:]) for s in style_of(x)]
    else:
        raise ValueError(f"no domain check for {domain!r}")
    return torch.tensor(ok, dtype=torch.bool)


# ----------------------------------------------------------------------------- class judge
class DigitJudge(nn.Module):
    """A small CNN that tells the class of a digit in any of the digits domains (input [-1, 1], 1 or 3 channels).

    It looks at the ink map (distance from the background colour), so colour and inversion cannot fool it.
    """

    image_size = 16  # every input is reduced to 16 px (area average), so one judge serves all sizes

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
            nn.Linear(64 * 16, 128), nn.ReLU(),
        )
        self.head = nn.Linear(128, 10)

    def embed(self, x: Tensor) -> Tensor:
        """128-d features (the digits FID is computed on these)."""
        x = ink_of(x.float())
        if x.shape[-1] != self.image_size:
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="area")
        return self.features(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.embed(x))

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        with evaluating(self):
            return self(x).argmax(1)


_JUDGE: Optional[DigitJudge] = None
# v5: the initial weights are seeded too, so every machine trains the same judge whatever ran before.
# v6: thick strokes are a 3x3 (16 px) / 5x5 (32 px) dilation instead of 5x5 / 7x7; trained on one thread.
JUDGE_VERSION = 6


def digit_judge(epochs: int = 20) -> DigitJudge:
    """The class judge, trained once on the training digits (rendered at 16 and 32 px) and cached on disk."""
    global _JUDGE
    if _JUDGE is not None:
        return _JUDGE
    path = cache_root() / f"digit_judge_v{JUDGE_VERSION}.pt"
    # Callers ask for the judge inside no_grad or inference mode (metrics); building and training it needs neither.
    with torch.inference_mode(False), torch.enable_grad():
        judge = _load_or_train_judge(path, epochs)
    judge.eval().requires_grad_(False)
    _JUDGE = judge
    return judge


def _load_or_train_judge(path: Path, epochs: int) -> DigitJudge:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        judge = DigitJudge()
    if path.exists():
        judge.load_state_dict(read_weights(path))
    else:
        _train_judge(judge, epochs)
        save_atomic(judge.state_dict(), path)
    return judge


def _train_judge(judge: DigitJudge, epochs: int) -> None:
    train, _ = split_indices()
    inks = [load_ink(size)[0][train] for size in (16, 32)]
    labels = load_ink(16)[1][train]
    g = torch.Generator().manual_seed(0)
    threads = torch.get_num_threads()
    # CPU kernels sum in a thread-count-dependent order: one thread makes the judge the same in every process.
    torch.set_num_threads(1)
    try:
        # Callers may ask for the judge inside no_grad (a metric): training needs gradients whatever their mode.
        with torch.random.fork_rng():
            torch.manual_seed(0)
            opt = torch.optim.Adam(judge.parameters(), lr=2e-3)
            judge.train()
            for epoch in range(epochs):
                ink = inks[epoch % 2]
                perm = torch.randperm(len(labels), generator=g)
                for s in range(0, len(perm), 64):
                    idx = perm[s:s + 64]
                    x = to_model(random_domains(ink[idx], g))
                    # A little noise so generated (imperfect) digits are judged like real ones.
                    x = x + 0.1 * torch.randn(x.shape, generator=g)
                    loss = F.cross_entropy(judge(x), labels[idx])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
    finally:
        torch.set_num_threads(threads)
