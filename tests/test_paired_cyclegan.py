"""PairedCycleGAN module: networks and defaults, losses, positive pair, schedule, region crops, translate, recipe."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from fixtures_data import write_mt_tree
from recipes_util import run_recipe
from torch.utils.data import DataLoader

from ganlit.checkpoint import load_module
from ganlit import losses
from ganlit.histmatch import match_histograms
from ganlit.models import PairedCycleGAN
from ganlit.models.base import num_parameters
from ganlit.regions import crop_boxes, paste_boxes, region_boxes
from ganlit.networks.makeup import MakeupRemovalGenerator, MakeupTransferGenerator, StyleDiscriminator
from ganlit.networks.patchgan import PatchDiscriminator


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: a second thread mostly waits


TINY = dict(image_size=16, ngf=4, ndf=4, n_blocks_g=1, n_blocks_f=1, n_layers_d=1, n_layers_s=1)


def make_batch(n: int = 2, size: int = 16, seed: int = 0) -> dict:
    """x plain, y makeup, with (lips, skin, eyes) masks: lips a box, skin the rest of a face box, eyes empty."""
    g = torch.Generator().manual_seed(seed)
    x, y = torch.rand(n, 3, size, size, generator=g) * 2 - 1, torch.rand(n, 3, size, size, generator=g) * 2 - 1
    regions = torch.zeros(n, 3, size, size)
    regions[:, 1, 2:14, 2:14] = 1
    regions[:, 0, 9:12, 5:11], regions[:, 1, 9:12, 5:11] = 1, 0
    return {"x": x, "y": y, "x_regions": regions.clone(), "y_regions": regions.roll(1, dims=-1)}


def test_defaults_are_the_papers_configuration():
    with torch.device("meta"):
        model = PairedCycleGAN()
    assert set(model.generators) == {"G", "F"} and set(model.discriminators) == {"X", "Y", "S"}
    assert isinstance(model.generators["G"], MakeupTransferGenerator)
    assert isinstance(model.generators["F"], MakeupRemovalGenerator)
    assert isinstance(model.discriminators["X"], PatchDiscriminator)
    assert isinstance(model.discriminators["S"], StyleDiscriminator)
    # the official code: ResnetGenerator 6 blocks 7,837,699; 70x70 PatchGAN 2,764,737; D_S sees 6 channels (+3 * 64 * 16)
    assert num_parameters(model.generators["G"]) == 9_396_099
    assert num_parameters(model.generators["F"]) == 7_837_699
    assert num_parameters(model.discriminators["X"]) == num_parameters(model.discriminators["Y"]) == 2_764_737
    assert num_parameters(model.discriminators["S"]) == 2_764_737 + 3 * 64 * 16
    assert (model.lambda_adv, model.lambda_makeup, model.lambda_identity, model.lambda_style) == (0.1, 0.1, 1.0, 1.0)
    assert model.loss_mode == "lsgan" and model.pretrain_removal_epochs == 0 and model.parts == ["face"]
    assert (model.lr_g, model.lr_d, model.betas, model.pattern) == (2e-4, 2e-4, (0.5, 0.999), ["GD"])
    with pytest.raises(ValueError, match="regions"):
        PairedCycleGAN(regions=["nose"], **TINY)


def test_a_batch_carrying_the_warp_of_y_onto_x_gives_the_positive_pair():
    """The paper's positive is y warped onto x; a batch with ``y_on_x`` (the digits world) supplies it and the
    style discriminator sees exactly that, in place of the colour-only histogram matching."""
    torch.manual_seed(0)
    model, batch = PairedCycleGAN(**TINY), make_batch()
    batch["y_on_x"] = torch.rand_like(batch["x"]) * 2 - 1
    out = model.forward_step(batch)
    assert torch.equal(out["face/positive"], batch["y_on_x"])
    DS = model.discriminators["S"]
    _, logs = model.discriminator_loss(batch, out)
    expected = 0.5 * losses.d_loss("lsgan", DS(batch["y"], batch["y_on_x"]), DS(batch["y"], out["face/fake_y"].detach()))
    torch.testing.assert_close(logs["d_s"], expected)


def test_forward_step_shapes_and_the_positive_pair():
    torch.manual_seed(0)
    model, batch = PairedCycleGAN(**TINY), make_batch()
    out = model.forward_step(batch)
    for name in ("fake_x", "fake_y", "rec_x", "rec_y", "positive"):
        assert out[f"face/{name}"].shape == (2, 3, 16, 16), name
    # positive = y's colours matched onto x per region (skin, then lips, then eyes); untouched outside the regions
    expected = match_histograms(batch["x"], batch["y"], batch["x_regions"], batch["y_regions"], order=(1, 0, 2))
    assert torch.equal(out["face/positive"], expected)
    outside = batch["x_regions"].sum(1, keepdim=True).expand(-1, 3, -1, -1) == 0
    assert torch.equal(out["face/positive"][outside], batch["x"][outside])
    lips = batch["x_regions"][:, 0:1].bool().expand(-1, 3, -1, -1)
    assert not torch.equal(out["face/positive"][lips], batch["x"][lips])
    # the cycles: rec_x = F(G(x, y)), rec_y = G(F(y), G(x, y))
    G, Fr = model.generators["G"], model.generators["F"]
    torch.testing.assert_close(out["face/rec_x"], Fr(G(batch["x"], batch["y"])))
    torch.testing.assert_close(out["face/rec_y"], G(Fr(batch["y"]), G(batch["x"], batch["y"])))


def test_losses_are_the_weighted_sums_of_their_terms():
    torch.manual_seed(0)
    weights = dict(lambda_adv=0.3, lambda_makeup=0.7, lambda_identity=2.0, lambda_style=5.0)
    model, batch = PairedCycleGAN(**TINY, **weights), make_batch()
    out = model.forward_step(batch)
    g, logs = model.generator_loss(batch, out)
    expected = (0.3 * (logs["g_adv_g"] + logs["g_adv_f"]) + 0.7 * logs["g_makeup"]
                + 2.0 * logs["g_identity"] + 5.0 * logs["g_style"])
    torch.testing.assert_close(g, expected)
    torch.testing.assert_close(logs["g_identity"], (out["face/rec_x"] - batch["x"]).abs().mean())
    torch.testing.assert_close(logs["g_style"], (out["face/rec_y"] - batch["y"]).abs().mean())
    # LSGAN D loss, halved: 0.5 * (mean((D(real) - 1)^2) + mean(D(fake)^2))
    d, dlogs = model.discriminator_loss(batch, out)
    DS = model.discriminators["S"]
    real, fake = DS(batch["y"], out["face/positive"]), DS(batch["y"], out["face/fake_y"])
    torch.testing.assert_close(dlogs["d_s"], 0.5 * (((real - 1) ** 2).mean() + (fake ** 2).mean()))
    torch.testing.assert_close(d, dlogs["d_x"] + dlogs["d_y"] + dlogs["d_s"])
    # D losses see detached fakes; the G loss reaches both streams of G and F
    d.backward()
    assert all(p.grad is None for p in model.generators.parameters())
    g.backward()
    assert model.generators["G"].encoder_reference[1].weight.grad.abs().sum() > 0
    assert model.generators["G"].encoder_source[1].weight.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.generators["F"].parameters())


class Batches(torch.utils.data.Dataset):
    def __init__(self, n: int = 4, size: int = 16) -> None:
        self.items = [{k: v[0] for k, v in make_batch(1, size, seed=i).items()} for i in range(n)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


def fit(model: PairedCycleGAN, epochs: int, tmp_path, **kwargs) -> L.Trainer:
    trainer = L.Trainer(accelerator="cpu", max_epochs=epochs, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path, **kwargs)
    trainer.fit(model, DataLoader(Batches(), batch_size=2))
    return trainer


def snapshot(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def changed(module: torch.nn.Module, before: list[torch.Tensor]) -> bool:
    return any(not torch.equal(p, q) for p, q in zip(module.parameters(), before))


def test_removal_pretraining_trains_only_f_and_d_x(tmp_path):
    L.seed_everything(0)
    model = PairedCycleGAN(**TINY, pretrain_removal_epochs=1)
    assert model.pretraining
    out = model.forward_step(make_batch())
    assert set(out) == {"face/x", "face/y", "face/fake_x", "face/idt_x"}
    g, logs = model.generator_loss(make_batch(), out)
    assert set(logs) == {"g_adv_f", "g_pretrain_identity", "g_loss"}
    nets = {**model.generators, **model.discriminators}
    before = {k: snapshot(v) for k, v in nets.items()}
    moved = {}

    class AfterFirstEpoch(L.Callback):
        def on_train_epoch_end(self, trainer, module):
            if trainer.current_epoch == 0:
                moved.update({k: changed(v, before[k]) for k, v in nets.items()})

    trainer = fit(model, 2, tmp_path, callbacks=[AfterFirstEpoch()])  # epoch 1 runs the full objective
    assert moved == {"G": False, "F": True, "X": True, "Y": False, "S": False}
    assert not model.pretraining
    assert changed(model.generators["G"], before["G"]) and changed(model.discriminators["S"], before["S"])
    # the checkpoint rebuilds the module, sample faces included, and translates alike
    trainer.save_checkpoint(tmp_path / "last.ckpt")
    loaded = load_module(tmp_path / "last.ckpt")
    assert loaded.pretrain_removal_epochs == 1 and torch.equal(loaded.fixed_y, model.fixed_y)
    batch = make_batch(seed=5)
    torch.testing.assert_close(loaded.translate(batch["x"], reference=batch["y"]),
                               model.translate(batch["x"], reference=batch["y"]))


def test_region_boxes_crop_and_paste():
    masks = torch.zeros(3, 8, 10)
    masks[0, 2:5, 3:9] = 1
    masks[1, 7, 0] = 1
    boxes = region_boxes(masks)
    assert boxes.tolist() == [[3, 2, 9, 5], [0, 7, 1, 8], [0, 0, 10, 8]]  # x0, y0, x1, y1; empty: whole image
    images = torch.arange(2 * 3 * 8 * 8, dtype=torch.float).reshape(2, 3, 8, 8)
    box = torch.tensor([[2.0, 1.0, 6.0, 5.0], [0.0, 0.0, 8.0, 8.0]])
    crops = crop_boxes(images, box, 4)[:1]  # a 4x4 box cropped at 4 px is an exact copy
    torch.testing.assert_close(crops[0], images[0, :, 1:5, 2:6])
    pasted = paste_boxes(crops, box[:1], 8, 8)
    torch.testing.assert_close(pasted[0, :, 1:5, 2:6], images[0, :, 1:5, 2:6])
    full = crop_boxes(images, box, 8)[1:]  # the whole image at its own size: identity
    torch.testing.assert_close(full[0], images[1])
    # gradients flow from a crop back into the image
    src = images.clone().requires_grad_()
    crop_boxes(src, box, 4).sum().backward()
    assert src.grad[0, :, 1:5, 2:6].abs().sum() > 0 and src.grad[0, :, 6:].abs().sum() == 0


def test_per_region_networks_crops_and_blending(tmp_path):
    torch.manual_seed(0)
    model, batch = PairedCycleGAN(**TINY, regions=["lips", "skin"], crop_size=8), make_batch()
    assert set(model.generators) == {"G_lips", "F_lips", "G_skin", "F_skin"}
    assert set(model.discriminators) == {"X_lips", "Y_lips", "S_lips", "X_skin", "Y_skin", "S_skin"}
    out = model.forward_step(batch)
    assert out["lips/fake_y"].shape == out["skin/rec_y"].shape == (2, 3, 8, 8)
    g, logs = model.generator_loss(batch, out)
    assert {"g_style_lips", "g_style_skin", "g_identity_lips"} <= set(logs) and torch.isfinite(g)
    d, dlogs = model.discriminator_loss(batch, out)
    torch.testing.assert_close(d, sum(v for k, v in dlogs.items() if k != "d_loss"))
    # translation: outside every region the source is kept exactly; inside lips, G_lips' pasted crop
    xm, ym = batch["x_regions"], batch["y_regions"]
    fake = model.translate(batch["x"], reference=batch["y"], x_regions=xm, reference_regions=ym)
    outside = (xm[:, :2].sum(1, keepdim=True) == 0).expand(-1, 3, -1, -1)
    assert torch.equal(fake[outside], batch["x"][outside])
    bx, by = region_boxes(xm[:, 0]), region_boxes(ym[:, 0])
    lips_crop = model.generators["G_lips"](crop_boxes(batch["x"], bx, 8), crop_boxes(batch["y"], by, 8))
    lips = xm[:, 0:1].bool().expand(-1, 3, -1, -1)
    torch.testing.assert_close(fake[lips], paste_boxes(lips_crop, bx, 16, 16)[lips])
    with pytest.raises(ValueError, match="x_regions and reference_regions"):
        model.translate(batch["x"], reference=batch["y"])
    fit(model, 1, tmp_path, max_steps=2)  # one full iteration (G and D phases) through the Trainer


def test_translate_options():
    torch.manual_seed(0)
    model, batch = PairedCycleGAN(**TINY), make_batch(3)
    x, ref = batch["x"], torch.rand(1, 3, 24, 24) * 2 - 1
    out = model.translate(x, reference=ref)
    resized = torch.nn.functional.interpolate(ref, size=(16, 16), mode="bilinear", align_corners=False)
    torch.testing.assert_close(out, model.generators["G"](x, resized.expand(3, -1, -1, -1)))
    torch.testing.assert_close(model.translate(x, remove=True), model.generators["F"](x))
    torch.testing.assert_close(model.translate(x, direction="BtoA"), model.generators["F"](x))
    with pytest.raises(ValueError, match="reference face"):
        model.translate(x)
    with pytest.raises(ValueError, match="direction"):
        model.translate(x, direction="sideways", reference=ref)
    assert model.generators.training  # translate restores the training mode


def test_samples_and_evaluation_images():
    torch.manual_seed(0)
    model, batch = PairedCycleGAN(**TINY, num_samples=2), make_batch(3)
    assert model.sample_images() is None  # nothing seen yet
    model.on_train_batch_start(batch, 0)
    grid, nrow = model.sample_images()
    assert grid.shape == (8, 3, 16, 16) and nrow == 2 and 0 <= grid.min() and grid.max() <= 1
    # rows: sources, references, results, removals
    torch.testing.assert_close(grid[:2], (batch["x"][:2] + 1) / 2)
    torch.testing.assert_close(grid[2:4], (batch["y"][:2] + 1) / 2)
    result = model.translate(batch["x"][:2], reference=batch["y"][:2])
    torch.testing.assert_close(grid[4:6], (result.clamp(-1, 1) + 1) / 2)
    torch.testing.assert_close(grid[6:], (model.translate(batch["y"][:2], remove=True).clamp(-1, 1) + 1) / 2)
    evals = model.evaluation_images(batch)
    assert set(evals) == {"AtoB", "BtoA"}
    assert torch.equal(evals["AtoB"][0], batch["y"]) and evals["BtoA"][1].shape == (3, 3, 16, 16)


def test_recipe_fast_dev_run_on_an_mt_tree(tmp_path):
    root = write_mt_tree(tmp_path / "mt", size=32)
    small = ["--data.image_size=16", "--data.num_workers=0", "--model.ngf=4", "--model.ndf=4",
             "--model.n_blocks_g=1", "--model.n_blocks_f=1", "--model.n_layers_d=1", "--model.n_layers_s=1"]
    assert run_recipe("paired_cyclegan_makeup.yaml", tmp_path / "run", "--data.root", str(root), *small) == 0
