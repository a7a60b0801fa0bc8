"""StarGAN and DiscoGAN networks: exact sizes (counted from the official code), official key layouts, shapes and behaviour."""

from __future__ import annotations

import pytest
import torch

from ganlit.networks.discogan import DiscoGANDiscriminator, DiscoGANGenerator
from ganlit.networks.stargan import StarGANDiscriminator, StarGANGenerator


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def on_meta(cls, **kwargs):
    """Build full-size networks without allocating their weights: the count only needs shapes."""
    with torch.device("meta"):
        return cls(**kwargs)


@pytest.mark.parametrize(
    ("cls", "kwargs", "expected"),
    [
        (StarGANGenerator, {}, 8_430_528),
        (StarGANGenerator, {"c_dim": 8}, 8_439_936),
        (StarGANDiscriminator, {}, 44_762_048),
        (StarGANDiscriminator, {"image_size": 256}, 44_884_928),
        (StarGANDiscriminator, {"c_dim": 8}, 44_786_624),
        (DiscoGANGenerator, {}, 5_513_856),
        (DiscoGANDiscriminator, {}, 2_765_568),
    ],
)
def test_parameter_counts_match_reference(cls, kwargs, expected):
    assert n_params(on_meta(cls, **kwargs)) == expected


def _official_stargan_g_keys(repeat_num: int = 6, with_nbt: bool = True) -> list[str]:
    """Keys of the official ``<iter>-G.ckpt`` as the official code lays out of ``main``."""
    norm = ["weight", "bias", "running_mean", "running_var"] + (["num_batches_tracked"] if with_nbt else [])
    keys = ["main.0.weight"] + [f"main.1.{k}" for k in norm]
    for conv, bn in ((3, 4), (6, 7)):
        keys += [f"main.{conv}.weight"] + [f"main.{bn}.{k}" for k in norm]
    for block in range(9, 9 + repeat_num):
        for conv, bn in ((0, 1), (3, 4)):
            keys += [f"main.{block}.main.{conv}.weight"] + [f"main.{block}.main.{bn}.{k}" for k in norm]
    up = 9 + repeat_num
    for conv, bn in ((up, up + 1), (up + 3, up + 4)):
        keys += [f"main.{conv}.weight"] + [f"main.{bn}.{k}" for k in norm]
    return keys + [f"main.{up + 6}.weight"]


def test_stargan_generator_has_the_official_keys():
    keys = _official_stargan_g_keys()
    assert keys[-1] == "main.21.weight"  # the official layout's anchor for 6 blocks
    assert list(on_meta(StarGANGenerator).state_dict()) == keys


def test_stargan_generator_loads_an_old_official_file_strictly():
    """Old official checkpoints have no ``num_batches_tracked``: a strict load must still succeed."""
    torch.manual_seed(0)
    g = StarGANGenerator(conv_dim=8, c_dim=3, repeat_num=2)
    old = {k: torch.randn_like(v, dtype=torch.float32) for k, v in g.state_dict().items() if "num_batches" not in k}
    assert list(old) == _official_stargan_g_keys(repeat_num=2, with_nbt=False)
    g.load_state_dict(old, strict=True)
    torch.testing.assert_close(g.main[1].running_mean, old["main.1.running_mean"])


def test_stargan_discriminator_has_the_official_keys():
    expected = [f"main.{i}.{k}" for i in range(0, 12, 2) for k in ("weight", "bias")] + ["conv1.weight", "conv2.weight"]
    d = on_meta(StarGANDiscriminator)
    assert list(d.state_dict()) == expected
    assert d.conv2.kernel_size == (2, 2)  # image_size / 64
    assert on_meta(StarGANDiscriminator, image_size=256).conv2.kernel_size == (4, 4)


def test_stargan_generator_shape_and_range():
    torch.manual_seed(0)
    g = StarGANGenerator(conv_dim=8, c_dim=5, repeat_num=2)
    out = g(torch.randn(2, 3, 32, 32), torch.tensor([[1.0, 0, 0, 1, 1], [0, 1, 0, 0, 1]]))
    assert out.shape == (2, 3, 32, 32)
    assert out.abs().max() <= 1.0


def test_stargan_generator_tiles_the_label_over_space():
    torch.manual_seed(0)
    g = StarGANGenerator(conv_dim=8, c_dim=3, repeat_num=1)
    seen: dict[str, torch.Tensor] = {}

    def grab_input(module, inputs, output):
        seen.setdefault("input", inputs[0])

    g.main[0].register_forward_hook(grab_input)
    x, c = torch.randn(2, 3, 8, 12), torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    out_a = g(x, c)
    inp = seen["input"]
    assert inp.shape == (2, 6, 8, 12)
    torch.testing.assert_close(inp[:, :3], x)
    torch.testing.assert_close(inp[:, 3:], c[:, :, None, None].expand(2, 3, 8, 12))
    out_b = g(x, 1 - c)
    assert (out_a - out_b).abs().amax(dim=(1, 2, 3)).min() > 1e-4  # each image changes with its label


