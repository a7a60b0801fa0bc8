"""Exact resume for every model family: N iterations in one go == N/2, stop mid-epoch, resume to N.

Each family brings its own state: pix2pix/PAN dropout and BatchNorm, CycleGAN/DiscoGAN image pools and cadence,
StarGAN's 5:1 cadence and random target labels, PairedCycleGAN its removal pre-training switching to the full
model. 4 batches per epoch, 2 epochs, stopped after 6 iterations (inside the second epoch).
"""

from __future__ import annotations

import pytest

from ganlit.data.digits import ATTRS, DigitsDataModule
from ganlit.models import PAN, CycleGAN, DiscoGAN, PairedCycleGAN, Pix2Pix, StarGAN
from resume_util import assert_exact_resume

FAMILIES = {
    # name: (model factory, data factory, optimizer steps after 6 iterations)
    # 64 px, 6 downsamplings: the U-Net's dropout block (pix2pix's noise z) is in the network.
    "pix2pix": (lambda: Pix2Pix(channels=3, image_size=64, num_downs=6, ngf=4, ndf=4, n_layers=2, ema_decay=0.9),
                lambda: DigitsDataModule(task="paired", image_size=64, batch_size=4), 12),
    "pan": (lambda: PAN(channels=3, image_size=64, num_downs=6, ngf=4, ndf=4),
            lambda: DigitsDataModule(task="paired", image_size=64, batch_size=4), 12),
    "cyclegan": (lambda: CycleGAN(ngf=4, ndf=4, n_blocks=1, n_layers=2, pool_size=3),
                 lambda: DigitsDataModule(task="unpaired", image_size=16, batch_size=2), 12),
    # D every third iteration, G on the other two: 6 iterations are 6 optimizer steps.
    "discogan": (lambda: DiscoGAN(image_size=64, ngf=4, ndf=4),
                 lambda: DigitsDataModule(task="unpaired", image_size=64, batch_size=2), 6),
    # 5 D steps per G step: iterations 1-4 one step each, 5 two, 6 one.
    "stargan": (lambda: StarGAN(image_size=16, conv_dim=4, repeat_num=1, d_conv_dim=4, d_repeat_num=3,
                                num_attrs=len(ATTRS), attr_names=list(ATTRS), exclusive_attrs=["red", "green", "blue"]),
                lambda: DigitsDataModule(task="attributes", image_size=16, batch_size=4), 7),
    # epoch 1: F and D_X only (pre-training); epoch 2: all five networks.
    "paired_cyclegan": (lambda: PairedCycleGAN(image_size=32, ngf=4, ndf=4, n_blocks_g=1, n_blocks_f=1, n_layers_d=2,
                                               n_layers_s=2, pretrain_removal_epochs=1),
                        lambda: DigitsDataModule(task="makeup", image_size=32, batch_size=2), 12),
}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_family_resumes_exactly_mid_epoch(family, tmp_path):
    make_model, make_data, steps = FAMILIES[family]
    assert_exact_resume(make_model, make_data, tmp_path, epochs=2, stop_after_steps=steps, limit_train_batches=4)
