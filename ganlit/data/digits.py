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
``makeup``             ``x`` plain digit, ``y`` a digit wearing one of ``STYLES``, ``y_on_x`` (x wearing
                       y's style: the paper's warped positive pair), ``x_regions``/``y_regions`` [3, H, W]
                       (stroke, background, empty), ``x_label``, ``style``
=====================  ==============================================================

Images are in [-1, 1]. The judges (:class:`DigitJudge` for the class, :func:`stroke_colour`,
:func:`is_inverted`, :func:`is_thick`, :func:`style_of`) are what the learning checks measure with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import torch
from torch import Tensor
from torch.utils.data import Dataset

from ganlit.data.base import GANDataModule, SampleDataset
from ganlit.data.digits_judges import (
    JUDGE_VERSION,
    DigitJudge,
    background,
    digit_judge,
    domain_check,
    ink_of,
    is_inverted,
    is_thick,
    stripe_direction,
    stroke_colour,
    style_of,
    thickness,
)
from ganlit.data.digits_render import (
    ATTRS,
    COLOURS,
    N_TEST,
    STYLES,
    Domain,
    from_model,
    load_ink,
    random_domains,
    render,
    render_domain,
    split_indices,
    stripes,
    to_model,
)

# The rendering and the judges are part of this module's API (``from ganlit.data.digits import digit_judge``).
__all__ = [
    "ATTRS", "COLOURS", "N_TEST", "STYLES", "Domain", "from_model", "load_ink", "random_domains", "render",
    "render_domain", "split_indices", "stripes", "to_model", "JUDGE_VERSION", "DigitJudge", "background",
    "digit_judge", "domain_check", "ink_of", "is_inverted", "is_thick", "stripe_direction", "stroke_colour",
    "style_of", "thickness", "DigitsDataset", "DigitsDataModule",
]


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

    def content_hash(self, root: Optional[Path] = None) -> dict[str, str]:
        """SHA-256 of the split's 8x8 digits (upsampled ink) and labels: the data is built in memory, not read."""
        from ganlit.data.identity import tensor_hash

        return tensor_hash(f"the ink and labels of its {len(self.labels)} scikit-learn digits", self.ink, self.labels)

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
                    "y_on_x": to_model(render(ink, style=style))[0],  # the exact "warp" of y's style onto x
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
        predict_samples: images ``ganlit predict`` generates for the ``generate`` task (a :class:`SampleDataset`);
            the other tasks predict on the test split.
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
        predict_samples: int = 64,
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
        if not isinstance(predict_samples, int) or predict_samples < 1:
            raise ValueError(f"data.init_args.predict_samples={predict_samples!r}: expected an integer >= 1")
        self.predict_samples = predict_samples

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
        if self.task == "generate":
            self.predict_set = SampleDataset(self.predict_samples, self.num_classes, self.seed)
