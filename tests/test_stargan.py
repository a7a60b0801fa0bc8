"""StarGAN (Choi et al. 2018): schedule, cadence, WGAN-GP, losses, official weights, recipes (the test label sets:
tests/test_attributes.py)."""

import pytest
import torch
from recipes_util import run_recipe
from torch import nn
from toy import trainer

from ganlit.attributes import official_test_labels
from ganlit.hub import load_official
from ganlit.models.stargan import StarGAN
from ganlit.networks.stargan import StarGANGenerator

ATTRS5 = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]


def tiny(**kw) -> StarGAN:
    """16 px, 5 attributes, narrow nets: fast enough for the loop tests."""
    torch.manual_seed(0)
    kw = {"image_size": 16, "conv_dim": 4, "repeat_num": 1, "d_repeat_num": 3, **kw}
    return StarGAN(**kw)


def batch(n: int = 4, k: int = 5, size: int = 16) -> dict:
    g = torch.Generator().manual_seed(1)
    return {"image": torch.rand(n, 3, size, size, generator=g) * 2 - 1,
            "label": (torch.rand(n, k, generator=g) < 0.5).float()}


class Loader(torch.utils.data.Dataset):
    def __init__(self, n: int, k: int = 5) -> None:
        self.b = batch(n, k)

    def __len__(self) -> int:
        return len(self.b["image"])

    def __getitem__(self, i: int) -> dict:
        return {"image": self.b["image"][i], "label": self.b["label"][i]}


def loader(n: int, batch_size: int = 2):
    return torch.utils.data.DataLoader(Loader(n), batch_size=batch_size)


# ----------------------------------------------------------------------------- paper defaults
def test_defaults_are_the_papers():
    m = StarGAN()
    assert sum(p.numel() for p in m.generator.parameters()) == 8_430_528
    assert sum(p.numel() for p in m.discriminator.parameters()) == 44_762_048
    assert (m.lr_g, m.lr_d, m.betas) == (1e-4, 1e-4, (0.5, 0.999))
    assert m.pattern == ["D", "D", "D", "D", "DG"]
    assert (m.lambda_cls, m.lambda_rec, m.lambda_gp) == (1.0, 10.0, 10.0)
    assert (m.lr_constant, m.lr_decay, m.lr_update_step, m.schedule_unit) == (100_000, 100_000, 1000, "iteration")
    assert m.attr_names == ATTRS5 and not m.single_label
    assert m.generator.use_batch_stats  # the official test normalises each image by its own statistics


def test_attr_names_must_match_num_attrs():
    with pytest.raises(ValueError, match="num_attrs=3 but attr_names has 5"):
        tiny(num_attrs=3, attr_names=ATTRS5)


# ----------------------------------------------------------------------------- schedule
def test_schedule_values_official_and_linear():
    m = StarGAN.__new__(StarGAN)  # lr_lambda only reads these four attributes
    m.lr_constant, m.lr_decay, m.lr_update_step, m.lr_schedule = 100_000, 100_000, 1000, "official"
    assert [m.lr_lambda(t) for t in (0, 100_000, 100_999)] == [1.0, 1.0, 1.0]
    assert m.lr_lambda(101_000) == pytest.approx(1 - 1e-5)
    assert m.lr_lambda(150_500) == pytest.approx(1 - 50e-5)
    assert m.lr_lambda(200_000) == pytest.approx(0.999)  # the official decay only ever removes 0.1 %
    m.lr_schedule = "linear"
    assert m.lr_lambda(100_999) == 1.0
    assert m.lr_lambda(101_000) == pytest.approx(0.99)
    assert m.lr_lambda(150_000) == pytest.approx(0.5)
    assert m.lr_lambda(200_000) == 0.0


def official_lrs(lr: float, num_iters: int, num_iters_decay: int, lr_update_step: int) -> list[float]:
    """The learning rate of each iteration of the official solver's loop (its decay rule, re-stated)."""
    used, current = [], lr
    for i in range(num_iters):
        used.append(current)
        if (i + 1) % lr_update_step == 0 and (i + 1) > (num_iters - num_iters_decay):
            current -= lr / float(num_iters_decay)
    return used


