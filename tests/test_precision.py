"""Mixed precision and speed settings of the base loop on CPU."""

import torch
from lightning.pytorch.plugins.precision import MixedPrecision
from toy import ToyGAN, loader, trainer

from ganlit.data import DigitsDataModule
from ganlit.models import CGAN


def test_bf16_mixed_trains_both_optimizers(tmp_path):
    model = ToyGAN()
    g0, d0 = model.generator.weight.detach().clone(), model.discriminator[0].weight.detach().clone()
    trainer(tmp_path, limit_train_batches=4, precision="bf16-mixed").fit(model, loader())
    assert not torch.equal(model.generator.weight, g0) and not torch.equal(model.discriminator[0].weight, d0)
    assert model.generator.weight.dtype == torch.float32


def test_fp16_with_grad_scaler_steps_both_optimizers(tmp_path):
    # The fp16 scaler forced on, on CPU: each optimizer is stepped through scaler.step and the scale is updated.
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8)
    plugin = MixedPrecision("16-mixed", device="cpu", scaler=scaler)
    model = ToyGAN(grad_clip=10.0)
    g0, d0 = model.generator.weight.detach().clone(), model.discriminator[0].weight.detach().clone()
    trainer(tmp_path, limit_train_batches=4, plugins=[plugin]).fit(model, loader())
    assert not torch.equal(model.generator.weight, g0) and not torch.equal(model.discriminator[0].weight, d0)
    assert scaler._scale is not None and torch.isfinite(model.generator.weight).all()


def weights_with_and_without_channels_last(tmp_path, make_model, make_data, weight, **trainer_kw) -> list:
    """The weight ``weight(model)`` after two training steps, without then with channels_last, same seeds."""
    results = []
    for channels_last in (False, True):
        torch.manual_seed(0)
        model = make_model(channels_last)
        torch.manual_seed(1)
        trainer(tmp_path, limit_train_batches=2, **trainer_kw).fit(model, make_data())
        results.append(weight(model).detach().float().cpu().contiguous())
    return results


def test_channels_last_gives_the_same_step(tmp_path):
    plain, last = weights_with_and_without_channels_last(
        tmp_path, lambda cl: CGAN(image_size=16, ngf=8, ndf=8, channels_last=cl),
        lambda: DigitsDataModule(task="generate", image_size=16, batch_size=16), lambda m: m.generator.net[0].weight)
    assert torch.allclose(plain, last, atol=1e-5)
