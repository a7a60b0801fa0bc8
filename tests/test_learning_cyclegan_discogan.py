"""Learning checks (issue 5, item 9): CycleGAN and DiscoGAN learn plain <-> red digits from unpaired data.

The two domains come from disjoint halves of the training digits. After a short CPU training, on the 297 test
digits rendered in each domain, at least 90% of the translations keep their class (the digit judge) and at least
90% show the target domain (``domain_check``), in both directions.
"""

from __future__ import annotations

import lightning as L
import pytest
import torch

from ganlit.data.digits import (
    DigitsDataModule,
    digit_judge,
    domain_check,
    load_ink,
    render_domain,
    split_indices,
    to_model,
)
from ganlit.models import CycleGAN, DiscoGAN

DOMAIN_A, DOMAIN_B = "plain", "red"


pytestmark = pytest.mark.usefixtures("one_thread")  # the numbers quoted are one thread's


def train(model: L.LightningModule, image_size: int, batch_size: int, epochs: int) -> None:
    data = DigitsDataModule(task="unpaired", image_size=image_size, batch_size=batch_size,
                            domain_a=DOMAIN_A, domain_b=DOMAIN_B)
    L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
              enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
              limit_val_batches=0).fit(model, data)


@torch.no_grad()
def scores(model, image_size: int) -> dict[str, tuple[float, float]]:
    """Per direction: (fraction of test digits that keep their class, fraction in the target domain)."""
    ink, labels = load_ink(image_size)
    _, test = split_indices(len(labels))
    ink, labels = ink[test], labels[test]
    judge = digit_judge()
    model.eval()
    out = {}
    for direction, source, target in (("AtoB", DOMAIN_A, DOMAIN_B), ("BtoA", DOMAIN_B, DOMAIN_A)):
        y = model.translate(to_model(render_domain(ink, source)), direction=direction)
        out[direction] = ((judge.predict(y) == labels).float().mean().item(),
                          domain_check(y, target).float().mean().item())
    return out


def assert_learned(result: dict[str, tuple[float, float]]) -> None:
    print("\n(class kept, in target domain) per direction:",
          {d: (round(k, 3), round(i, 3)) for d, (k, i) in result.items()})
    for direction, (kept, in_domain) in result.items():
        assert kept >= 0.9, f"{direction}: only {kept:.1%} of the translated digits keep their class ({result})"
        assert in_domain >= 0.9, f"{direction}: only {in_domain:.1%} land in the target domain ({result})"


@pytest.mark.slow
def test_cyclegan_translates_plain_and_red_digits_keeping_their_class():
    L.seed_everything(0)
    # The paper's losses, optimizer and pool; small networks for 16 px (a 2-layer PatchGAN: 6x6 patches); the
    # learning rate decays over the last 2 of 5 epochs, as the paper's schedule does over its last 100.
    model = CycleGAN(ngf=16, n_blocks=2, ndf=16, n_layers=2, lr_constant=3, lr_decay=2)
    train(model, image_size=16, batch_size=8, epochs=5)
    assert_learned(scores(model, 16))


@pytest.mark.slow
def test_discogan_translates_plain_and_red_digits_keeping_their_class():
    L.seed_everything(0)
    # The official losses, cadence and 64 px, small widths. DiscoGAN's generator has no skips, so only its
    # bottleneck keeps the layout: 4x4 at 64 px. At 16/32 px (1x1, 2x2) it learned a permutation of the classes
    # (e.g. 6 -> 0, 0 -> 2) and at 48 px (3x3) did so for one of four seeds; at 64 px the classes lined up within 3
    # epochs for all four seeds tried. The 10,000-iteration GAN curriculum is longer than this whole run (368
    # iterations), so the reconstruction rate is fixed, at 0.95 (0.5 and 0.8 plateaued near 92% kept; with 0.95
    # seeds 0-3 kept 93-96%); lr 1e-3, decayed over the last 3 epochs.
    model = DiscoGAN(image_size=64, ngf=16, ndf=16, normalized=True, gan_curriculum=0, default_rate=0.95,
                     lr_g=1e-3, lr_d=1e-3, lr_constant=5, lr_decay=3)
    train(model, image_size=64, batch_size=16, epochs=8)
    assert_learned(scores(model, 64))
