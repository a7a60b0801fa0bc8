"""Learning check (issue 6, item 6): StarGAN on the digits attributes world (red/green/blue exclusive, thick,
inverted), 16 px, the paper's losses, cadence (5 D steps per G step) and Adam betas; small nets, lr 5e-4.

Every test digit (297, each rendered with random attributes) is translated to each of the 5 label sets of the
official test grid (one colour on and the others off, or thick / inverted flipped): 1,485 translations.

* Attributes: >= 90% of the translations show every attribute of their target (``stroke_colour``,
  ``is_thick``, ``is_inverted``), and >= 90% for each check alone.
* Reconstruction: mean |x - G(G(x, c_k), c_org)| over the 5 label sets is below 0.25. Untrained it is 0.82;
  a reconstruction that only got each image's background colour right scores 0.375 (measured on the same
  test digits), so 0.25 requires the strokes to come back.
* Class: >= 90% of the translations keep the class of their digit (``digit_judge``). NOT reached: marked
  xfail(strict). Rendering the true target domains scores 0.94 at 16 px (the judge's own ceiling). In every
  configuration tried within the budget, the translations keep the class at chance level (~0.10) while
  showing the attributes 100% of the time: G learns per-domain prototypes and hides the digit in
  low-amplitude patterns that the reconstruction decodes (the "steganography" of cycle losses). Tried:
  lr 1e-4 / 2e-4 / 5e-4, n_critic 5 and 1, up to 3,000 iterations (n_critic 1), conv_dim 16 / 32, 1-2
  residual blocks, D with 2-4 strided convs and a lower D lr, batch 16 / 32, 32 px (800 iterations), and as
  diagnostics lambda_rec 1, a 5x adversarial weight, no classification loss, targets that never change
  thickness: all ~0.10. Even a *supervised* G of this architecture (L1 to the true target render) keeps only
  0.55-0.66 of the classes after 600 iterations, so the bound is out of reach of a ~120 s CPU run with the
  StarGAN generator at 16 px.

  Later measurements (same judge): rendering the true targets scores 0.94 at 16 px but 0.97 at 32 px, and a
  supervised G at 32 px (conv_dim 16, 2 blocks, lr 1e-3) keeps 0.956 after 1,000 iterations, so 32 px is where
  the bound is reachable. The GAN at 32 px (1,860 iterations, 20 epochs of batch 16, D with 4 strided convs):
  paper weights, lr 2e-4: kept 0.09, attributes 1.00, rec 0.17; conv_dim 32, 4 blocks, lr 1e-4: kept 0.07 at
  epoch 16; lambda_rec 100: kept 0.25, attributes 0.95, rec 0.19; lambda_rec 100 with n_critic 1 and a 3-conv D:
  kept 0.43 at 20 epochs and about 0.5 from 28 to 40 epochs (3,720 iterations, 11.6 min), attributes 0.60-0.70,
  rec 0.05. The translations are blurred digits of the right colours,
  i.e. D has not yet forced realism; a longer (GPU) run is the next thing to try.

  Per label set (2026-11-27, 32 px, conv_dim 16, 2 blocks, D 4 strided convs, n_critic 1, lr 1e-3,
  lambda_rec 100; the best so far: kept 0.57 at 1,116 iterations, 0.65 at 1,395, 0.67-0.69 from 1,674 to
  2,790). With seed 0 the colour and thick translations keep 0.65-0.75 and the inversion flip keeps 0.000.
  With seeds 1 and 2, and with seed 0 and a wider D (d_conv_dim 32), no residual blocks (repeat_num 0) or
  half the width (conv_dim 8), it is the other way round: inversion flips keep 0.91-0.93 and the four
  other sets 0.00-0.01 (overall 0.18-0.19). The failing translations are garbled shapes, not digits, which
  the judge reads as a wrong class consistently per class (e.g. 0 -> 1, 1 -> 9, 2 -> 7) and which G decodes
  back (reconstruction 0.05-0.07). G's translations fall into two groups, those that flip the polarity and
  those that keep it, and each group settles early in training on its own code: the identity of the shape,
  or a scramble. At lambda_rec 100 the adversarial term (weight 1) does not turn the scrambles back into
  digits within these runs. Other weights at 32 px: lambda_rec 30 kept 0.19, lambda_rec 300 kept 0.46 with
  attributes 0.76, n_critic 5 with lambda_rec 100 kept 0.14 at 1,395 iterations.

  A long run with the paper's weights and cadence (lambda_rec 10, lambda_cls 1, n_critic 5, lr 1e-4; the small
  nets above at 32 px): 37,200 iterations (7,440 G steps, 56 min of CPU), kept 0.09 up to 9,300 iterations,
  then 0.15-0.19 to the end; attributes 1.000, reconstruction 0.055. Per set at the end: inversion flip 0.916,
  the four others 0.003-0.013. The split is where the paper's objective settles on this world, not only a
  matter of budget.

Measured on the 2-core machine (one thread, digits judge v5): 15 epochs = 1,395 iterations (279 G steps),
46 s of training; attributes shown 1.000 (colour, thick, inverted 1.000 each), reconstruction L1 0.153
(untrained 0.821), class kept 0.092 (untrained 0.100).
``pytest -s`` prints the line.
"""

