"""The GPU paths of issue 8: fp16 with Lightning's gradient scaler, bf16, and the fast settings (channels_last,
fused Adam, torch.compile). Skipped without CUDA; run them on a lent GPU with `pytest tests/test_cuda.py`."""

import pytest
import torch
from test_precision import weights_with_and_without_channels_last
from toy import ToyGAN, loader, trainer

from ganlit.data import DigitsDataModule
from ganlit.models import CGAN, CycleGAN

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _gpu_trainer(tmp_path, **kw):
    return trainer(tmp_path, accelerator="gpu", devices=1, **kw)


@pytest.mark.parametrize("precision", ["16-mixed", "bf16-mixed"])
def test_mixed_precision_steps_both_optimizers_on_the_gpu(tmp_path, precision):
    model = ToyGAN(grad_clip=10.0)
    g0, d0 = model.generator.weight.detach().clone(), model.discriminator[0].weight.detach().clone()
    t = _gpu_trainer(tmp_path, limit_train_batches=4, precision=precision)
    t.fit(model, loader())
    g, d = model.generator.weight.detach().cpu(), model.discriminator[0].weight.detach().cpu()
    assert not torch.equal(g, g0) and not torch.equal(d, d0) and torch.isfinite(g).all()
    if precision == "16-mixed":  # Lightning's scaler stepped both optimizers and kept a finite scale
        scaler = t.precision_plugin.scaler
        assert scaler is not None and torch.isfinite(scaler.get_scale() * torch.ones(1))


def test_fast_settings_train_and_use_fused_adam(tmp_path):
    model = CGAN(image_size=16, ngf=8, ndf=8, channels_last=True, compile=True)
    dm = DigitsDataModule(task="generate", image_size=16, batch_size=16)
    _gpu_trainer(tmp_path, limit_train_batches=3, precision="bf16-mixed").fit(model, dm)
    for opt in model.optimizers():
        assert opt.optimizer.defaults.get("fused") is True
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_cyclegan_channels_last_computes_the_same_step_on_the_gpu(tmp_path):
    plain, last = weights_with_and_without_channels_last(
        tmp_path, lambda cl: CycleGAN(ngf=8, ndf=8, n_blocks=1, channels_last=cl),
        lambda: DigitsDataModule(task="unpaired", image_size=16, batch_size=2),
        lambda m: m.generators["A2B"].model[1].weight, accelerator="gpu", devices=1)
    torch.testing.assert_close(plain, last, atol=1e-4, rtol=1e-3)