def test_stargan_generator_rejects_bad_labels():
    g = StarGANGenerator(conv_dim=8, c_dim=5, repeat_num=1)
    with pytest.raises(ValueError, match=r"expected \(2, 5\)"):
        g(torch.randn(2, 3, 16, 16), torch.zeros(2, 4))


def test_stargan_generator_eval_keeps_per_image_statistics():
    """The official test never calls eval(): eval() must give the train-mode output and not touch buffers."""
    torch.manual_seed(0)
    g = StarGANGenerator(conv_dim=8, c_dim=2, repeat_num=1)
    x, c = torch.randn(3, 3, 16, 16) * 2 + 0.5, torch.tensor([[1.0, 0], [0, 1], [1, 1]])
    with torch.no_grad():
        g.train()
        out_train = g(x, c)
        buffers = {k: v.clone() for k, v in g.state_dict().items() if "running" in k}
        g.eval()
        out_eval = g(x, c)
        out_single = g(x[1:2], c[1:2])
    torch.testing.assert_close(out_eval, out_train)
    torch.testing.assert_close(out_single, out_train[1:2])  # per image: the rest of the batch does not matter
    for k, v in buffers.items():
        torch.testing.assert_close(g.state_dict()[k], v)
    g.use_batch_stats = False  # running averages instead: a different output
    with torch.no_grad():
        assert not torch.allclose(g(x, c), out_train, atol=1e-3)
    assert all(not m.use_batch_stats for m in g.modules() if hasattr(m, "use_batch_stats") and m is not g)


def test_stargan_discriminator_shapes():
    torch.manual_seed(0)
    d = StarGANDiscriminator(image_size=64, conv_dim=8, c_dim=5)
    src, cls = d(torch.randn(2, 3, 64, 64))
    assert src.shape == (2, 1, 1, 1) and cls.shape == (2, 5)
    d128 = StarGANDiscriminator(image_size=128, conv_dim=4, c_dim=3)
    src, cls = d128(torch.randn(1, 3, 128, 128))
    assert src.shape == (1, 1, 2, 2) and cls.shape == (1, 3)  # 2x2 PatchGAN at 128 px
    with pytest.raises(ValueError, match="expected 64x64"):
        d(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match="multiple of 2\\*\\*repeat_num"):
        StarGANDiscriminator(image_size=100)


def test_discogan_official_layouts():
    g = on_meta(DiscoGANGenerator)
    assert [k for k in g.state_dict() if k.endswith("weight")] == [
        f"main.{i}.weight" for i in (0, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20)
    ]
    biased = [k[: -len(".bias")] for k in g.state_dict() if k.endswith(".bias")]
    assert all(isinstance(g.get_submodule(name), torch.nn.BatchNorm2d) for name in biased)  # bias-free convs
    d = on_meta(DiscoGANDiscriminator)
    assert [k for k in d.state_dict() if k.endswith("weight")] == [
        "conv1.weight", "conv2.weight", "bn2.weight", "conv3.weight",
        "bn3.weight", "conv4.weight", "bn4.weight", "conv5.weight",
    ]


def test_discogan_generator_shape_and_range():
    torch.manual_seed(0)
    g = DiscoGANGenerator(ngf=8)
    out = g(torch.rand(2, 3, 64, 64))
    assert out.shape == (2, 3, 64, 64)
    assert out.min() >= 0 and out.max() <= 1  # Sigmoid: data in [0, 1]
    assert DiscoGANGenerator(in_channels=1, out_channels=3, ngf=4)(torch.rand(2, 1, 32, 32)).shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="multiple of 16"):
        g(torch.rand(1, 3, 40, 40))


def test_discogan_discriminator_returns_logit_and_three_features():
    torch.manual_seed(0)
    d = DiscoGANDiscriminator(ndf=8)
    logit, feats = d(torch.rand(2, 3, 64, 64))
    assert logit.shape == (2, 1, 1, 1)
    assert [tuple(f.shape) for f in feats] == [(2, 16, 16, 16), (2, 32, 8, 8), (2, 64, 4, 4)]
    torch.testing.assert_close(logit, d.conv5(feats[-1]))  # raw logits: no Sigmoid after the last conv
    # feature matching backpropagates through the (in-place) activations
    sum(f.mean() for f in feats).backward()
    assert d.conv1.weight.grad is not None and d.conv1.weight.grad.abs().sum() > 0


def test_discogan_discriminator_small_images():
    d = DiscoGANDiscriminator(ndf=4, image_size=32)
    logit, feats = d(torch.rand(2, 3, 32, 32))
    assert logit.shape == (2, 1, 1, 1) and feats[-1].shape == (2, 32, 2, 2)
    with pytest.raises(ValueError, match="at least image_size=32"):
        d(torch.rand(2, 3, 16, 16))