from __future__ import annotations

import time

import lightning as L
import pytest
import torch

from ganlit.data.digits import ATTRS, DigitsDataModule, digit_judge, is_inverted, is_thick, stroke_colour
from ganlit.models.stargan import StarGAN

pytestmark = pytest.mark.slow

SMALL = dict(image_size=16, conv_dim=16, repeat_num=2, d_conv_dim=16, d_repeat_num=3, lr_g=5e-4, lr_d=5e-4)
EPOCHS, BATCH_SIZE = 15, 16
REC_BOUND = 0.25


def build() -> StarGAN:
    return StarGAN(num_attrs=len(ATTRS), attr_names=list(ATTRS), exclusive_attrs=["red", "green", "blue"], **SMALL)


def digits_of(data: DigitsDataModule) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    with torch.random.fork_rng():
        torch.manual_seed(0)  # the attributes each test digit is rendered with
        items = [data.test_set[i] for i in range(len(data.test_set))]
    stack = lambda key: torch.stack([torch.as_tensor(it[key]) for it in items])  # noqa: E731
    return stack("image"), stack("label"), stack("digit")


@torch.no_grad()
def measure(model: StarGAN, x: torch.Tensor, c_org: torch.Tensor, digit: torch.Tensor) -> dict[str, float]:
    judge = digit_judge()
    kept, colour, thick, inverted, rec = [], [], [], [], []
    for target in model.test_labels(c_org):
        fake = model.translate(x, target=target)
        kept.append(judge.predict(fake) == digit)
        colour.append(torch.tensor([s == ATTRS[int(k)] for s, k in zip(stroke_colour(fake), target[:, :3].argmax(1))]))
        thick.append(is_thick(fake) == target[:, 3].bool())
        inverted.append(is_inverted(fake) == target[:, 4].bool())
        rec.append((model.translate(fake, target=c_org) - x).abs().mean())
    rate = lambda checks: torch.cat(checks).float().mean().item()  # noqa: E731
    shown = [c & t & i for c, t, i in zip(colour, thick, inverted)]
    return {"kept": rate(kept), "shown": rate(shown), "colour": rate(colour), "thick": rate(thick),
            "inverted": rate(inverted), "rec_l1": torch.stack(rec).mean().item()}


@pytest.fixture(scope="module")
def result() -> dict[str, float]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small convs gain little from a second thread; on a shared machine they stall
    try:
        L.seed_everything(0)
        data = DigitsDataModule(task="attributes", image_size=16, batch_size=BATCH_SIZE)
        data.setup("fit")
        x, c_org, digit = digits_of(data)
        model = build()
        untrained = measure(model, x, c_org, digit)
        trainer = L.Trainer(max_epochs=EPOCHS, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
        wall, cpu = time.perf_counter(), time.process_time()
        trainer.fit(model, data)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        out = measure(model, x, c_org, digit)
        out.update(untrained_rec_l1=untrained["rec_l1"], untrained_kept=untrained["kept"])
        print(f"\nStarGAN digits: {int(model.iteration)} iterations, {wall:.0f} s wall / {cpu:.0f} s CPU; "
              + ", ".join(f"{k} {v:.3f}" for k, v in out.items() if isinstance(v, float)))
        return out
    finally:
        torch.set_num_threads(threads)


def test_translations_show_every_requested_attribute(result):
    assert result["shown"] >= 0.9, result
    for check in ("colour", "thick", "inverted"):
        assert result[check] >= 0.9, (check, result)


def test_reconstruction_falls_below_the_bound(result):
    assert result["untrained_rec_l1"] > 0.6, result  # the bound means something only against an untrained G
    assert result["rec_l1"] < REC_BOUND, result


@pytest.mark.xfail(strict=True, reason="not reached in the CPU budget: class kept ~0.10 (chance); see the docstring")
def test_translations_keep_the_digit_class(result):
    assert result["kept"] >= 0.9, result
