"""Learning check (issue 6, item 6): StarGAN on the digits attributes world (red/green/blue exclusive, thick,
inverted) at 32 px with the paper's losses (WGAN-GP, attribute BCE, reconstruction). For a CPU budget the nets are
small (G conv_dim 16 with 2 residual blocks, D 16 wide with 4 strided convs) and D and G alternate 1:1 at lr 1e-3
with lambda_rec 100; 10 epochs = 930 iterations of batch 16, 2.5 to 4.5 min of CPU time on one thread.

Every test digit (297, each rendered with random attributes) is translated to each of the 5 label sets of the
official test grid (one colour on and the others off, or thick / inverted flipped): 1,485 translations.

* Attributes: >= 90% of the translations show every attribute of their target (``stroke_colour``,
  ``is_thick``, ``is_inverted``), and >= 90% for each check alone.
* Reconstruction: mean |x - G(G(x, c_k), c_org)| over the 5 label sets is below 0.15. Untrained it is 0.85; a
  reconstruction that only got each image's background colour right scores 0.29 on the same digits.
* Class: the translations on the better side of the polarity split (below) keep the class of their digit
  (``digit_judge``, whose ceiling on the true renders is 0.97) >= 90% of the time. Same configuration, other
  seeds, 930 iterations: seed 1 keeps 0.935 on the polarity-kept side, seeds 2 and 3 keep 0.916 and 0.946 on the
  flipped side (and 0.03 and 0.01 on the other).

What the paper's method reaches here, with the official code as the reference. The official StarGAN code
(yunjey/stargan) was trained on the same digits attributes world with this test's settings (32 px, small nets,
lr 1e-3, n_critic 1, lambda_rec 100, 930 iterations, one thread) and measured with this file's ``measure``:

| seed | 0 | 1 | 2 | 3 | 4 | 5 |
|---|---|---|---|---|---|---|
| official: class kept overall | 0.189 | 0.193 | 0.749 | 0.195 | 0.191 | 0.625 |
| official: better polarity side | 0.939 | 0.949 | 0.935 | 0.963 | 0.943 | 0.780 |
| ganlit: class kept overall | 0.756 | 0.747 | 0.207 | 0.195 | 0.194 | 0.733 |
| ganlit: better polarity side | 0.944 | 0.933 | 0.916 | 0.946 | 0.963 | 0.916 |

Attributes shown 0.95-0.99 and reconstruction 0.05-0.07 for both. The official code splits by polarity exactly
as ganlit does, so an overall bound of 90% is out of reach for StarGAN's own objective on this world, and ganlit
is not the cause; the test asserts the better side (>= 0.9), which the paper's method reaches. (Earlier versions
of this file held the overall bound as a strict xfail.)

Measured (seed 0, digits judge v6, one thread and the suite's AVX2 kernels on the 2-core machine,
``pytest -n 0 -s`` prints the line): 930 iterations in 129 s of CPU time; kept 0.193 overall, 0.003 for the
translations that keep the background polarity and 0.953 for those that flip it; attributes shown 0.969 (colour
1.000, thick 0.969, inverted 1.000); reconstruction 0.050. On AVX-512 kernels the same seed gave 0.828 on the better
side (0.171 overall): the trajectory depends on the kernels' rounding. (With earlier code, before the gradient
penalty took the official arithmetic for its norm, a last-bits change that alters the trajectory from the first
iterations on (G differs by 7e-3 after 5 iterations), seed 0 gave 0.756 overall, 0.944 / 0.003; the ganlit rows of
the table above, the other seeds of the Class bullet and the seed and configuration findings below were measured
with that code.)

Why the class is not kept everywhere. G's translations split by polarity: those that keep the background and
those that flip it (the inversion set). One side translates the shape; the other settles, within the first few
hundred iterations, on a code: a garbled shape that the judge reads as a wrong class, consistently per class,
and that G decodes on the way back (reconstruction 0.05). Which side gets the code depends on the seed and the
configuration (same config: seeds 0 and 1 keep the shape when the polarity is kept, seeds 2 and 3 when it flips;
with seed 0, lambda_rec 10 or 30, 6 residual blocks, a 64-wide D, batch 64 and n_critic 5 all put the code on the
kept side).
The paper's objective has nothing that pins G(x, c) to x: with one G for all domains, the cycle through the
image's own label asks only that G(., c) be an involution, and a code is one. Evidence: in a world without the
inversion attribute (colour and thick only, seeds 0 and 2) every translation is coded (kept 0.00-0.01), including
G(x, c_org) itself (kept 0.000, |G(x, c_org) - x| 0.18, while |G(G(x, c_org), c_org) - x| is 0.034). The small
WGAN critic barely tells the codes from real digits (mean score 2.38 against 2.72 for real images and 2.56-2.79
for the shape-keeping translations). Placing the digits off-centre (so a rotation would be visible) did not help.
With lambda_rec 10 (the paper's) the early phase is worse: G collapses to a few prototypes per domain (kept ~0.1)
and hides the digit in low-amplitude patterns before one side recovers.

History (all at 32 px unless said): with the earlier 7x7 (32 px) "thick" dilation, which filled the loops of
0, 6, 8, 9, even the colour and thickness changes were coded in most runs (best overall 0.69 at 2,790
iterations, seed 0); a run with the paper's weights and cadence (lambda_rec 10, n_critic 5, lr 1e-4) for 37,200
iterations (56 min) settled at kept 0.19 with the same split. At 16 px (judge ceiling 0.96) the runs either
stayed at prototypes (lambda_rec 100, n_critic 5, a faster D) or split the same way (lambda_rec 10).
"""

