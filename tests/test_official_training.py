"""Recorded training iterations of the official pix2pix, CycleGAN and StarGAN code, replayed through ganlit.

Each golden file (format: tests/goldens/official_training/README.md) holds the official initial weights, the
batches fed, every loss term of every iteration, the first-step gradients and the state dicts after iteration 1
and after the last. The replay builds ganlit's module from the recorded official options, loads the initial
weights through the official-layout loader (:func:`ganlit.hub.load_official` for generators, a strict
``load_state_dict`` for discriminators, whose keys are the official ones), runs ganlit's own training iteration
with a Lightning ``Trainer`` over the recorded batches, and checks every quantity with the tolerances of the
golden README.

Two comparisons. (1) Against the recording, with the documented tolerances (docs/fidelity.md), measured on the
recording machine, where the pix2pix replay was bitwise; on another CPU the same torch build rounds differently in
its kernels (on a 2-core AMD EPYC with AVX2 the iteration-1 pix2pix losses are bitwise only under
``ATEN_CPU_CAPABILITY=default``, and the backward differs even then), so this comparison is not bitwise. Measured
there: losses within 1.9e-6 (one unit in the last place of CycleGAN's loss_G, 17.1), gradients within 6.3e-6,
every element with a real first gradient within 2e-5 after iteration 1, and after the last iteration 7 of 61,634
such elements of StarGAN's G beyond 2e-5 (none for the other files), each within the hard bound ``2 lr t``: Adam
turns rounding differences into steps of about ``lr`` where a later gradient has shrunk to noise.
``OUTLIER_SHARE`` (1e-3) allows 61 there. (2) Against the official order of operations restated in plain
PyTorch (tests/official_loops.py), run from the same weights on the same machine: bit for bit.

``GANLIT_OFFICIAL_GOLDENS=/some/folder`` replays another set of files recorded the same way (e.g. another seed).
"""

from __future__ import annotations

import copy
import math
import os
import shutil
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

import official_loops

from ganlit.hub import load_official
from ganlit.models.cyclegan import CycleGAN
from ganlit.models.pix2pix import Pix2Pix
from ganlit.models.stargan import StarGAN

HERE = Path(__file__).resolve().parent / "goldens" / "official_training"
FILES = ["pix2pix", "cyclegan", "stargan", "stargan_ncritic2"]
# Official loss name -> ganlit's logged key (every other official name is logged as it is).
LOGGED = {"loss_D": "d_loss", "loss_G": "g_loss"}
# The tolerances of docs/fidelity.md (measured: CycleGAN/StarGAN losses within 2e-6, gradients within 1e-6).
LOSS_TOL, GRAD_TOL = {"rtol": 1e-5, "atol": 1e-6}, {"rtol": 1e-4, "atol": 1e-5}
PARAM_ATOL, GRAD_MASK = 2e-5, 1e-5
# Elements (of those with |official first gradient| >= GRAD_MASK) allowed beyond PARAM_ATOL after K iterations.
OUTLIER_SHARE = 1e-3


def goldens_dir() -> Path:
    return Path(os.environ.get("GANLIT_OFFICIAL_GOLDENS") or HERE)


def load_golden(name: str) -> dict[str, Any]:
    path = goldens_dir() / f"{name}.pt"
    if not path.is_file():
        env = os.environ.get("GANLIT_OFFICIAL_GOLDENS")
        raise FileNotFoundError(f"{path}: no such golden file (GANLIT_OFFICIAL_GOLDENS={env!r})")
    golden = torch.load(path, map_location="cpu", weights_only=True)
    assert golden["format_version"] == 1, f"{path}: format_version {golden['format_version']}, expected 1"
    return golden


def decode(u8: Tensor) -> Tensor:
    """The official transform of an 8-bit image, ToTensor + Normalize(0.5, 0.5), bitwise."""
    return (u8.float() / 255 - 0.5) / 0.5


pytestmark = pytest.mark.usefixtures("one_thread")  # the goldens were recorded with one thread


# ----------------------------------------------------------------------------- ganlit's module from the options
class RecordsLogs:
    """Keeps what the module logs, per iteration (1-based), as sent to ``log_dict``."""

    def log_dict(self, dictionary, *args, **kwargs):
        logged = self.__dict__.setdefault("logged", {}).setdefault(int(self.iteration) + 1, {})
        logged.update({k: v.detach().clone() for k, v in dictionary.items() if torch.is_tensor(v)})
        return super().log_dict(dictionary, *args, **kwargs)


