"""The digits worlds: real handwritten digits (scikit-learn's 1,797 8x8 scans) and domains derived from them.

Every paper in ganlit gets a task here that it can learn on two CPU cores in minutes, with no download:

=====================  ==============================================================
task                   batch
=====================  ==============================================================
``generate``           ``image`` (grey digit), ``label`` (its class)
``paired``             ``A`` (``source`` domain), ``B`` (``target`` domain), ``label``
``unpaired``           ``A`` / ``B`` from two disjoint halves of the digits, ``A_label``, ``B_label``
``attributes``         ``image`` with colour (exactly one of red/green/blue), thick, inverted;
                       ``label`` float [5] over ``ATTRS``; ``digit``
``makeup``             ``x`` plain digit, ``y`` a digit wearing one of ``STYLES``,
                       ``x_regions``/``y_regions`` [3, H, W] (stroke, background, empty), ``x_label``, ``style``
=====================  ==============================================================

Images are in [-1, 1]. The judges (:class:`DigitJudge` for the class, :func:`stroke_colour`,
:func:`is_inverted`, :func:`is_thick`, :func:`style_of`) are what the learning checks measure with.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from ganlit.data.base import GANDataModule

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


def _erode(ink: Tensor, k: int) -> Tensor:
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
        ink = (ink - _erode(ink, 3)).clamp(0, 1)
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
        mask = _erode(mask, 3)
    return total / area


def is_thick(x: Tensor) -> Tensor:
    """Thick strokes (the ``thick`` domain): mean depth above 1.6 px at 16 px, 2.6 px at 32 px (calibrated on the
    digits: 99.7-100% of thick renders above, 0.7% of plain ones)."""
    return thickness(x) > 0.6 + x.shape[-1] / 16


def stripe_direction(x: Tensor) -> list[str]:
    """``horizontal``, ``vertical``, ``checker`` or ``none``: where the stroke intensity oscillates."""
    ink = ink_of(x)
    mask = (_erode((ink > 0.2).float(), 3) > 0).float()
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
        was = self.training
        self.eval()
        out = self(x).argmax(1)
        self.train(was)
        return out


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


def cache_dir() -> Path:
    return Path(os.environ.get("GANLIT_CACHE", Path.home() / ".cache" / "ganlit"))


_JUDGE: Optional[DigitJudge] = None
# v5: the initial weights are seeded too, so every machine trains the same judge whatever ran before.
# v6: thick strokes are a 3x3 (16 px) / 5x5 (32 px) dilation instead of 5x5 / 7x7; trained on one thread.
JUDGE_VERSION = 6


def digit_judge(epochs: int = 20) -> DigitJudge:
    """The class judge, trained once on the training digits (rendered at 16 and 32 px) and cached on disk."""
    global _JUDGE
    if _JUDGE is not None:
        return _JUDGE
    path = cache_dir() / f"digit_judge_v{JUDGE_VERSION}.pt"
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
        judge.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    else:
        _train_judge(judge, epochs)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save(judge.state_dict(), tmp)
        os.replace(tmp, path)
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


# ----------------------------------------------------------------------------- datasets
class DigitsDataset(Dataset):
    """One task of the digits world over a subset of the digits (see the module docstring)."""

    def __init__(self, task: str, ink: Tensor, labels: Tensor, source: Domain = "outline", target: Domain = "plain",
                 domain_a: Domain = "plain", domain_b: Domain = "red", channels: int = 1, seed: int = 0) -> None:
        self.task, self.ink, self.labels = task, ink, labels
        self.source, self.target, self.domain_a, self.domain_b = source, target, domain_a, domain_b
        self.channels, self.seed = channels, seed
        half = len(labels) // 2
        self.a_index, self.b_index = torch.arange(half), torch.arange(half, len(labels))

    def __len__(self) -> int:
        return len(self.a_index) if self.task == "unpaired" else len(self.labels)

    def _rng(self, index: int) -> torch.Generator:
        # Random choices depend on the index and on torch's per-worker/per-epoch seed.
        return torch.Generator().manual_seed(int(torch.randint(0, 2**31, (1,)).item()) ^ index)

    def __getitem__(self, index: int) -> dict:
        ink, label = self.ink[index:index + 1], self.labels[index]
        if self.task == "generate":
            image = render(ink)[:, : self.channels] if self.channels == 1 else render(ink)
            return {"image": to_model(image)[0], "label": label}
        if self.task == "paired":
            return {"A": to_model(render_domain(ink, self.source))[0],
                    "B": to_model(render_domain(ink, self.target))[0], "label": label}
        if self.task == "unpaired":
            a = int(self.a_index[index])
            b = int(self.b_index[torch.randint(len(self.b_index), (1,)).item()])
            return {"A": to_model(render_domain(self.ink[a:a + 1], self.domain_a))[0],
                    "B": to_model(render_domain(self.ink[b:b + 1], self.domain_b))[0],
                    "A_label": self.labels[a], "B_label": self.labels[b]}
        if self.task == "attributes":
            g = self._rng(index)
            colour = int(torch.randint(3, (1,), generator=g))
            thick, inverted = torch.rand(2, generator=g).lt(0.5).tolist()
            image = render(ink, colour=ATTRS[colour], thick=thick, inverted=inverted)
            attrs = torch.zeros(len(ATTRS))
            attrs[colour], attrs[3], attrs[4] = 1.0, float(thick), float(inverted)
            return {"image": to_model(image)[0], "label": attrs, "digit": label}
        if self.task == "makeup":
            g = self._rng(index)
            j = int(torch.randint(len(self.labels), (1,), generator=g))
            style = int(torch.randint(len(STYLES), (1,), generator=g))
            ref = self.ink[j:j + 1]
            return {"x": to_model(render(ink))[0], "y": to_model(render(ref, style=style))[0],
                    "x_regions": _regions(ink)[0], "y_regions": _regions(ref)[0],
                    "x_label": label, "style": torch.tensor(style)}
        raise ValueError(f"digits task {self.task!r}: expected generate, paired, unpaired, attributes or makeup")


def _regions(ink: Tensor) -> Tensor:
    stroke = (ink > 0.3).float()
    return torch.cat([stroke, 1.0 - stroke, torch.zeros_like(stroke)], dim=1)


class DigitsDataModule(GANDataModule):
    """scikit-learn's real handwritten digits as a small world for every ganlit paper (no download).

    Args:
        task: ``generate`` (GAN, CGAN), ``paired`` (pix2pix, PAN), ``unpaired`` (CycleGAN, DiscoGAN),
            ``attributes`` (StarGAN) or ``makeup`` (PairedCycleGAN).
        image_size: 16 or 32 (the class judge works at both; the makeup styles need 32).
        source, target: the domains of a paired task (default outline -> plain).
        domain_a, domain_b: the domains of an unpaired task (default plain <-> red).
        channels: 1 (grey) or 3 for the ``generate`` task; the other tasks are RGB.
    """

    def __init__(
        self,
        task: Literal["generate", "paired", "unpaired", "attributes", "makeup"] = "generate",
        batch_size: int = 64,
        num_workers: int = 0,
        image_size: int = 32,
        source: str = "outline",
        target: str = "plain",
        domain_a: str = "plain",
        domain_b: str = "red",
        channels: int = 1,
        seed: int = 0,
        root: str = "data",
        download: bool = False,
    ) -> None:
        super().__init__(root=root, batch_size=batch_size, num_workers=num_workers, image_size=image_size,
                         download=download, seed=seed)
        for d in {source, target, domain_a, domain_b}:
            render_domain(torch.zeros(1, 1, 8, 8), d)  # fail at construction on an unknown domain
        self.task, self.source, self.target = task, source, target
        self.domain_a, self.domain_b = domain_a, domain_b
        self.channels = channels if task == "generate" else 3
        self.num_classes = 10
        self.attr_names = list(ATTRS)
        self.num_attrs = len(ATTRS)

    def setup(self, stage: Optional[str] = None) -> None:
        if self.train_set is not None:
            return
        ink, labels = load_ink(self.image_size)
        train, test = split_indices(len(labels))
        kw = dict(task=self.task, source=self.source, target=self.target, domain_a=self.domain_a,
                  domain_b=self.domain_b, channels=self.channels, seed=self.seed)
        self.train_set = DigitsDataset(ink=ink[train], labels=labels[train], **kw)
        self.test_set = DigitsDataset(ink=ink[test], labels=labels[test], **kw)
        self.val_set = self.test_set