from __future__ import annotations

import time

import lightning as L
import pytest
import torch

from ganlit.data.digits import ATTRS, DigitsDataModule, digit_judge, is_inverted, is_thick, stroke_colour
from ganlit.models.stargan import StarGAN

pytestmark = pytest.mark.slow

SIZE = 32
SMALL = dict(image_size=SIZE, conv_dim=16, repeat_num=2, d_conv_dim=16, d_repeat_num=4, lr_g=1e-3, lr_d=1e-3,
             n_critic=1, lambda_rec=100.0)
EPOCHS, BATCH_SIZE = 10, 16
REC_BOUND = 0.15


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
    kept, colour, thick, inverted, rec, flips = [], [], [], [], [], []
    for target in model.test_labels(c_org):
        fake = model.translate(x, target=target)
        kept.append(judge.predict(fake) == digit)
        flips.append(target[:, 4] != c_org[:, 4])
        colour.append(torch.tensor([s == ATTRS[int(k)] for s, k in zip(stroke_colour(fake), target[:, :3].argmax(1))]))
        thick.append(is_thick(fake) == target[:, 3].bool())
        inverted.append(is_inverted(fake) == target[:, 4].bool())
        rec.append((model.translate(fake, target=c_org) - x).abs().mean())
    rate = lambda checks: torch.cat(checks).float().mean().item()  # noqa: E731
    shown = [c & t & i for c, t, i in zip(colour, thick, inverted)]
    kept_all, flip = torch.cat(kept), torch.cat(flips)
    return {"kept": rate(kept), "kept_polarity_kept": kept_all[~flip].float().mean().item(),
            "kept_polarity_flipped": kept_all[flip].float().mean().item(), "shown": rate(shown),
            "colour": rate(colour), "thick": rate(thick), "inverted": rate(inverted),
            "rec_l1": torch.stack(rec).mean().item()}


@pytest.fixture(scope="module")
def result(one_thread) -> dict[str, float]:
    L.seed_everything(0)
    data = DigitsDataModule(task="attributes", image_size=SIZE, batch_size=BATCH_SIZE)
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


def test_translations_show_every_requested_attribute(result):
    assert result["shown"] >= 0.9, result
    for check in ("colour", "thick", "inverted"):
        assert result[check] >= 0.9, (check, result)


def test_reconstruction_falls_below_the_bound(result):
    assert result["untrained_rec_l1"] > 0.6, result  # the bound means something only against an untrained G
    assert result["rec_l1"] < REC_BOUND, result


def test_one_polarity_group_keeps_the_digit_class(result):
    """What G does reach: the translations on one side of the polarity split keep the digit (which side depends
    on the seed; see the docstring). Untrained, or collapsed to prototypes, both sides are near chance (0.1)."""
    assert max(result["kept_polarity_kept"], result["kept_polarity_flipped"]) >= 0.9, result
