"""GANModule: cadence, order, iteration counter, schedules, clipping, EMA, non-finite losses, checkpoints."""

import pytest
import torch
from toy import ToyGAN, loader, trainer
from torch import nn

from ganlit.models.base import NonFiniteLossError, parse_cadence


def fit(model, tmp_path, batches=8, **kw):
    t = trainer(tmp_path, limit_train_batches=batches, **kw)
    t.fit(model, loader(n=8 * batches))
    return t


def test_parse_cadence():
    assert parse_cadence(None, 5, "d_first") == ["D", "D", "D", "D", "DG"]
    assert parse_cadence(None, 1, "g_first") == ["GD"]
    assert parse_cadence("D,G,G", 1, "d_first") == ["D", "G", "G"]
    assert parse_cadence("dgg", 1, "d_first") == ["DGG"] and parse_cadence("DDG, GD", 1, "d_first") == ["DDG", "GD"]
    for bad in ("D,X", "D,,G", ""):
        with pytest.raises(ValueError, match="cadence"):
            parse_cadence(bad, 1, "d_first")
    with pytest.raises(ValueError, match="order"):
        parse_cadence(None, 1, "sideways")


def test_n_critic_5_steps_d_five_times_per_g(tmp_path):
    model = ToyGAN(n_critic=5)
    fit(model, tmp_path, batches=10)
    assert model.calls.count("G4") == 1 and model.calls.count("G9") == 1
    assert sum(c.startswith("D") for c in model.calls) == 10
    assert sum(c.startswith("G") for c in model.calls) == 2
    assert model.calls.index("D4") < model.calls.index("G4")  # d_first
    assert int(model.iteration) == 10


def test_g_first_order(tmp_path):
    model = ToyGAN(order="g_first")
    fit(model, tmp_path, batches=2)
    assert model.calls == ["G0", "D0", "G1", "D1"]


def test_explicit_cadence_discogan_style(tmp_path):
    model = ToyGAN(cadence="D,G,G")
    fit(model, tmp_path, batches=6)
    assert model.calls == ["D0", "G1", "G2", "D3", "G4", "G5"]


def test_only_the_phase_optimizer_moves_its_parameters(tmp_path):
    model = ToyGAN(cadence="D")
    g0 = model.generator.weight.detach().clone()
    d0 = model.discriminator[0].weight.detach().clone()
    fit(model, tmp_path, batches=3)
    assert torch.equal(model.generator.weight, g0)
    assert not torch.equal(model.discriminator[0].weight, d0)


def test_linear_decay_schedule_matches_official_lambda():
    model = ToyGAN(lr_constant=100, lr_decay=100)
    assert model.lr_lambda(0) == 1.0 and model.lr_lambda(99) == 1.0
    assert model.lr_lambda(100) == pytest.approx(1 - 1 / 101)
    assert model.lr_lambda(199) == pytest.approx(1 / 101)


def test_iteration_schedule_is_stepped_per_batch(tmp_path):
    model = ToyGAN(lr_g=1.0, lr_d=1.0, lr_constant=2, lr_decay=4, schedule_unit="iteration")
    fit(model, tmp_path, batches=4)
    opt_g, _ = model.optimizers()
    assert opt_g.param_groups[0]["lr"] == pytest.approx(model.lr_lambda(4))


def test_epoch_schedule_is_stepped_per_epoch(tmp_path):
    model = ToyGAN(lr_g=1.0, lr_d=1.0, lr_constant=1, lr_decay=3)
    fit(model, tmp_path, batches=2, max_epochs=3)
    assert model.optimizers()[0].param_groups[0]["lr"] == pytest.approx(model.lr_lambda(3))


def test_grad_clip_bounds_the_gradient_norm(tmp_path):
    model = ToyGAN(lr_g=1e-3, lr_d=1e-3, grad_clip=1e-3)
    norms = []
    orig = model.on_before_optimizer_step

    def spy(optimizer):
        orig(optimizer)
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        norms.append(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item())

    model.on_before_optimizer_step = spy
    fit(model, tmp_path, batches=3)
    assert norms and max(norms) <= 1e-3 * 1.0001