class ReplayPix2Pix(RecordsLogs, Pix2Pix):
    pass


class ReplayCycleGAN(RecordsLogs, CycleGAN):
    pass


class ReplayStarGAN(RecordsLogs, StarGAN):
    """Takes the target permutation and the penalty's alpha of each iteration from the recording."""

    recorded: list[dict[str, Tensor]] = []

    def sample_target_labels(self, labels: Tensor) -> Tensor:
        return labels[self.recorded[int(self.iteration)]["rand_idx"]]

    def gp_alpha(self, real: Tensor) -> Tensor:
        return self.recorded[int(self.iteration)]["alpha"].to(real)


def _from_file(kind: str, sd: dict[str, Tensor], tmp_path: Path, name: str, **kw: Any) -> nn.Module:
    path = tmp_path / f"{name}.pth"
    torch.save(sd, path)
    return load_official(kind, path, **kw)


def _strict_copy(dst: nn.Module, src: nn.Module) -> None:
    assert {k: v.shape for k, v in dst.state_dict().items()} == {k: v.shape for k, v in src.state_dict().items()}
    dst.load_state_dict(src.state_dict(), strict=True)


def _betas(golden: dict) -> tuple[float, float]:
    betas = {tuple(golden["optimizer"][p]["betas"]) for p in ("G", "D")}
    assert len(betas) == 1 and all(golden["optimizer"][p]["weight_decay"] == 0 for p in ("G", "D"))
    return betas.pop()


def _n_layers(c: dict) -> int:
    assert c["netD"] in ("basic", "n_layers"), f"netD {c['netD']!r}: only the PatchGAN is replayed"
    return 3 if c["netD"] == "basic" else c["n_layers_D"]


def build_pix2pix(golden: dict, tmp_path: Path) -> tuple[L.LightningModule, dict[str, nn.Module], list[dict]]:
    c = golden["config"]
    assert c["netG"].startswith("unet_") and c["direction"] == "AtoB" and c["pool_size"] == 0
    assert c["input_nc"] == c["output_nc"]
    model = ReplayPix2Pix(
        channels=c["input_nc"], image_size=c["crop_size"], ngf=c["ngf"], num_downs=int(math.log2(int(c["netG"][5:]))),
        norm=c["norm"], use_dropout=not c["no_dropout"], ndf=c["ndf"], n_layers=_n_layers(c), d_norm=c["norm"],
        lambda_l1=c["lambda_L1"], loss=c["gan_mode"], lr_g=c["lr"], lr_d=c["lr"], betas=_betas(golden),
        lr_constant=c["n_epochs"], lr_decay=c["n_epochs_decay"],
    )
    init = golden["init"]
    official_g = _from_file("pix2pix", init["netG"], tmp_path, "netG", use_dropout=not c["no_dropout"])
    _strict_copy(model.generator, official_g)
    model.discriminator.load_state_dict(init["netD"], strict=True)
    batches = [{"A": decode(b["A_u8"]), "B": decode(b["B_u8"])} for b in golden["batches"]]
    return model, {"netG": model.generator, "netD": model.discriminator}, batches


def build_cyclegan(golden: dict, tmp_path: Path) -> tuple[L.LightningModule, dict[str, nn.Module], list[dict]]:
    c = golden["config"]
    assert c["netG"].startswith("resnet_") and c["direction"] == "AtoB"
    model = ReplayCycleGAN(
        channels=c["input_nc"], channels_b=c["output_nc"], ngf=c["ngf"],
        n_blocks=int(c["netG"][len("resnet_"):].removesuffix("blocks")), ndf=c["ndf"], n_layers=_n_layers(c),
        norm=c["norm"], use_dropout=not c["no_dropout"], lambda_a=c["lambda_A"], lambda_b=c["lambda_B"],
        lambda_identity=c["lambda_identity"], gan_loss=c["gan_mode"], pool_size=c["pool_size"], lr_g=c["lr"],
        lr_d=c["lr"], betas=_betas(golden), lr_constant=c["n_epochs"], lr_decay=c["n_epochs_decay"],
    )
    # Official names: netG_A maps A to B, netD_A judges domain B.
    nets = {"netG_A": model.generators["A2B"], "netG_B": model.generators["B2A"],
            "netD_A": model.discriminators["B"], "netD_B": model.discriminators["A"]}
    for name in ("netG_A", "netG_B"):
        _strict_copy(nets[name], _from_file("cyclegan", golden["init"][name], tmp_path, name))
    for name in ("netD_A", "netD_B"):
        nets[name].load_state_dict(golden["init"][name], strict=True)
    batches = [{"A": decode(b["A_u8"]), "B": decode(b["B_u8"])} for b in golden["batches"]]
    return model, nets, batches


