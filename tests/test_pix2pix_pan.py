"""pix2pix and PAN modules: sizes, hand-computed losses, D-first cadence, schedule, test-time modes, recipes."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch
from fixtures_data import write_paired_tree
from recipes_util import run_recipe
from torch import nn
from torch.utils.data import DataLoader

from ganlit.checkpoint import load_module
from ganlit.models import PAN, Pix2Pix
from ganlit.models.base import num_parameters
from ganlit.networks.pan import PANDiscriminator
from ganlit.networks.patchgan import PatchDiscriminator, PixelDiscriminator

TINY = dict(image_size=32, num_downs=5, ngf=4)


def softplus(v: float) -> float:
    return math.log1p(math.exp(v))


def tiny_pix2pix(**kw) -> Pix2Pix:
    torch.manual_seed(0)
    return Pix2Pix(**{**TINY, "ndf": 4, "n_layers": 2, **kw})


def tiny_pan(**kw) -> PAN:
    torch.manual_seed(0)
    return PAN(**{**TINY, "ndf": 4, **kw})


def pairs(n: int = 4, size: int = 32, channels: int = 3) -> list[dict]:
    g = torch.Generator().manual_seed(1)
    return [{"A": torch.rand(channels, size, size, generator=g) * 2 - 1,
             "B": torch.rand(channels, size, size, generator=g) * 2 - 1} for _ in range(n)]


def trainer(tmp_path, **kw) -> L.Trainer:
    return L.Trainer(default_root_dir=tmp_path, accelerator="cpu", logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False, **kw)


# --- configuration -------------------------------------------------------------------------------------------


def test_defaults_are_the_paper_networks_and_optimiser():
    model = Pix2Pix()
    assert num_parameters(model.generator) == 54_413_955  # unet_256 (counted from the official code)
    assert isinstance(model.discriminator, PatchDiscriminator)
    assert num_parameters(model.discriminator) == 2_768_705  # 70x70 PatchGAN, BatchNorm, 6 input channels
    assert model.lambda_l1 == 100.0 and model.loss_mode == "vanilla"
    assert model.pattern == ["DG"]  # D first, then G, every batch
    assert (model.lr_g, model.lr_d, model.betas) == (2e-4, 2e-4, (0.5, 0.999))
    assert (model.lr_constant, model.lr_decay, model.schedule_unit) == (100, 100, "epoch")


@pytest.mark.parametrize(("kw", "cls", "expected"), [
    ({"n_layers": 1}, PatchDiscriminator, 139_585),
    ({"n_layers": 5}, PatchDiscriminator, 11_159_361),
    ({"d_arch": "pixel"}, PixelDiscriminator, 9_024),
])
def test_discriminator_variants_have_the_reference_sizes(kw, cls, expected):
    d = Pix2Pix(image_size=256, ngf=1, **kw).discriminator
    assert isinstance(d, cls) and num_parameters(d) == expected


def test_linear_decay_after_100_constant_epochs():
    model = Pix2Pix(**TINY)
    assert model.lr_lambda(0) == model.lr_lambda(99) == 1.0
    assert model.lr_lambda(100) == pytest.approx(1 - 1 / 101)
    assert model.lr_lambda(199) == pytest.approx(1 - 100 / 101)


def test_pan_discriminator_sees_the_image_alone_unless_conditional():
    assert tiny_pan().discriminator.layers[0][0].in_channels == 3
    assert tiny_pan(conditional_d=True).discriminator.layers[0][0].in_channels == 6
    assert isinstance(tiny_pan().discriminator, PANDiscriminator)
    model = PAN()
    assert (model.feature_weights, model.margin, model.lambda_l1) == ((5.0, 1.5, 1.5, 1.0), 3.0, 0.0)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="image_size=48 is not divisible by 2\\*\\*num_downs=32.*num_downs=4"):
        Pix2Pix(image_size=48, num_downs=5)
    with pytest.raises(ValueError, match="d_arch='big'"):
        Pix2Pix(**TINY, d_arch="big")
    with pytest.raises(ValueError, match="expected 4 weights"):
        tiny_pan(feature_weights=(1.0, 2.0))
    with pytest.raises(ValueError, match="margin=-1"):
        tiny_pan(margin=-1)
    with pytest.raises(ValueError, match="direction='AtoB'"):
        tiny_pix2pix().translate(torch.zeros(1, 3, 32, 32), direction="BtoA")


# --- losses on hand-computed cases -----------------------------------------------------------------------------


class StubPatchD(nn.Module):
    """Logit per sample = mean of the second image of the pair (the channels after the input's)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(()))
        self.inputs: list[torch.Tensor] = []

    def forward(self, x):
        self.inputs.append(x)
        return self.w * x[:, x.size(1) // 2 :].mean(dim=(1, 2, 3))[:, None]


def test_pix2pix_losses_by_hand():
    model = tiny_pix2pix(channels=1)
    model.discriminator = StubPatchD()
    batch = {"A": torch.zeros(1, 1, 4, 4), "B": torch.ones(1, 1, 4, 4)}
    out = {"fake": torch.full((1, 1, 4, 4), 0.5)}
    d_loss, logs = model.discriminator_loss(batch, out)
    # 0.5 * (-log sigmoid(1) - log(1 - sigmoid(0.5))): real logit mean(B) = 1, fake logit mean(G(A)) = 0.5
    assert d_loss.item() == pytest.approx(0.5 * (softplus(-1.0) + softplus(0.5)), rel=1e-6)
    # the official loss_D_real / loss_D_fake are the unhalved BCE terms; d_real / d_fake the mean logits
    assert logs["loss_D_real"].item() == pytest.approx(softplus(-1.0), rel=1e-6)
    assert logs["loss_D_fake"].item() == pytest.approx(softplus(0.5), rel=1e-6)
    assert logs["d_real"].item() == 1.0 and logs["d_fake"].item() == 0.5
    g_loss, logs = model.generator_loss(batch, out)
    # -log sigmoid(0.5) + 100 * mean |0.5 - 1|
    assert logs["loss_G_GAN"].item() == pytest.approx(softplus(-0.5), rel=1e-6)
    assert logs["loss_G_L1"].item() == pytest.approx(50.0, rel=1e-6)
    assert g_loss.item() == pytest.approx(softplus(-0.5) + 50.0, rel=1e-6) and logs["g_loss"] is g_loss
    # D saw the input stacked before the image: channel 0 is A for every call
    assert all(x.shape[1] == 2 and torch.equal(x[:, :1], batch["A"]) for x in model.discriminator.inputs)


class StubPANDiscriminator(nn.Module):
    """Logit = mean(image); hidden features H_j = s_j * image for s = 1, 2, 3, 4."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(()))

    def forward(self, x):
        return self.w * x.mean(dim=(1, 2, 3))[:, None], [self.w * s * x for s in (1.0, 2.0, 3.0, 4.0)]


@pytest.mark.parametrize(("fake_value", "hinge"), [(0.9, 3.0 - 1.65), (0.5, 0.0)])
def test_pan_losses_by_hand(fake_value, hinge):
    model = tiny_pan(channels=1)
    model.discriminator = StubPANDiscriminator()
    batch = {"A": torch.zeros(2, 1, 4, 4), "B": torch.ones(2, 1, 4, 4)}
    out = {"fake": torch.full((2, 1, 4, 4), fake_value, requires_grad=True)}
    # P_j = |s_j * 1 - s_j * v| = s_j (1 - v); sum_j lambda_j P_j = (5*1 + 1.5*2 + 1.5*3 + 1*4)(1 - v) = 16.5 (1 - v)
    perceptual = 16.5 * (1 - fake_value)
    d_loss, logs = model.discriminator_loss(batch, out)
    assert logs["d_perceptual"].item() == pytest.approx(perceptual, rel=1e-5)
    assert logs["d_hinge"].item() == pytest.approx(hinge, abs=1e-5)
    assert d_loss.item() == pytest.approx(softplus(-1.0) + softplus(fake_value) + hinge, rel=1e-5)
    g_loss, _ = model.generator_loss(batch, out)
    assert g_loss.item() == pytest.approx(softplus(-fake_value) + perceptual, rel=1e-5)
    (grad,) = torch.autograd.grad(g_loss, out["fake"])
    assert grad.lt(0).all()  # T is pulled towards y = 1 by both terms


def test_pan_hinge_pushes_d_to_separate_features_only_within_the_margin():
    model = tiny_pan(channels=1)
    model.discriminator = StubPANDiscriminator()
    batch = {"A": torch.zeros(1, 1, 2, 2), "B": torch.ones(1, 1, 2, 2)}
    grads = []
    for value in (0.9, 0.5):  # perceptual 1.65 < m = 3 (hinge active) and 8.25 > m (hinge off)
        model.discriminator.w.grad = None
        model.margin = 3.0
        loss, logs = model.discriminator_loss(batch, {"fake": torch.full((1, 1, 2, 2), value)})
        adv = logs["d_gan"]
        (g_total,) = torch.autograd.grad(loss, model.discriminator.w, retain_graph=True)
        (g_adv,) = torch.autograd.grad(adv, model.discriminator.w)
        grads.append((g_total - g_adv).item())
    assert grads[0] == pytest.approx(-1.65, rel=1e-5)  # d/dw [m - w * 1.65] = -1.65
    assert grads[1] == 0.0


# --- the training loop ---------------------------------------------------------------------------------------------


def test_d_is_updated_first_then_g_with_the_updated_d(tmp_path):
    model = tiny_pix2pix()
    calls: list[tuple[str, int, float]] = []
    d_loss, g_loss = model.discriminator_loss, model.generator_loss

    def record(name, fn):
        def wrapped(batch, out):
            first = next(model.discriminator.parameters()).detach().clone()
            calls.append((name, int(model.iteration), first))
            return fn(batch, out)
        return wrapped

    model.discriminator_loss, model.generator_loss = record("D", d_loss), record("G", g_loss)
    g_before = [p.detach().clone() for p in model.generator.parameters()]
    trainer(tmp_path, max_steps=4).fit(model, DataLoader(pairs(2), batch_size=1))
    assert [(c[0], c[1]) for c in calls] == [("D", 0), ("G", 0), ("D", 1), ("G", 1)]
    assert not torch.equal(calls[0][2], calls[1][2])  # G's phase sees the D that was just stepped
    assert any(not torch.equal(a, b) for a, b in zip(g_before, model.generator.parameters()))
    assert int(model.iteration) == 2 and model.fixed_A.shape == (1, 3, 32, 32)


def test_train_mode_translation_uses_per_image_statistics_and_restores_state():
    model = tiny_pix2pix(use_dropout=False)
    x = torch.randn(3, 3, 32, 32)
    model.eval()
    stats = {k: v.clone() for k, v in model.generator.state_dict().items()}
    with torch.no_grad():
        together = model.translate(x)
        alone = torch.cat([model.translate(x[i : i + 1]) for i in range(3)])
        running = model.translate(x, eval_mode=True)
    torch.testing.assert_close(together, alone)  # batch-size independent, as the official batch-1 test
    assert not torch.allclose(together, running, atol=1e-3)  # --eval really switches BatchNorm
    assert not model.generator.training  # the caller's mode is restored
    for k, v in model.generator.state_dict().items():
        assert torch.equal(v, stats[k]), k  # test images leave the running statistics alone


def test_dropout_is_on_at_test_time_by_default():
    model = tiny_pix2pix(num_downs=6, image_size=64)  # num_downs - 5 = 1 dropout level
    x = torch.randn(1, 3, 64, 64)
    torch.manual_seed(1)
    a = model.translate(x)
    torch.manual_seed(2)
    b = model.translate(x)
    assert not torch.equal(a, b)
    assert torch.equal(model.translate(x, eval_mode=True), model.translate(x, eval_mode=True))


def test_evaluation_dropout_is_drawn_per_item_not_per_batch():
    """The metrics' G(A) of item i depends on (seed, i) only: the same image in a batch of 3 or alone, another one
    under another index, whatever the global RNG holds (the images of a DDP rank are those of one process)."""
    from ganlit.models.draws import ItemDraws

    model = tiny_pix2pix(num_downs=6, image_size=64)  # one dropout level: the draws matter
    batch = {"A": torch.randn(3, 3, 64, 64), "B": torch.zeros(3, 3, 64, 64)}
    torch.manual_seed(1)
    together = model.evaluation_images(batch, ItemDraws(0, [4, 6, 8]))["AtoB"][1]
    torch.manual_seed(2)
    alone = torch.cat([model.evaluation_images({k: v[i:i + 1] for k, v in batch.items()}, ItemDraws(0, [4 + 2 * i]))
                       ["AtoB"][1] for i in range(3)])
    assert torch.equal(together, alone)
    other = model.evaluation_images(batch, ItemDraws(0, [5, 7, 9]))["AtoB"][1]
    assert all(not torch.allclose(together[i], other[i], atol=1e-4) for i in range(3))


def test_samples_and_evaluation_images(tmp_path):
    model = tiny_pix2pix()
    assert model.sample_images() is None  # nothing seen yet
    model.forward_step({"A": torch.rand(2, 3, 32, 32) * 2 - 1, "B": torch.rand(2, 3, 32, 32) * 2 - 1})
    images, nrow = model.sample_images()
    assert nrow == 3 and images.shape == (6, 3, 32, 32) and 0 <= images.min() and images.max() <= 1
    torch.testing.assert_close(images[0], (model.fixed_A[0] + 1) / 2)
    batch = {"A": torch.zeros(2, 3, 32, 32), "B": torch.ones(2, 3, 32, 32)}
    real, fake = model.evaluation_images(batch)["AtoB"]
    assert torch.equal(real, batch["B"]) and fake.shape == (2, 3, 32, 32)


@pytest.mark.parametrize("factory", [tiny_pix2pix, tiny_pan])
def test_checkpoint_round_trip(tmp_path, factory):
    model = factory()
    tr = trainer(tmp_path, max_steps=2)
    tr.fit(model, DataLoader(pairs(2), batch_size=1))
    tr.save_checkpoint(tmp_path / "m.ckpt")
    loaded = load_module(tmp_path / "m.ckpt")
    assert type(loaded) is type(model) and loaded.fixed_A.shape == model.fixed_A.shape
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(loaded.translate(x, eval_mode=True), model.translate(x, eval_mode=True))


# --- recipes on a tiny A|B tree -----------------------------------------------------------------------------------

SMALL = ("--data.image_size", "32", "--data.load_size", "36", "--data.num_workers", "0",
         "--model.init_args.num_downs", "5", "--model.init_args.ngf", "4", "--model.init_args.ndf", "4")


@pytest.mark.parametrize("recipe", ["pix2pix_facades.yaml", "pix2pix_edges2shoes.yaml", "pan_facades.yaml"])
def test_recipe_fast_dev_run(tmp_path, recipe):
    root = write_paired_tree(tmp_path / "data", n=4, size=32)
    assert run_recipe(recipe, tmp_path / "run", "--data.root", str(root), *SMALL) == 0