@pytest.mark.parametrize("schedule", ["official", "linear"])
def test_schedule_through_training_matches_the_official_loop(tmp_path, schedule):
    m = tiny(lr_g=0.5, lr_d=0.5, lr_constant=4, lr_decay=6, lr_update_step=2, lr_schedule=schedule, n_critic=1)
    seen = []
    d_loss = m.discriminator_loss

    def spy(b, out):
        seen.append(m.optimizers()[1].param_groups[0]["lr"])
        return d_loss(b, out)

    m.discriminator_loss = spy
    trainer(tmp_path, max_epochs=1).fit(m, loader(20))
    if schedule == "official":
        assert seen == pytest.approx(official_lrs(0.5, 10, 6, 2))
        # Decrements of lr / 6 after iterations 6 and 8 (past 10 - 6 = 4, multiples of 2): the last one runs at 2/3.
        assert seen[-1] == pytest.approx(0.5 * (1 - 2 / 6))
    else:
        assert seen == pytest.approx([0.5] * 6 + [0.5 * (1 - 2 / 6)] * 2 + [0.5 * (1 - 4 / 6)] * 2)


# ----------------------------------------------------------------------------- cadence
def test_one_g_step_per_five_d_steps(tmp_path):
    m = tiny()
    calls = []
    for name in ("discriminator_loss", "generator_loss"):
        f = getattr(m, name)
        setattr(m, name, lambda b, out, f=f, p=name[0].upper(): (calls.append((p, int(m.iteration))), f(b, out))[1])
    g0 = [p.detach().clone() for p in m.generator.parameters()]
    t = trainer(tmp_path, max_epochs=1)
    t.fit(m, loader(20))
    assert [c for c in calls if c[0] == "G"] == [("G", 4), ("G", 9)]
    assert [c for c in calls if c[0] == "D"] == [("D", i) for i in range(10)]
    assert calls.index(("D", 4)) < calls.index(("G", 4))  # D first, as the official loop
    # global_step counts optimizer steps: 10 iterations = 10 D + 2 G (the recipes' max_steps rests on this).
    assert t.global_step == 12 and int(m.iteration) == 10
    assert any(not torch.equal(a, b) for a, b in zip(g0, m.generator.parameters()))


# ----------------------------------------------------------------------------- losses
class LinearCritic(nn.Module):
    """D_src(x) = sum(w * x) per image (gradient w everywhere); D_cls(x) = a fixed nonlinear function of x."""

    def __init__(self, w: float, k: int = 5) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))
        self.k = k

    def forward(self, x):
        src = (self.w * x).sum((1, 2, 3))[:, None, None, None]
        cls = (x.flatten(1)[:, : self.k] ** 2) * 3.0  # would change the penalty if it were included
        return src, cls


def test_gradient_penalty_hand_case_through_the_d_loss():
    m = tiny()
    m.discriminator = LinearCritic(0.25)
    b = batch(3)
    fake = torch.zeros_like(b["image"])
    loss, logs = m.discriminator_loss(b, {"fake": fake})
    # ||grad||_2 = 0.25 * sqrt(3 * 16 * 16) = 4 * sqrt(3) at every interpolate, whatever alpha:
    # GP = (4 sqrt(3) - 1)^2 = 49 - 8 sqrt(3) = 35.1436.
    gp = 49 - 8 * 3 ** 0.5
    assert logs["d_loss_gp"].item() == pytest.approx(gp, rel=1e-5)
    real_src = 0.25 * b["image"].sum((1, 2, 3))
    cls = F_bce_sum(3.0 * b["image"].flatten(1)[:, :5] ** 2, b["label"]) / 3
    assert logs["d_loss_real"].item() == pytest.approx(-real_src.mean().item(), rel=1e-5)
    assert logs["d_loss_fake"].item() == pytest.approx(0.0, abs=1e-6)
    assert logs["d_loss_cls"].item() == pytest.approx(cls.item(), rel=1e-5)
    assert loss.item() == pytest.approx(-real_src.mean().item() + cls.item() + 10 * gp, rel=1e-5)