def build_stargan(golden: dict, tmp_path: Path, cls: type = ReplayStarGAN):
    c = golden["config"]
    assert c["dataset"] in ("CelebA", "RaFD"), f"dataset {c['dataset']!r}: only one dataset at a time is replayed"
    generator = _from_file("stargan", golden["init"]["G"], tmp_path, "G")
    model = cls.from_generator(
        generator, c["selected_attrs"] if c["dataset"] == "CelebA" else [f"class{i}" for i in range(c["c_dim"])],
        image_size=c["image_size"], single_label=c["dataset"] == "RaFD", d_conv_dim=c["d_conv_dim"],
        d_repeat_num=c["d_repeat_num"], lambda_cls=c["lambda_cls"], lambda_rec=c["lambda_rec"],
        lambda_gp=c["lambda_gp"], lr_g=c["g_lr"], lr_d=c["d_lr"], betas=(c["beta1"], c["beta2"]),
        n_critic=c["n_critic"], lr_update_step=c["lr_update_step"],
        lr_constant=max(0, c["num_iters"] - c["num_iters_decay"]), lr_decay=c["num_iters_decay"],
    )
    assert model.generator.main[0].out_channels == c["g_conv_dim"] and model.num_attrs == c["c_dim"]
    model.discriminator.load_state_dict(golden["init"]["D"], strict=True)
    model.recorded = golden["batches"]
    batches = [{"image": decode(b["x_real_u8"]), "label": b["label_org"]} for b in golden["batches"]]
    return model, {"G": model.generator, "D": model.discriminator}, batches


BUILD = {"pix2pix": build_pix2pix, "cyclegan": build_cyclegan, "stargan": build_stargan}


# ----------------------------------------------------------------------------- the replay
class Snapshots(L.Callback):
    """First-step gradients of each optimizer (just before its step) and the nets after every iteration."""

    def __init__(self, nets: dict[str, nn.Module]) -> None:
        self.nets = nets
        self.grads: dict[str, dict[str, dict[str, Tensor]]] = {}
        self.grads_iteration: dict[str, int] = {}
        self.after: dict[int, dict[str, dict[str, Tensor]]] = {}
        self.lr: dict[str, float] = {}

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        first = optimizer.param_groups[0]["params"][0]
        phase = "G" if any(first is p for p in pl_module.g_nets.parameters()) else "D"
        if phase in self.grads_iteration:
            return
        self.grads_iteration[phase] = int(pl_module.iteration) + 1
        owned = {id(p) for group in optimizer.param_groups for p in group["params"]}
        for name, net in self.nets.items():
            if all(id(p) in owned for p in net.parameters()):
                self.grads[name] = {k: p.grad.detach().clone() for k, p in net.named_parameters()}
                self.lr[name] = optimizer.param_groups[0]["lr"]

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.after[batch_idx + 1] = {name: {k: v.detach().clone() for k, v in net.state_dict().items()}
                                     for name, net in self.nets.items()}


def replay(model: L.LightningModule, batches: list[dict], nets: dict[str, nn.Module], tmp_path: Path,
           callbacks: list[L.Callback] = ()) -> Snapshots:
    snaps = Snapshots(nets)
    trainer = L.Trainer(
        accelerator="cpu", devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=1, num_sanity_val_steps=0,
        default_root_dir=tmp_path, callbacks=[snaps, *callbacks],
    )
    trainer.fit(model, DataLoader(batches, batch_size=None, shuffle=False))
    assert int(model.iteration) == len(batches)
    return snaps


def _close(actual: Tensor, expected: Tensor, what: str, **tol: float) -> None:
    torch.testing.assert_close(actual, expected, msg=lambda m: f"{what}: {m}", **tol)