def test_ema_averages_the_generator_only(tmp_path):
    model = ToyGAN(ema_decay=0.5)
    fit(model, tmp_path, batches=1)
    ema = model.generator_ema
    assert ema is not None and int(ema.n_averaged) == 1
    # First update copies the generator: after one G step the average equals the weights.
    assert torch.allclose(ema.module.weight, model.generator.weight)
    before = ema.module.weight.detach().clone()
    w_prev = model.generator.weight.detach().clone()
    fit(model, tmp_path, batches=1)
    expected = 0.5 * before + 0.5 * model.generator.weight.detach()
    assert not torch.equal(model.generator.weight, w_prev)
    assert torch.allclose(ema.module.weight, expected, atol=1e-6)
    assert model.sampling_nets() is ema.module
    assert not any(p.requires_grad for p in ema.parameters())
    assert not any("discriminator" in n for n, _ in ema.named_parameters())


def test_nonfinite_loss_stops_with_name_and_iteration(tmp_path):
    model = ToyGAN(nan_at=2)
    with pytest.raises(NonFiniteLossError, match=r"G loss became nan at iteration 2.*g_loss"):
        fit(model, tmp_path, batches=5)


def test_nonfinite_skip_counts_and_continues(tmp_path):
    model = ToyGAN(nan_at=2, on_nonfinite="skip")
    fit(model, tmp_path, batches=5)
    assert int(model.skipped_steps) == 1 and int(model.iteration) == 5


def test_checkpoint_round_trip_keeps_counter_and_ema(tmp_path):
    model = ToyGAN(ema_decay=0.9, n_critic=2)
    t = fit(model, tmp_path, batches=4)
    path = tmp_path / "toy.ckpt"
    t.save_checkpoint(path)
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["ganlit_class"] == "toy.ToyGAN"
    assert int(ckpt["state_dict"]["iteration"]) == 4
    assert any(k.startswith("generator_ema.") for k in ckpt["state_dict"])
    restored = ToyGAN.load_from_checkpoint(path)
    assert int(restored.iteration) == 4 and restored.pattern == ["D", "DG"]
    assert torch.equal(restored.generator_ema.module.weight, model.generator_ema.module.weight)
    # Resume continues the counter.
    resumed = ToyGAN(ema_decay=0.9, n_critic=2)
    trainer(tmp_path, limit_train_batches=4, max_epochs=2).fit(resumed, loader(), ckpt_path=path)
    assert int(resumed.iteration) == 8