def F_bce_sum(logits, target):
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="sum")


class QuadraticCritic(nn.Module):
    """D_src(x) = 0.5 * ||x||^2 per image: the gradient at x_hat is x_hat itself."""

    def forward(self, x):
        return 0.5 * (x ** 2).sum((1, 2, 3))[:, None, None, None], x.flatten(1)[:, :5]


def test_gradient_penalty_uses_one_alpha_per_sample():
    m = tiny()
    m.discriminator = QuadraticCritic()
    n = 4
    real = torch.ones(n, 3, 16, 16) / 16.0  # ||real|| = sqrt(768) / 16
    fake = torch.zeros(n, 3, 16, 16)
    torch.manual_seed(7)
    gp = m.gradient_penalty(real, fake)
    torch.manual_seed(7)
    alpha = torch.rand(n)
    norms = alpha * (768 ** 0.5) / 16.0  # ||alpha * real + (1 - alpha) * 0||
    assert len(set(alpha.tolist())) == n
    assert gp.item() == pytest.approx(((norms - 1) ** 2).mean().item(), rel=1e-5)


class AddLabelG(nn.Module):
    """G(x, c) = 0.5 * x + mean(c): a stub whose outputs are easy to state."""

    c_dim = 5

    def forward(self, x, c):
        return 0.5 * x + c.mean(1)[:, None, None, None]


def test_generator_loss_composition():
    m = tiny()
    m.generator, m.discriminator = AddLabelG(), QuadraticCritic()
    b = batch(3)
    x, c_org = b["image"], b["label"]
    c_trg = c_org.flip(0)
    fake = m.generator(x, c_trg)
    loss, logs = m.generator_loss(b, {"fake": fake, "c_trg": c_trg})
    rec = 0.5 * fake + c_org.mean(1)[:, None, None, None]
    adv = -(0.5 * (fake ** 2).sum((1, 2, 3))).mean()
    cls = F_bce_sum(fake.flatten(1)[:, :5], c_trg) / 3
    l1 = (x - rec).abs().mean()
    assert logs["g_loss_fake"].item() == pytest.approx(adv.item(), rel=1e-5)
    assert logs["g_loss_cls"].item() == pytest.approx(cls.item(), rel=1e-5)
    assert logs["g_loss_rec"].item() == pytest.approx(l1.item(), rel=1e-5)
    assert loss.item() == pytest.approx(adv.item() + 10 * l1.item() + 1 * cls.item(), rel=1e-5)


def test_single_label_uses_cross_entropy():
    m = tiny(num_attrs=3, attr_names=["angry", "happy", "sad"], single_label=True)
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    one_hot = torch.tensor([[0.0, 0, 1], [0.0, 1, 0]])
    expected = torch.nn.functional.cross_entropy(logits, torch.tensor([2, 1]))
    assert m.classification_loss(logits, one_hot).item() == pytest.approx(expected.item())
    multi = tiny(num_attrs=3, attr_names=["a", "b", "c"])
    assert multi.classification_loss(logits, one_hot).item() == pytest.approx(F_bce_sum(logits, one_hot).item() / 2)


def test_targets_are_the_batch_labels_permuted():
    m = tiny()
    b = batch(6)
    b["label"] = torch.eye(6)[:, :5]  # six distinct rows
    torch.manual_seed(3)
    out = m.forward_step(b)
    torch.manual_seed(3)
    perm = torch.randperm(6)
    assert torch.equal(out["c_trg"], b["label"][perm])