def g_forwards(golden: dict, t: int) -> tuple[int, int]:
    """G forwards up to iteration t in the official loop and in ganlit's (G step: 3 vs 2; D only: 1 vs 1)."""
    g_steps = sum(not math.isnan(v) for v in golden["losses"]["g_loss"][:t].tolist())
    return t + 2 * g_steps, t + g_steps


def check_replay(golden: dict, model: L.LightningModule, snaps: Snapshots) -> dict[str, float]:
    """Assert the replay against the recording; returns the worst differences seen (for the record)."""
    k = golden["meta"]["K"]
    worst = {"loss": 0.0, "grad": 0.0, "param_masked": 0.0, "outliers": 0.0}
    # Every loss term of every iteration, under its official name; NaN: not computed in that iteration.
    for name, values in golden["losses"].items():
        key = f"train/{LOGGED.get(name, name)}"
        for t, value in enumerate(values, start=1):
            if math.isnan(value):
                assert key not in model.logged[t], f"{key} logged in iteration {t}, which has no official G step"
                continue
            assert key in model.logged[t], f"{key} not logged in iteration {t}; logged: {sorted(model.logged[t])}"
            _close(model.logged[t][key], value, f"{name} (iteration {t})", **LOSS_TOL)
            worst["loss"] = max(worst["loss"], abs(model.logged[t][key].item() - value.item()))
    # First-step gradients of every parameter (the sharpest check: before Adam).
    assert snaps.grads_iteration == golden["grads_iteration"]
    assert set(snaps.grads) == set(golden["grads"])
    for net, grads in golden["grads"].items():
        assert set(snaps.grads[net]) == set(grads)
        for p, g in grads.items():
            _close(snaps.grads[net][p], g, f"gradient {net}.{p}", **GRAD_TOL)
            worst["grad"] = max(worst["grad"], (snaps.grads[net][p] - g).abs().max().item())
    # Parameters and buffers after iteration 1 and after K.
    assert set(snaps.lr.values()) == {golden["optimizer"][phase]["lr"] for phase in ("G", "D")}
    assert sorted(golden["after"]) == [1, k]
    for t, state in golden["after"].items():
        official_g, ganlit_g = g_forwards(golden, t) if golden["model"] == "stargan" else (0, 0)
        for net, sd in state.items():
            ours, params = snaps.after[t][net], dict(snaps.nets[net].named_parameters())
            lr = snaps.lr[net]
            assert set(ours) == set(sd)
            masked_total, outliers = 0, 0
            for key, expected in sd.items():
                what = f"{net}.{key} after iteration {t}"
                if key in params:
                    diff = (ours[key] - expected).abs()
                    # Adam turns zero-in-exact-arithmetic gradients (rounding noise) into steps of about lr.
                    assert diff.max() <= 2 * lr * t, f"{what}: max |diff| {diff.max():.3g} > 2 lr t = {2 * lr * t:.3g}"
                    masked = diff[golden["grads"][net][key].abs() >= GRAD_MASK]
                    masked_total += masked.numel()
                    outliers += int((masked > PARAM_ATOL).sum())
                    if t == 1 and masked.numel():
                        worst["param_masked"] = max(worst["param_masked"], masked.max().item())
                elif key.endswith(("running_mean", "running_var")) and official_g != ganlit_g:
                    continue  # StarGAN's G InstanceNorm statistics: updated per G forward, never used by either code
                else:
                    _close(ours[key], expected, what, rtol=1e-5, atol=1e-6)
            # After one step every element with a real gradient agrees; later, rounding differences between CPUs can
            # reach an element whose gradient has since shrunk to noise: a few per 10,000 may exceed PARAM_ATOL.
            allowed = 0 if t == 1 else int(OUTLIER_SHARE * masked_total)
            assert outliers <= allowed, f"{net} after iteration {t}: {outliers} of {masked_total} off by > 2e-5"
            if t == k:
                worst["outliers"] = max(worst["outliers"], outliers / max(masked_total, 1))
    return worst


@pytest.mark.parametrize("name", FILES)
def test_official_training_iterations_replay(name, tmp_path):
    golden = load_golden(name)
    model, nets, batches = BUILD[golden["model"]](golden, tmp_path)
    training_forwards: list[bool] = []
    if golden["model"] == "stargan":  # count G's forwards: the one documented difference from the official loop
        model.generator.register_forward_hook(lambda net, args, out: training_forwards.append(net.training))
    snaps = replay(model, batches, nets, tmp_path)
    check_replay(golden, model, snaps)
    if golden["model"] == "stargan":
        # One per iteration plus one per G step (the official loop: two per G step).
        assert sum(training_forwards) == g_forwards(golden, golden["meta"]["K"])[1]