def test_losses_reach_the_logger_every_log_every_n_steps(tmp_path):
    """Loss terms are logged only on the iterations whose values the logger receives (each `self.log` costs CPU)."""
    import csv

    from lightning.pytorch.loggers import CSVLogger

    model = ToyGAN()
    calls = []
    log_dict = model.log_dict
    model.log_dict = lambda metrics, **kw: (calls.append(int(model.iteration)), log_dict(metrics, **kw))
    logger = CSVLogger(tmp_path, name="csv", version=0)
    trainer(tmp_path, logger=logger, log_every_n_steps=3).fit(model, loader(n=64, batch_size=8))  # 8 iterations
    assert calls == [2, 2, 5, 5]  # D and G terms of iterations 2 and 5 only
    with open(tmp_path / "csv" / "version_0" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    logged = [int(r["step"]) for r in rows if r.get("train/g_loss")]
    assert logged == [2, 5]  # Lightning's 0-based step of the 3rd and 6th batch
    for row in rows:
        if row.get("train/g_loss"):
            assert row["train/d_loss"] and row["train/lr_g"] and float(row["train/lr_g"]) == pytest.approx(2e-4)
    assert "train/g_loss" in model.trainer.callback_metrics


class CountingToy(ToyGAN):
    """Records each forward_step and each optimizer step the loop reports."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.forwards, self.steps = [], []

    def forward_step(self, batch):
        self.forwards.append(int(self.iteration))
        return super().forward_step(batch)

    def on_after_optimizer_step(self, phase, optimizer):
        self.steps.append(f"{phase}{int(self.iteration)}")


@pytest.mark.parametrize("cadence, calls", [
    ("DGG", ["D0", "G0", "G0", "D1", "G1", "G1"]),
    ("DDG", ["D0", "D0", "G0", "D1", "D1", "G1"]),
    ("GD", ["G0", "D0", "G1", "D1"]),
])
def test_any_cadence_pattern_runs_its_phases_on_each_batch(tmp_path, cadence, calls):
    model = CountingToy(cadence=cadence)
    fit(model, tmp_path, batches=2)
    assert model.calls == calls and model.steps == calls  # every phase took its optimizer step
    # A second G phase on a batch sees fakes of the generator its first step just moved (the first graph is spent).
    assert model.forwards == ([0, 0, 1, 1] if cadence == "DGG" else [0, 1])


def test_cadence_continues_where_it_stopped_after_resume(tmp_path):
    """The module's counter, saved in the checkpoint, decides the phases: a run resumed after 3 iterations of a
    3-iteration pattern over 2-batch epochs picks the pattern up mid-way and ends bit-identical to a straight run."""
    cadence = "D,GD,DGG"
    torch.manual_seed(0)
    straight = CountingToy(cadence=cadence)
    trainer(tmp_path / "a", limit_train_batches=2, max_epochs=3).fit(straight, loader(n=16, batch_size=8))
    torch.manual_seed(0)
    first = CountingToy(cadence=cadence)
    t = trainer(tmp_path / "b", limit_train_batches=2, max_epochs=2)
    t.fit(first, loader(n=16, batch_size=8))
    t.save_checkpoint(tmp_path / "b.ckpt")
    resumed = CountingToy(cadence=cadence)
    trainer(tmp_path / "c", limit_train_batches=2, max_epochs=3).fit(resumed, loader(n=16, batch_size=8),
                                                                     ckpt_path=tmp_path / "b.ckpt")
    assert resumed.calls == ["G4", "D4", "D5", "G5", "G5"]  # iterations 4 (GD) and 5 (DGG)
    assert first.calls + resumed.calls == straight.calls
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


class ClippedToy(CountingToy):
    """WGAN's weight clipping (Arjovsky et al. 2017, Alg. 1) through the hook: the critic's weights stay in [-c, c]."""

    def on_after_optimizer_step(self, phase, optimizer):
        super().on_after_optimizer_step(phase, optimizer)
        if phase == "D":
            for p in self.discriminator.parameters():
                p.clamp_(-0.01, 0.01)


def test_after_step_hook_clips_the_critic_and_skips_a_dropped_step(tmp_path):
    model = ClippedToy(lr_d=0.5, nan_at=2, on_nonfinite="skip")
    d0 = [p.detach().clone() for p in model.discriminator.parameters()]
    fit(model, tmp_path, batches=4)
    weights = torch.cat([p.detach().flatten() for p in model.discriminator.parameters()])
    assert weights.abs().max() <= 0.01 and not all(torch.equal(a, b) for a, b in zip(d0, model.discriminator.parameters()))
    assert model.generator.weight.abs().max() > 0.01  # G is not clipped
    assert model.steps == ["D0", "G0", "D1", "G1", "D2", "D3", "G3"]  # G2 had a NaN loss: no step, no hook


class HeadToy(ToyGAN):
    """An extra network outside g_nets (a projection head, as CUT's) trained by the G optimizer."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.head = nn.Linear(2, 2)

    def optimizer_parameters(self, phase):
        return super().optimizer_parameters(phase) + (list(self.head.parameters()) if phase == "G" else [])

    def generator_loss(self, batch, out):
        loss, logs = super().generator_loss(batch, out)
        return loss + self.head(out["fake"]).pow(2).mean(), logs


@pytest.mark.parametrize("cadence, head_moves", [("DG", True), ("D", False)])
def test_extra_network_is_stepped_by_the_g_optimizer_only(tmp_path, cadence, head_moves):
    model = HeadToy(cadence=cadence)
    h0 = model.head.weight.detach().clone()
    fit(model, tmp_path, batches=2)
    opt_g, opt_d = model.optimizers()
    in_g = {id(p) for g in opt_g.param_groups for p in g["params"]}
    in_d = {id(p) for g in opt_d.param_groups for p in g["params"]}
    assert id(model.head.weight) in in_g and id(model.head.weight) not in in_d
    assert (not torch.equal(model.head.weight, h0)) == head_moves


def test_parameter_groups_and_overlap(tmp_path):
    class Grouped(HeadToy):
        def optimizer_parameters(self, phase):
            if phase == "D":
                return super().optimizer_parameters(phase)
            return [{"params": list(self.generator.parameters())}, {"params": list(self.head.parameters()), "lr": 0.5}]

    (opt_g, opt_d), _ = Grouped().configure_optimizers()
    assert [g["lr"] for g in opt_g.param_groups] == [2e-4, 0.5] and opt_d.param_groups[0]["lr"] == 2e-4

    class Shared(ToyGAN):
        def optimizer_parameters(self, phase):
            return super().optimizer_parameters(phase) + ([self.generator.weight] if phase == "D" else [])

    with pytest.raises(ValueError, match=r"Shared.optimizer_parameters: 1 parameter\(s\) are in both.*generator.weight"):
        Shared().configure_optimizers()
