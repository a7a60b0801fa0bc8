"""Learning check: PairedCycleGAN applies a reference digit's style (colour + stripes) and removes it again.

Digits world at 32 px (the style checks need 32 px): x plain digits ("no makeup"), y digits wearing one of three
styles ("makeup"), regions (stroke, background, empty) in place of (lips, skin, eyes). After a short CPU training,
on the TEST digits: G(x, ref) keeps x's class (digit judge) and wears ref's style (style_of) >= 90% of the time,
and F(y) is judged plain >= 90% of the time.

The reference's style used to be the fragile part. The style cycle L_S = |G(F(y), G(x, y)) - y| is satisfied as well
by a generator that swaps two styles (a swap undone by a second swap), and histogram matching, the positive pair of
D_S where a dataset has no warp of y onto x, carries the colour but not the stripes: which way a run went depended
on float rounding. Same commit, same seed 2, one thread, AVX2 kernels: 0.95/1.00/1.00 on the machine that first
measured it, 0.980/0.327/0.997 on an AMD EPYC (red and blue swapped), identical alone and under pytest-xdist, so
the CPU's kernels decided, not the load; raising the D_S weight fixed the colours and erased the stripes
(1.5: style 0.03, 2.0: 0.01, 3.0: 0.01). The digits world now gives the paper's own positive, y's style on x's digit
(batch key ``y_on_x``), and every seed learns both (class kept / style worn / removal plain, AMD EPYC, measured
outside pytest with this file's settings): over 6 epochs, seed 0: 0.980/0.993/0.993, seed 1: 0.983/0.997/0.997,
seed 2: 0.980/0.993/0.993, seed 3: 0.983/1.000/0.990, seed 4: 0.976/0.993/0.993; over the 4 epochs used here
(half the time), seed 0: 0.946/0.973/0.997, seed 2: 0.946/0.980/0.993 (0.943/0.980/0.993 through pytest, 114 s).
"""

from __future__ import annotations

import time

import lightning as L
import pytest
import torch

from ganlit.data.digits import DigitsDataModule, digit_judge, domain_check, style_of
from ganlit.models import PairedCycleGAN

# Small networks (ngf 8 drops a style); F pre-trained alone for the first epoch; adversarial and D_S weights raised
# from 0.1 to 1.0 (below that G copies the reference's colour too slowly, or wears a permutation of the styles);
# style cycle weight 3.0 (fewer seeds collapse a style); lr 5e-4, linearly decayed over the last two epochs; samples
# from a generator EMA.
CONFIG = dict(image_size=32, ngf=16, ndf=16, n_blocks_g=2, n_blocks_f=2, n_layers_d=2, n_layers_s=2,
              lambda_adv=1.0, lambda_makeup=1.0, lambda_style=3.0, pretrain_removal_epochs=1, lr_g=5e-4, lr_d=5e-4,
              ema_decay=0.99, lr_constant=2, lr_decay=2)
EPOCHS = 4
BATCH = 16


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.slow
def test_paired_cyclegan_learns_makeup_transfer_and_removal_on_digits(tmp_path):
    start = time.time()
    L.seed_everything(2)
    data = DigitsDataModule(task="makeup", image_size=32, batch_size=BATCH)
    model = PairedCycleGAN(**CONFIG)
    trainer = L.Trainer(accelerator="cpu", max_epochs=EPOCHS, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(model, data)

    # every test digit as a source, with a test digit of a random style as its reference
    torch.manual_seed(1)
    test = data.test_set
    items = [test[i] for i in range(len(test))]
    x, ref = torch.stack([i["x"] for i in items]), torch.stack([i["y"] for i in items])
    labels, styles = torch.stack([i["x_label"] for i in items]), [int(i["style"]) for i in items]
    made_up = model.translate(x, reference=ref)
    removed = model.translate(ref, remove=True)

    keeps_class = (digit_judge().predict(made_up) == labels).float().mean().item()
    wears_style = sum(s == t for s, t in zip(style_of(made_up), styles)) / len(styles)
    plain = domain_check(removed, "plain").float().mean().item()
    print(f"PairedCycleGAN digits: class kept {keeps_class:.3f}, reference style {wears_style:.3f}, "
          f"removal plain {plain:.3f}, {time.time() - start:.0f} s")
    assert keeps_class >= 0.9
    assert wears_style >= 0.9
    assert plain >= 0.9