def test_stargan_default_draws_are_the_official_ones(tmp_path):
    """With the default hooks and torch's RNG set to the recorded state before each iteration, ganlit draws the
    official target permutation and gradient-penalty alpha (randperm, then rand), so the replay holds unchanged."""
    golden = load_golden("stargan")
    drawn: list[tuple[Tensor, Tensor]] = []

    class Draws(RecordsLogs, StarGAN):
        def sample_target_labels(self, labels):
            drawn.append((super().sample_target_labels(labels), None))
            return drawn[-1][0]

        def gp_alpha(self, real):
            drawn[-1] = (drawn[-1][0], super().gp_alpha(real))
            return drawn[-1][1]

    class RecordedRng(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            torch.set_rng_state(golden["batches"][batch_idx]["rng_state"])

    model, nets, batches = build_stargan(golden, tmp_path, cls=Draws)
    snaps = replay(model, batches, nets, tmp_path, callbacks=[RecordedRng()])
    assert len(drawn) == len(golden["batches"])
    for (labels, alpha), b in zip(drawn, golden["batches"]):
        assert torch.equal(labels, b["label_trg"]) and torch.equal(alpha, b["alpha"])
    check_replay(golden, model, snaps)


def test_goldens_folder_comes_from_the_environment(tmp_path, monkeypatch):
    """GANLIT_OFFICIAL_GOLDENS names the folder replayed: a copy replays the same; a missing file is named."""
    folder = tmp_path / "other_seed"
    folder.mkdir()
    shutil.copy(HERE / "pix2pix.pt", folder / "pix2pix.pt")
    monkeypatch.setenv("GANLIT_OFFICIAL_GOLDENS", str(folder))
    assert goldens_dir() == folder
    golden = load_golden("pix2pix")
    model, nets, batches = build_pix2pix(golden, tmp_path)
    check_replay(golden, model, replay(model, batches, nets, tmp_path))
    with pytest.raises(FileNotFoundError, match=rf"{folder / 'cyclegan.pt'}: no such golden file"):
        load_golden("cyclegan")
    monkeypatch.delenv("GANLIT_OFFICIAL_GOLDENS")
    assert goldens_dir() == HERE


@pytest.mark.parametrize("name", FILES)
def test_lightning_iteration_is_bitwise_the_official_order(name, tmp_path):
    """On one machine, ganlit's Lightning iteration and the official order of operations restated in plain PyTorch
    (tests/official_loops.py), from the same weights, agree bit for bit: losses, first gradients, parameters and
    buffers. So the rounding differences to the recording come from the CPU's kernels, not from ganlit."""
    golden = load_golden(name)
    model, nets, batches = BUILD[golden["model"]](golden, tmp_path)
    copies = {k: copy.deepcopy(net) for k, net in nets.items()}
    if golden["model"] == "stargan":
        losses, grads, after = official_loops.stargan(golden, copies, batches, golden["batches"])
    else:
        losses, grads, after = getattr(official_loops, golden["model"])(golden, copies, batches)
    snaps = replay(model, batches, nets, tmp_path)
    for loss, values in losses.items():
        key = f"train/{LOGGED.get(loss, loss)}"
        ours = [model.logged[t][key].item() if key in model.logged[t] else math.nan for t in range(1, len(values) + 1)]
        assert ours == pytest.approx(values, rel=0, abs=0, nan_ok=True), loss
    for net, tensors in grads.items():
        for p, g in tensors.items():
            assert torch.equal(snaps.grads[net][p], g), f"gradient {net}.{p}"
    for t in (1, len(batches)):
        for net, sd in after[t].items():
            for key, value in sd.items():
                if golden["model"] == "stargan" and key.endswith(("running_mean", "running_var")):
                    if g_forwards(golden, t)[0] != g_forwards(golden, t)[1]:
                        continue  # G's InstanceNorm statistics: one more G forward per G step in the official loop
                assert torch.equal(snaps.after[t][net][key], value), f"{net}.{key} after iteration {t}"
