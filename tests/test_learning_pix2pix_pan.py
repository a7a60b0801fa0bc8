"""Learning checks (issue 4, item 8): pix2pix and PAN learn outline -> filled digit on the digits world.

After a short CPU training, the translated TEST digits are judged as the class of their source >= 90% of
the time, and their L1 distance to the target is at most half of the identity mapping's (source vs target).
The networks are small (U-Net with 5 downsamplings at 32 px, ngf 16; D width 16 for pix2pix, 8 for PAN) and
the learning rate is raised to 5e-4 so that a few epochs suffice; the losses are the papers'. Measured on the
shared 2-core machine (load 10-14, one thread; 91 s of CPU for both checks): pix2pix 3 epochs, class kept
0.956, L1 0.063 vs identity 0.227 (ratio 0.28); PAN 6 epochs, class kept 0.960, L1 0.082 (ratio 0.36).
"""

from __future__ import annotations

import time

import lightning as L
import pytest
import torch

from ganlit.data.digits import DigitsDataModule, digit_judge
from ganlit.models import PAN, Pix2Pix

SMALL = dict(channels=3, image_size=32, num_downs=5, ngf=16, lr_g=5e-4, lr_d=5e-4)


def build(kind: str) -> L.LightningModule:
    if kind == "pix2pix":  # a constant learning rate over the short run
        return Pix2Pix(ndf=16, n_layers=2, lr_constant=3, lr_decay=0, **SMALL)
    # PAN has no pixel loss: the background settles only as the learning rate decays (3 + 3 epochs)
    return PAN(ndf=8, lr_constant=3, lr_decay=3, **SMALL)


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "epochs", "batch_size"), [("pix2pix", 3, 16), ("pan", 6, 8)])
def test_translated_test_digits_keep_their_class_and_approach_the_target(kind, epochs, batch_size, one_thread):
    L.seed_everything(0)
    data = DigitsDataModule(task="paired", image_size=32, batch_size=batch_size)  # source outline, target plain
    model = build(kind)
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    start = time.perf_counter()
    trainer.fit(model, data)
    seconds = time.perf_counter() - start

    test = data.test_set
    source = torch.stack([test[i]["A"] for i in range(len(test))])
    target = torch.stack([test[i]["B"] for i in range(len(test))])
    labels = torch.stack([test[i]["label"] for i in range(len(test))])
    with torch.no_grad():
        fake = model.translate(source)  # the papers' test protocol: training-mode normalisation
    accuracy = (digit_judge().predict(fake) == labels).float().mean().item()
    l1, identity = (fake - target).abs().mean().item(), (source - target).abs().mean().item()
    report = f"{kind}: class kept {accuracy:.3f}, L1 {l1:.4f} vs identity {identity:.4f}, {seconds:.0f} s training"
    print(report)
    assert len(test) == 297
    assert accuracy >= 0.90, report
    assert l1 <= 0.5 * identity, report