def test_randomness_hooks_default_to_randperm_then_rand_and_can_be_overridden():
    m = tiny()
    m.discriminator = QuadraticCritic()
    b = batch(4)
    b["label"] = torch.eye(5)[:4]
    torch.manual_seed(5)
    out = m.forward_step(b)
    gp = m.gradient_penalty(b["image"], out["fake"].detach())
    torch.manual_seed(5)
    perm, alpha = torch.randperm(4), torch.rand(4, 1, 1, 1)  # the official draws, in the official order
    assert torch.equal(out["c_trg"], b["label"][perm])
    x_hat = alpha * b["image"] + (1 - alpha) * out["fake"].detach()  # QuadraticCritic: gradient = x_hat
    assert gp.item() == pytest.approx(((x_hat.flatten(1).norm(dim=1) - 1) ** 2).mean().item(), rel=1e-5)

    class Chosen(StarGAN):
        def sample_target_labels(self, labels):
            return labels.flip(0)

        def gp_alpha(self, real):
            return torch.zeros(real.size(0), 1, 1, 1)  # x_hat = fake

    c = Chosen(image_size=16, conv_dim=4, repeat_num=1, d_repeat_num=3)
    c.discriminator = QuadraticCritic()
    state = torch.get_rng_state()
    out = c.forward_step(b)
    fake = torch.zeros_like(b["image"])
    gp = c.gradient_penalty(b["image"], fake)
    assert torch.equal(torch.get_rng_state(), state)  # nothing drawn
    assert torch.equal(out["c_trg"], b["label"].flip(0)) and gp.item() == 1.0  # ||0|| - 1 squared


