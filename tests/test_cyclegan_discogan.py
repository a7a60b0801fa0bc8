"""CycleGAN and DiscoGAN modules: defaults, loss composition on hand-computed cases, cadence, the image
pool across a resume, official CycleGAN weights, translate, and the recipes on tiny trees."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch
from recipes_util import run_recipe
from test_hub import _legacy_instance_norm_stats
from test_networks_translation import official_resnet_layout, random_state_dict, reference_resnet
from torch import nn
from torch.utils.data import DataLoader

from fixtures_data import write_paired_tree, write_unpaired_tree
from ganlit.checkpoint import load_module
from ganlit.hub import load_official
from ganlit.models import CycleGAN, DiscoGAN
from ganlit.models.base import num_parameters

TINY_CYCLEGAN = dict(ngf=4, n_blocks=1, ndf=4, n_layers=1)
TINY_DISCOGAN = dict(image_size=16, ngf=4, ndf=4)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny nets gain nothing from a second thread


# --- stubs: networks whose outputs can be computed by hand ------------------------------------------------


class Affine(nn.Module):
    """y = scale * x + shift (a parameter, so the optimizers have something to hold)."""

    def __init__(self, scale: float, shift: float) -> None:
        super().__init__()
        self.scale, self.shift = nn.Parameter(torch.tensor(scale)), shift

    def forward(self, x):
        return self.scale * x + self.shift


class MeanCritic(nn.Module):
    """One score per image, the mean of its pixels plus ``shift``; optionally the features [x, 3x]."""

    def __init__(self, shift: float = 0.0, features: bool = False) -> None:
        super().__init__()
        self.shift, self.features = nn.Parameter(torch.tensor(shift)), features

    def forward(self, x):
        score = x.mean((1, 2, 3), keepdim=True) + self.shift
        return (score, [x, 3 * x]) if self.features else score


def const(value: float, n: int = 1, c: int = 1, s: int = 2) -> torch.Tensor:
    return torch.full((n, c, s, s), value)


def softplus(z: float) -> float:
    return math.log1p(math.exp(z))


# --- construction and defaults ------------------------------------------------------------------------------


def test_cyclegan_defaults_are_the_papers():
    m = CycleGAN()
    assert set(m.generators) == {"A2B", "B2A"} and set(m.discriminators) == {"A", "B"}
    # the official code: resnet_9blocks 11,378,179 and the 70x70 PatchGAN 2,764,737, two of each.
    assert num_parameters(m.generators["A2B"]) == num_parameters(m.generators["B2A"]) == 11_378_179
    assert num_parameters(m.discriminators["A"]) == num_parameters(m.discriminators["B"]) == 2_764_737
    assert m.pattern == ["GD"] and (m.lr_constant, m.lr_decay, m.schedule_unit) == (100, 100, "epoch")
    assert (m.lambda_a, m.lambda_b, m.lambda_identity, m.gan_mode) == (10.0, 10.0, 0.5, "lsgan")
    assert m.pools["A"].pool_size == m.pools["B"].pool_size == 50
    (opt_g, opt_d), _ = m.configure_optimizers()
    for opt, nets in ((opt_g, m.generators), (opt_d, m.discriminators)):
        assert {id(p) for p in opt.param_groups[0]["params"]} == {id(p) for p in nets.parameters()}
        assert opt.defaults["lr"] == 2e-4 and opt.defaults["betas"] == (0.5, 0.999)
        assert opt.defaults["weight_decay"] == 0.0
    # Linear decay: lr factor 1 through epoch 100, then down to 1/101 at the last epoch (199).
    assert m.lr_lambda(99) == 1.0 and m.lr_lambda(100) == pytest.approx(1 - 1 / 101)
    assert m.lr_lambda(199) == pytest.approx(1 / 101)


def test_discogan_defaults_are_the_official_codes():
    m = DiscoGAN()
    assert set(m.generators) == {"A2B", "B2A"} and set(m.discriminators) == {"A", "B"}
    assert num_parameters(m.generators) == 2 * 5_513_856
    assert num_parameters(m.discriminators) == 2 * 2_765_568
    assert m.pattern == ["D", "G", "G"] and not m.normalized
    assert (m.gan_weight, m.fm_weight) == (0.1, 0.9)
    assert (m.starting_rate, m.default_rate, m.gan_curriculum) == (0.01, 0.5, 10_000)
    (opt_g, opt_d), _ = m.configure_optimizers()
    for opt, nets in ((opt_g, m.generators), (opt_d, m.discriminators)):
        assert {id(p) for p in opt.param_groups[0]["params"]} == {id(p) for p in nets.parameters()}
        assert opt.defaults["lr"] == 2e-4 and opt.defaults["betas"] == (0.5, 0.999)
        assert opt.defaults["weight_decay"] == 1e-5
    assert m.rate(0) == m.rate(9_999) == 0.01 and m.rate(10_000) == 0.5


def test_identity_loss_needs_equal_channels():
    with pytest.raises(ValueError, match="channels=1, channels_b=3"):
        CycleGAN(channels=1, channels_b=3, **TINY_CYCLEGAN)
    m = CycleGAN(channels=1, channels_b=3, lambda_identity=0.0, **TINY_CYCLEGAN)
    assert m.generators["A2B"](torch.zeros(1, 1, 8, 8)).shape == (1, 3, 8, 8)
    assert m.discriminators["A"].model[0].in_channels == 1 and m.discriminators["B"].model[0].in_channels == 3


# --- loss composition on hand-computed cases --------------------------------------------------------------


def _stub_cyclegan(**kw) -> CycleGAN:
    m = CycleGAN(pool_size=0, **TINY_CYCLEGAN, **kw)
    m.generators = nn.ModuleDict({"A2B": Affine(2.0, 0.0), "B2A": Affine(1.0, 1.0)})
    m.discriminators = nn.ModuleDict({"A": MeanCritic(), "B": MeanCritic()})
    return m


def test_cyclegan_losses_by_hand():
    m = _stub_cyclegan(lambda_b=20.0)
    batch = {"A": const(0.2), "B": const(-0.4)}
    out = m.forward_step(batch)
    # fake_B = 2a = 0.4, rec_A = fake_B + 1 = 1.4; fake_A = b + 1 = 0.6, rec_B = 2 fake_A = 1.2.
    for k, v in {"fake_B": 0.4, "rec_A": 1.4, "fake_A": 0.6, "rec_B": 1.2}.items():
        torch.testing.assert_close(out[k], const(v))
    g, logs = m.generator_loss(batch, out)
    gan = (0.4 - 1) ** 2 + (0.6 - 1) ** 2  # LSGAN: D_B(fake_B) and D_A(fake_A) against 1
    cycle = 10 * abs(1.4 - 0.2) + 20 * abs(1.2 + 0.4)  # lambda_A * |rec_A - a| + lambda_B * |rec_B - b|
    # Identity: G_A2B(b) = -0.8 vs b (weighted lambda_B), G_B2A(a) = 1.2 vs a (weighted lambda_A), times 0.5.
    identity = 0.5 * (20 * abs(-0.8 + 0.4) + 10 * abs(1.2 - 0.2))
    assert g.item() == pytest.approx(gan + cycle + identity)  # 0.52 + 44 + 9
    # Logged as the official attributes: weighted; loss_idt_A is G_A2B's identity term (official netG_A: A -> B).
    expected = {"loss_idt_A": 0.5 * 20 * 0.4, "loss_idt_B": 0.5 * 10 * 1.0, "loss_G_A": 0.36, "loss_G_B": 0.16,
                "loss_cycle_A": 10 * 1.2, "loss_cycle_B": 20 * 1.6, "g_loss": 0.52 + 44 + 9}
    assert {k: v.item() for k, v in logs.items()} == pytest.approx(expected)
    d, logs = m.discriminator_loss(batch, out)
    d_a = 0.5 * ((0.2 - 1) ** 2 + 0.6**2)  # each D loss halved; the judge of domain A is the official netD_B
    d_b = 0.5 * ((-0.4 - 1) ** 2 + 0.4**2)
    expected = {"loss_D_B": d_a, "loss_D_A": d_b, "d_loss": d_a + d_b}
    assert {k: v.item() for k, v in logs.items()} == pytest.approx(expected)
    assert d.item() == pytest.approx(d_a + d_b)


def test_cyclegan_without_identity_and_d_sees_detached_fakes():
    m = _stub_cyclegan(lambda_identity=0.0)
    batch = {"A": const(0.2), "B": const(-0.4)}
    out = m.forward_step(batch)
    g, logs = m.generator_loss(batch, out)
    assert "loss_idt_A" not in logs and "loss_idt_B" not in logs
    assert g.item() == pytest.approx(0.52 + 10 * 1.2 + 10 * 1.6)
    d, _ = m.discriminator_loss(batch, out)
    d.backward()
    assert all(p.grad is None for p in m.generators.parameters())  # D's loss never reaches G


def test_cyclegan_d_loss_uses_the_pool():
    m = _stub_cyclegan()
    m.pools["A"].pool_size = m.pools["B"].pool_size = 50
    batch = {"A": const(0.2, n=3), "B": const(-0.4, n=3)}
    m.discriminator_loss(batch, m.forward_step(batch))
    assert len(m.pools["A"]) == 3 and len(m.pools["B"]) == 3
    torch.testing.assert_close(torch.stack(m.pools["A"].images), const(0.6, n=3))  # fake_A goes to D_A's pool
    torch.testing.assert_close(torch.stack(m.pools["B"].images), const(0.4, n=3))


def _stub_discogan(**kw) -> DiscoGAN:
    m = DiscoGAN(**TINY_DISCOGAN, **kw)
    m.generators = nn.ModuleDict({"A2B": Affine(1.0, 0.1), "B2A": Affine(0.5, 0.0)})
    m.discriminators = nn.ModuleDict({"A": MeanCritic(-0.5, True), "B": MeanCritic(-0.5, True)})
    return m


@pytest.mark.parametrize("iteration, rate", [(0, 0.01), (10_000, 0.5)])
def test_discogan_losses_by_hand(iteration, rate):
    m = _stub_discogan()
    m.iteration.fill_(iteration)
    batch = {"A": const(0.2), "B": const(0.6)}
    out = m.forward_step(batch)
    # AB = a + 0.1 = 0.3, BA = b / 2 = 0.3; reconstructions ABA = AB / 2 = 0.15, BAB = BA + 0.1 = 0.4.
    for k, v in {"AB": 0.3, "BA": 0.3}.items():
        torch.testing.assert_close(out[k], const(v))
    g, logs = m.generator_loss(batch, out)
    gan = softplus(0.2)  # BCE(logit -0.2 -> real) for both fakes (D = mean - 0.5)
    fm_b = (0.6 - 0.3) ** 2 + (1.8 - 0.9) ** 2  # features [x, 3x] of real b vs AB
    fm_a = (0.2 - 0.3) ** 2 + (0.6 - 0.9) ** 2  # real a vs BA
    rec_a, rec_b = (0.15 - 0.2) ** 2, (0.4 - 0.6) ** 2
    expected = ((1 - rate) * (0.1 * gan + 0.9 * fm_b) + rate * rec_a
                + (1 - rate) * (0.1 * gan + 0.9 * fm_a) + rate * rec_b)
    assert g.item() == pytest.approx(expected)
    assert logs["fm_A2B"].item() == pytest.approx(fm_b) and logs["recon_A"].item() == pytest.approx(rec_a)
    assert logs["fm_B2A"].item() == pytest.approx(fm_a) and logs["recon_B"].item() == pytest.approx(rec_b)
    assert logs["rate"] == rate
    d, logs = m.discriminator_loss(batch, out)
    d_a = 0.5 * softplus(0.3) + 0.5 * softplus(-0.2)  # real a: logit -0.3 -> 1; BA: logit -0.2 -> 0
    d_b = 0.5 * softplus(-0.1) + 0.5 * softplus(-0.2)  # real b: logit 0.1 -> 1; AB: logit -0.2 -> 0
    assert d.item() == pytest.approx(d_a + d_b)


def test_discogan_normalized_batches_are_mapped_to_unit_range():
    m = _stub_discogan(normalized=True)
    out = m.forward_step({"A": const(-0.6), "B": const(0.2)})  # [-1, 1] -> 0.2 and 0.6
    torch.testing.assert_close(out["A"], const(0.2))
    torch.testing.assert_close(out["AB"], const(0.3))
    torch.testing.assert_close(out["BA"], const(0.3))


# --- cadence and order --------------------------------------------------------------------------------------


def _tensor_loader(n: int = 6, size: int = 16, batch_size: int = 2, seed: int = 0) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    items = [{"A": torch.rand(3, size, size, generator=g) * 2 - 1, "B": torch.rand(3, size, size, generator=g) * 2 - 1}
             for _ in range(n)]
    return DataLoader(items, batch_size=batch_size, shuffle=False)


def _trainer(tmp_path, **kw) -> L.Trainer:
    kw.setdefault("logger", False)
    kw.setdefault("enable_checkpointing", False)
    return L.Trainer(default_root_dir=tmp_path, accelerator="cpu", devices=1, enable_progress_bar=False,
                     enable_model_summary=False, num_sanity_val_steps=0, **kw)


def _record_phases(model) -> list[str]:
    calls: list[str] = []
    for name, tag in (("generator_loss", "G"), ("discriminator_loss", "D")):
        original = getattr(model, name)

        def spy(batch, out, _original=original, _tag=tag):
            calls.append(f"{_tag}{int(model.iteration)}")
            return _original(batch, out)

        setattr(model, name, spy)
    return calls


def test_discogan_cadence_updates_d_on_every_third_iteration(tmp_path):
    torch.manual_seed(0)
    m = DiscoGAN(**TINY_DISCOGAN, normalized=True)
    calls = _record_phases(m)
    _trainer(tmp_path, max_epochs=2).fit(m, _tensor_loader(n=6))  # 6 iterations
    assert calls == ["D0", "G1", "G2", "D3", "G4", "G5"]
    opt_g, opt_d = m.optimizers()
    steps = lambda opt: {int(s["step"]) for s in opt.optimizer.state.values()}  # noqa: E731
    assert steps(opt_d) == {2} and steps(opt_g) == {4}


def test_cyclegan_updates_g_then_d_every_iteration(tmp_path):
    torch.manual_seed(0)
    m = CycleGAN(**TINY_CYCLEGAN, lr_constant=1, lr_decay=1)
    calls = _record_phases(m)
    _trainer(tmp_path, max_epochs=2).fit(m, _tensor_loader(n=4, size=8))
    assert calls == ["G0", "D0", "G1", "D1", "G2", "D2", "G3", "D3"]
    assert len(m.pools["A"]) == len(m.pools["B"]) == 8  # every fake went through the pool
    # Linear decay per epoch: 1 for epoch 0, 1 - 1/2 for epoch 1, then 0.
    assert m.optimizers()[0].param_groups[0]["lr"] == pytest.approx(0.0)


# --- the pool across a checkpoint and a resume ----------------------------------------------------------------


def _fit_cyclegan(tmp_path, epochs: int, ckpt_path=None) -> CycleGAN:
    L.seed_everything(0)
    m = CycleGAN(**TINY_CYCLEGAN, pool_size=5)
    ckpt = L.pytorch.callbacks.ModelCheckpoint(dirpath=tmp_path, save_last=True, save_top_k=0)
    _trainer(tmp_path, max_epochs=epochs, enable_checkpointing=True, callbacks=[ckpt]).fit(
        m, _tensor_loader(n=8, size=8), ckpt_path=ckpt_path)
    return m


def test_pool_is_saved_and_resume_continues_the_same_history(tmp_path):
    straight = _fit_cyclegan(tmp_path / "straight", epochs=3)
    first = _fit_cyclegan(tmp_path / "first", epochs=2)
    assert len(first.pools["A"]) == 5
    loaded = load_module(tmp_path / "first" / "last.ckpt")
    for k in ("A", "B"):
        assert torch.equal(torch.stack(loaded.pools[k].images), torch.stack(first.pools[k].images))
    resumed = _fit_cyclegan(tmp_path / "resumed", epochs=3, ckpt_path=tmp_path / "first" / "last.ckpt")
    assert int(resumed.iteration) == int(straight.iteration) == 12
    for k in ("A", "B"):  # the swaps after the resume are the ones the uninterrupted run made
        torch.testing.assert_close(torch.stack(resumed.pools[k].images), torch.stack(straight.pools[k].images))
    for p, q in zip(resumed.parameters(), straight.parameters()):
        torch.testing.assert_close(p, q)


# --- translate, official weights, checkpoints ---------------------------------------------------------------


def test_official_cyclegan_file_with_legacy_keys_translates_like_the_reference(tmp_path):
    sd = random_state_dict(official_resnet_layout(ngf=4, n_blocks=2), seed=5)
    path = tmp_path / "horse2zebra.pth"
    torch.save(sd | _legacy_instance_norm_stats(sd, 2), path)
    net = load_official("cyclegan", path)
    m = CycleGAN(ngf=4, n_blocks=2, ndf=4, n_layers=1)
    m.generators["A2B"].load_state_dict(net.state_dict())
    x = torch.rand(2, 3, 12, 16) * 2 - 1
    with torch.no_grad():
        y = m.translate(x, direction="AtoB")
        torch.testing.assert_close(y, net(x))
        torch.testing.assert_close(y, reference_resnet(sd, x, 2), atol=1e-5, rtol=1e-4)


def test_translate_directions_and_errors():
    torch.manual_seed(0)
    m = CycleGAN(**TINY_CYCLEGAN)
    x = torch.rand(1, 3, 8, 8) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(m.translate(x, "BtoA"), m.generators["B2A"](x))
        torch.testing.assert_close(m.translate(x), m.generators["A2B"](x))
    with pytest.raises(ValueError, match="direction='A2B'"):
        m.translate(x, "A2B")
    d = DiscoGAN(**TINY_DISCOGAN).eval()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        y = d.translate(x, "BtoA")
        torch.testing.assert_close(y, d.generators["B2A"]((x + 1) / 2) * 2 - 1)  # [-1, 1] around the Sigmoid
    assert y.min() >= -1 and y.max() <= 1


def test_cyclegan_checkpoint_translates_both_directions(tmp_path):
    m = _fit_cyclegan(tmp_path, epochs=1)
    loaded = load_module(tmp_path / "last.ckpt")
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    with torch.no_grad():
        for direction, key in (("AtoB", "A2B"), ("BtoA", "B2A")):
            torch.testing.assert_close(loaded.translate(x, direction=direction), m.generators[key].eval()(x))
    assert loaded.fixed_A.shape == (4, 3, 8, 8)  # the sample inputs (2 batches of 2) came back too


@pytest.mark.parametrize("model", ["cyclegan", "discogan"])
def test_samples_and_evaluation_images(model):
    torch.manual_seed(0)
    m = CycleGAN(**TINY_CYCLEGAN, num_samples=3) if model == "cyclegan" else DiscoGAN(**TINY_DISCOGAN, num_samples=3)
    assert m.sample_images() is None  # nothing seen yet
    lo = -1.0 if model == "cyclegan" else 0.0  # DiscoGAN batches are [0, 1] by default
    batch = {"A": torch.rand(3, 3, 16, 16) * (1 - lo) + lo, "B": torch.rand(3, 3, 16, 16) * (1 - lo) + lo}
    m.on_train_batch_start({k: v[:2] for k, v in batch.items()}, 0)  # num_samples gathers over batches
    m.on_train_batch_start({k: v[2:] for k, v in batch.items()}, 1)
    images, nrow = m.sample_images()
    assert images.shape == (18, 3, 16, 16) and nrow == 3
    assert images.min() >= 0 and images.max() <= 1
    torch.testing.assert_close(images[:3], (batch["A"] - lo) / (1 - lo))  # row 1: the real A, in [0, 1]
    ev = m.evaluation_images(batch)
    assert set(ev) == {"AtoB", "BtoA"}
    real_b, fake_b = ev["AtoB"]
    torch.testing.assert_close(real_b, batch["B"] if lo == -1 else batch["B"] * 2 - 1)  # [-1, 1]
    assert fake_b.shape == (3, 3, 16, 16) and fake_b.min() >= -1 and fake_b.max() <= 1
    assert m.training and m.generators.training  # evaluation did not leave eval mode behind


# --- recipes on tiny trees --------------------------------------------------------------------------------------


@pytest.mark.parametrize("recipe", ["cyclegan_horse2zebra.yaml", "cyclegan_monet2photo.yaml"])
def test_cyclegan_recipes_fast_dev_run(tmp_path, recipe):
    root = write_unpaired_tree(tmp_path / "data", size=40)
    assert run_recipe(
        recipe, tmp_path, "--data.root", str(root), "--data.num_workers", "0",
        "--data.image_size", "32", "--data.load_size", "36",
        "--model.init_args.ngf", "4", "--model.init_args.ndf", "4", "--model.init_args.n_blocks", "1",
    ) == 0


def test_discogan_recipe_fast_dev_run_on_a_paired_tree(tmp_path):
    root = write_paired_tree(tmp_path / "edges2shoes", n=4, size=32, splits=("train", "val"))
    assert run_recipe(
        "discogan_edges2shoes.yaml", tmp_path, "--data.root", str(root), "--data.num_workers", "0",
        "--data.image_size", "32", "--data.load_size", "32", "--data.batch_size", "2",
        "--model.init_args.ngf", "4", "--model.init_args.ndf", "4",
    ) == 0