# ----------------------------------------------------------------------------- translation, samples, weights
def official_file(tmp_path, conv_dim=8, c_dim=5, repeat_num=2):
    """A G state dict in the official layout as old PyTorch saved it: no num_batches_tracked."""
    torch.manual_seed(0)
    net = StarGANGenerator(conv_dim, c_dim, repeat_num)
    for m in net.modules():  # non-trivial affine and running statistics
        if isinstance(m, nn.InstanceNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    sd = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert "main.1.running_mean" in sd and f"main.{8 + repeat_num}.main.4.weight" in sd
    path = tmp_path / "200000-G.ckpt"
    torch.save(sd, path)
    return path, net


def test_official_weights_load_and_translate_as_the_network(tmp_path):
    path, original = official_file(tmp_path)
    net = load_official("stargan", path)
    model = StarGAN.from_generator(net, ATTRS5, image_size=16, d_repeat_num=3)
    assert model.generator.main[0].out_channels == 8 and model.num_attrs == 5
    x = batch(2)["image"]
    c = torch.tensor([[0.0, 1, 0, 1, 0], [1.0, 0, 0, 0, 1]])
    running = model.generator.main[1].running_mean.clone()
    out = model.translate(x, target=c)
    original.train()  # the official test never calls eval(): per-image statistics
    with torch.no_grad():
        expected = original(x, c)
    assert torch.allclose(out, expected, atol=1e-6)
    assert torch.equal(model.generator.main[1].running_mean, running)  # translate never updates statistics
    assert model.generator.training  # the mode is restored
    # A dict of every attribute, or a partial one completed from the input's labels, gives the same labels.
    same = model.translate(x, target=dict(zip(ATTRS5, [0, 1, 0, 1, 0])))
    assert torch.allclose(same[0], expected[0], atol=1e-6)
    c_org = torch.tensor([[1.0, 0, 0, 0, 0]] * 2)
    partial = model.translate(x, target={"Blond_Hair": 1, "Black_Hair": 0, "Male": 1}, c_org=c_org)
    assert torch.allclose(partial[0], expected[0], atol=1e-6)
    with pytest.raises(ValueError, match="no value for"):
        model.translate(x, target={"Male": 1})
    with pytest.raises(ValueError, match="unknown attribute"):
        model.translate(x, target={"Bald": 1})


def test_translate_without_target_gives_the_official_test_row():
    m = tiny()
    b = batch(2)
    rows = m.translate(b["image"], c_org=b["label"])
    assert rows.shape == (2, 3, 16, 16 * 6)
    assert torch.equal(rows[..., :16], b["image"])
    for i, c in enumerate(official_test_labels(b["label"], ATTRS5)):
        assert torch.allclose(rows[..., 16 * (i + 1): 16 * (i + 2)], m.translate(b["image"], target=c), atol=1e-6)


def test_sample_grid_is_the_official_layout_of_the_first_batch():
    m = tiny(num_samples=3)
    assert m.sample_images() is None
    b = batch(4)
    m.on_train_batch_start(b, 0)
    m.on_train_batch_start(batch(4, size=16) | {"image": torch.zeros(4, 3, 16, 16)}, 1)  # kept from the first
    images, nrow = m.sample_images()
    assert nrow == 6 and images.shape == (3 * 6, 3, 16, 16)
    assert torch.allclose(images[6], (b["image"][1] + 1) / 2)  # row 1 starts with input 1
    sets = official_test_labels(b["label"][:3], ATTRS5)
    assert torch.allclose(images[6 + 4], (m.translate(b["image"][:3], target=sets[3])[1] + 1) / 2, atol=1e-6)


def test_evaluation_images_one_translation_per_image():
    m = tiny()
    b = batch(7)
    real, fake = m.evaluation_images(b)[""]
    assert torch.equal(real, b["image"]) and fake.shape == real.shape
    sets = official_test_labels(b["label"], ATTRS5)
    assert torch.allclose(fake[6], m.translate(b["image"], target=sets[1])[6], atol=1e-6)  # 6 mod 5 = 1
    # In an evaluation the target follows the item's global index, not its place in the batch (or the rank's shard).
    from ganlit.models.draws import ItemDraws

    _, shifted = m.evaluation_images(b, ItemDraws(0, range(13, 20)))[""]
    assert torch.allclose(shifted[0], m.translate(b["image"], target=sets[3])[0], atol=1e-6)  # 13 mod 5 = 3
    assert torch.allclose(shifted[6], m.translate(b["image"], target=sets[4])[6], atol=1e-6)  # 19 mod 5 = 4
    assert not torch.allclose(shifted[0], fake[0], atol=1e-4)


# ----------------------------------------------------------------------------- recipes
def grid_size(tmp_path):
    from PIL import Image

    (png,) = (tmp_path / "latest" / "samples").glob("iter_*.png")
    return Image.open(png).size


@pytest.mark.slow
def test_recipe_stargan_celeba(tmp_path):
    from fixtures_data import write_celeba_tree

    root = write_celeba_tree(tmp_path / "celeba", n=12)
    assert run_recipe("stargan.yaml", tmp_path, "--data.root", str(root), "--data.init_args.test_size", "4",
                      "--data.init_args.image_size", "64", "--data.init_args.num_workers", "0",
                      "--model.init_args.conv_dim", "8", "--model.init_args.repeat_num", "1") == 0
    # The test-layout grid of the first batch (8 training images): input + 5 attribute sets per row, 2 px padding,
    # under a 14 px margin naming the columns.
    assert grid_size(tmp_path) == (6 * 66 + 2, 14 + 8 * 66 + 2)


@pytest.mark.slow
def test_recipe_stargan_rafd(tmp_path):
    from fixtures_data import write_rafd_tree

    root = write_rafd_tree(tmp_path / "rafd", n_train=1, n_test=1)
    assert run_recipe("stargan_rafd.yaml", tmp_path, "--data.root", str(root), "--data.init_args.image_size", "64",
                      "--data.init_args.num_workers", "0", "--model.init_args.conv_dim", "8",
                      "--model.init_args.repeat_num", "1") == 0
    # 8 expressions linked from the class folders: input + 8 one-hot targets per row, 8 training images, the
    # columns named in a 14 px margin.
    assert grid_size(tmp_path) == (9 * 66 + 2, 14 + 8 * 66 + 2)
