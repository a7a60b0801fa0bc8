"""pix2pix / CycleGAN networks: parameter counts, shapes, the official state-dict layout, size errors.

The ``official_*_layout`` helpers write down the official key names and shapes from the description of
the official code (counted from the official code), independently of ganlit's modules, and the ``reference_*`` functions
run those weights with ``torch.nn.functional`` alone. tests/test_hub.py reuses both.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganlit.networks.patchgan import PatchDiscriminator, PixelDiscriminator
from ganlit.networks.resnet import ResnetGenerator
from ganlit.networks.unet import UnetGenerator

Layout = dict[str, tuple[int, ...]]


# --- official layouts, written from the description of the official code -------------------------------


def _bn(prefix: str, c: int) -> Layout:
    return {f"{prefix}.{s}": (c,) for s in ("weight", "bias", "running_mean", "running_var")} | {
        f"{prefix}.num_batches_tracked": ()
    }


def official_resnet_layout(in_nc: int = 3, out_nc: int = 3, ngf: int = 64, n_blocks: int = 9) -> Layout:
    """CycleGAN ``resnet_Nblocks`` with InstanceNorm (no affine, so every conv has a bias), reflect, no dropout.

    Sequential indices: 0 pad, 1 conv7, 2 norm, 3 relu, 4/7 down convs, 10.. blocks (pad, conv, norm,
    relu, pad, conv, norm -> convs at 1 and 5), then convT, norm, relu twice, pad, conv7, tanh.
    """
    d = 4 * ngf
    lay: Layout = {"model.1.weight": (ngf, in_nc, 7, 7), "model.1.bias": (ngf,)}
    lay |= {"model.4.weight": (2 * ngf, ngf, 3, 3), "model.4.bias": (2 * ngf,)}
    lay |= {"model.7.weight": (d, 2 * ngf, 3, 3), "model.7.bias": (d,)}
    for b in range(10, 10 + n_blocks):
        for c in (1, 5):
            lay |= {f"model.{b}.conv_block.{c}.weight": (d, d, 3, 3), f"model.{b}.conv_block.{c}.bias": (d,)}
    up = 10 + n_blocks
    lay |= {f"model.{up}.weight": (d, 2 * ngf, 3, 3), f"model.{up}.bias": (2 * ngf,)}  # ConvT: (in, out, k, k)
    lay |= {f"model.{up + 3}.weight": (2 * ngf, ngf, 3, 3), f"model.{up + 3}.bias": (ngf,)}
    lay |= {f"model.{up + 7}.weight": (out_nc, ngf, 7, 7), f"model.{up + 7}.bias": (out_nc,)}
    return lay


def official_unet_layout(in_nc: int = 3, out_nc: int = 3, num_downs: int = 8, ngf: int = 64) -> Layout:
    """pix2pix ``unet_<size>`` with BatchNorm (bias-free convs but the last convT), one ``.model.3`` per level.

    Outermost: 0 down conv, 1 inner block, 2 relu, 3 convT (bias), 4 tanh. Middle: 0 lrelu, 1 conv, 2 norm,
    3 inner block, 4 relu, 5 convT, 6 norm. Innermost: 0 lrelu, 1 conv, 2 relu, 3 convT, 4 norm.
    """
    widths = [ngf, 2 * ngf, 4 * ngf, 8 * ngf] + [8 * ngf] * (num_downs - 4)  # outer width of each level
    lay: Layout = {
        "model.model.0.weight": (ngf, in_nc, 4, 4),
        "model.model.3.weight": (2 * ngf, out_nc, 4, 4),
        "model.model.3.bias": (out_nc,),
    }
    prefix = "model.model.1"
    for level in range(1, num_downs):
        outer, inner = widths[level - 1], widths[level]
        lay[f"{prefix}.model.1.weight"] = (inner, outer, 4, 4)
        if level == num_downs - 1:
            lay[f"{prefix}.model.3.weight"] = (inner, outer, 4, 4)
            lay |= _bn(f"{prefix}.model.4", outer)
        else:
            lay |= _bn(f"{prefix}.model.2", inner)
            lay[f"{prefix}.model.5.weight"] = (2 * inner, outer, 4, 4)
            lay |= _bn(f"{prefix}.model.6", outer)
        prefix += ".model.3"
    return lay


def official_patchgan_layout(in_nc: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "batch") -> Layout:
    """NLayerDiscriminator: conv (bias), lrelu, then (conv, norm, lrelu) x n_layers, conv -> 1 (bias)."""
    lay: Layout = {"model.0.weight": (ndf, in_nc, 4, 4), "model.0.bias": (ndf,)}
    width, idx = ndf, 2
    for n in range(1, n_layers + 1):
        out = ndf * min(2**n, 8)
        lay[f"model.{idx}.weight"] = (out, width, 4, 4)
        if norm == "instance":
            lay[f"model.{idx}.bias"] = (out,)
        else:
            lay |= _bn(f"model.{idx + 1}", out)
        width, idx = out, idx + 3
    lay |= {f"model.{idx}.weight": (1, width, 4, 4), f"model.{idx}.bias": (1,)}
    return lay


def random_state_dict(layout: Layout, seed: int = 0) -> dict[str, torch.Tensor]:
    """Weights for a layout: fan-in-scaled normals, positive running variances, integer counters."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for key, shape in layout.items():
        if key.endswith("num_batches_tracked"):
            sd[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            sd[key] = torch.rand(shape, generator=g) + 0.5
        else:
            fan = math.prod(shape[1:]) if len(shape) > 1 else 4
            sd[key] = torch.randn(shape, generator=g) / math.sqrt(fan)
    return sd


def shapes(module: nn.Module) -> Layout:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


# --- reference forwards with torch.nn.functional only ------------------------------------------------------


def reference_resnet(sd: dict[str, torch.Tensor], x: torch.Tensor, n_blocks: int) -> torch.Tensor:
    def conv(h, i, **kw):
        return F.conv2d(h, sd[f"{i}.weight"], sd[f"{i}.bias"], **kw)

    def norm_relu(h):
        return F.relu(F.instance_norm(h))

    h = norm_relu(conv(F.pad(x, [3] * 4, mode="reflect"), "model.1"))
    h = norm_relu(conv(h, "model.4", stride=2, padding=1))
    h = norm_relu(conv(h, "model.7", stride=2, padding=1))
    for b in range(10, 10 + n_blocks):
        r = norm_relu(conv(F.pad(h, [1] * 4, mode="reflect"), f"model.{b}.conv_block.1"))
        h = h + F.instance_norm(conv(F.pad(r, [1] * 4, mode="reflect"), f"model.{b}.conv_block.5"))
    for i in (10 + n_blocks, 13 + n_blocks):
        t = F.conv_transpose2d(h, sd[f"model.{i}.weight"], sd[f"model.{i}.bias"], 2, 1, output_padding=1)
        h = norm_relu(t)
    return torch.tanh(conv(F.pad(h, [3] * 4, mode="reflect"), f"model.{17 + n_blocks}"))


def _bn_eval(sd: dict[str, torch.Tensor], p: str, h: torch.Tensor) -> torch.Tensor:
    return F.batch_norm(h, sd[f"{p}.running_mean"], sd[f"{p}.running_var"], sd[f"{p}.weight"], sd[f"{p}.bias"])


def reference_unet_eval(sd: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The official U-Net in eval mode (running statistics, no dropout)."""

    def level(p: str, h: torch.Tensor) -> torch.Tensor:
        d = F.conv2d(F.leaky_relu(h, 0.2), sd[f"{p}.model.1.weight"], stride=2, padding=1)
        if f"{p}.model.2.weight" in sd:  # a middle level: norm, then the next level
            u = F.relu(level(f"{p}.model.3", _bn_eval(sd, f"{p}.model.2", d)))
            u = _bn_eval(sd, f"{p}.model.6", F.conv_transpose2d(u, sd[f"{p}.model.5.weight"], stride=2, padding=1))
        else:  # the innermost level
            u = F.conv_transpose2d(F.relu(d), sd[f"{p}.model.3.weight"], stride=2, padding=1)
            u = _bn_eval(sd, f"{p}.model.4", u)
        return torch.cat([h, u], 1)

    d = F.conv2d(x, sd["model.model.0.weight"], stride=2, padding=1)
    u = F.relu(level("model.model.1", d))
    return torch.tanh(F.conv_transpose2d(u, sd["model.model.3.weight"], sd["model.model.3.bias"], 2, 1))


def reference_patchgan_eval(sd: dict[str, torch.Tensor], x: torch.Tensor, n_layers: int) -> torch.Tensor:
    h = F.leaky_relu(F.conv2d(x, sd["model.0.weight"], sd["model.0.bias"], 2, 1), 0.2)
    idx = 2
    for n in range(1, n_layers + 1):
        h = F.conv2d(h, sd[f"model.{idx}.weight"], stride=2 if n < n_layers else 1, padding=1)
        h = F.leaky_relu(_bn_eval(sd, f"model.{idx + 1}", h), 0.2)
        idx += 3
    return F.conv2d(h, sd[f"model.{idx}.weight"], sd[f"model.{idx}.bias"], 1, 1)


# --- parameter counts (counted from the official code) ----------------------------------------------------------------------


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


@pytest.mark.parametrize(
    ("factory", "expected"),
    [
        (lambda: ResnetGenerator(), 11_378_179),
        (lambda: ResnetGenerator(n_blocks=6), 7_837_699),
        (lambda: UnetGenerator(), 54_413_955),
        (lambda: UnetGenerator(num_downs=7), 41_828_995),
        (lambda: PatchDiscriminator(), 2_764_737),
        (lambda: PatchDiscriminator(in_channels=6, norm="batch"), 2_768_705),
        (lambda: PatchDiscriminator(in_channels=6, norm="instance"), 2_767_809),
        (lambda: PatchDiscriminator(in_channels=6, n_layers=1, norm="batch"), 139_585),
        (lambda: PatchDiscriminator(in_channels=6, n_layers=5, norm="batch"), 11_159_361),
        (lambda: PixelDiscriminator(), 9_024),
    ],
    ids=["resnet9", "resnet6", "unet256", "unet128", "patch3_in3", "patch3_in6_bn", "patch3_in6_in", "patch1", "patch5", "pixel"],
)
def test_parameter_counts_match_reference(factory, expected):
    assert n_params(factory()) == expected


# --- official layouts: key names and shapes ---------------------------------------------------------------


def test_resnet_default_has_the_official_48_keys():
    layout = official_resnet_layout()
    assert len(layout) == 48
    assert shapes(ResnetGenerator()) == layout
    assert shapes(ResnetGenerator(n_blocks=6)) == official_resnet_layout(n_blocks=6)


def test_unet_default_has_the_official_82_keys():
    layout = official_unet_layout()
    assert len(layout) == 82
    assert "model.model.1.model.2.num_batches_tracked" in layout
    assert shapes(UnetGenerator()) == layout
    assert shapes(UnetGenerator(num_downs=7)) == official_unet_layout(num_downs=7)


@pytest.mark.parametrize("n_layers", [1, 3, 5])
def test_patchgan_layouts(n_layers):
    assert shapes(PatchDiscriminator(6, ndf=8, n_layers=n_layers, norm="batch")) == official_patchgan_layout(
        6, 8, n_layers, "batch"
    )
    assert shapes(PatchDiscriminator(3, ndf=8, n_layers=n_layers)) == official_patchgan_layout(3, 8, n_layers, "instance")


def test_pixel_discriminator_layout():
    assert shapes(PixelDiscriminator(6, ndf=8)) == {
        "net.0.weight": (8, 6, 1, 1),
        "net.0.bias": (8,),
        "net.2.weight": (16, 8, 1, 1),
        **_bn("net.3", 16),
        "net.5.weight": (1, 16, 1, 1),
    }


def test_resnet_dropout_and_zero_padding_shift_block_indices_like_the_official_code():
    keys = ResnetGenerator(ngf=4, n_blocks=1, use_dropout=True).state_dict()
    assert {"model.10.conv_block.1.weight", "model.10.conv_block.6.weight"} <= set(keys)
    keys = ResnetGenerator(ngf=4, n_blocks=1, padding="zero").state_dict()
    assert {"model.10.conv_block.0.weight", "model.10.conv_block.3.weight"} <= set(keys)


def test_batchnorm_resnet_convs_are_bias_free_except_the_last():
    keys = ResnetGenerator(ngf=4, n_blocks=2, norm="batch").state_dict()
    assert "model.1.bias" not in keys and "model.10.conv_block.1.bias" not in keys
    assert "model.2.running_mean" in keys and "model.19.bias" in keys  # 17 + n_blocks: the last conv


# --- official weights load strictly and compute what the official network computes ------------------------


def test_resnet_official_weights_forward_matches_functional_reference():
    torch.manual_seed(0)
    sd = random_state_dict(official_resnet_layout(ngf=4, n_blocks=9))
    net = ResnetGenerator(ngf=4)
    net.load_state_dict(sd, strict=True)
    x = torch.randn(2, 3, 16, 24)
    out = net(x)
    assert out.shape == (2, 3, 16, 24)
    torch.testing.assert_close(out, reference_resnet(sd, x, 9), atol=1e-5, rtol=1e-4)


def test_unet_official_weights_forward_matches_functional_reference():
    torch.manual_seed(0)
    sd = random_state_dict(official_unet_layout(in_nc=1, out_nc=2, num_downs=6, ngf=4))
    net = UnetGenerator(1, 2, num_downs=6, ngf=4)
    net.load_state_dict(sd, strict=True)
    x = torch.randn(2, 1, 64, 128)
    out = net.eval()(x)
    assert out.shape == (2, 2, 64, 128)
    torch.testing.assert_close(out, reference_unet_eval(sd, x), atol=1e-5, rtol=1e-4)


def test_patchgan_official_weights_forward_matches_functional_reference():
    torch.manual_seed(0)
    sd = random_state_dict(official_patchgan_layout(6, 8, 3, "batch"))
    net = PatchDiscriminator(6, ndf=8, norm="batch")
    net.load_state_dict(sd, strict=True)
    x = torch.randn(2, 6, 64, 64)
    torch.testing.assert_close(net.eval()(x), reference_patchgan_eval(sd, x, 3), atol=1e-5, rtol=1e-4)


# --- shapes, features, init --------------------------------------------------------------------------------


def test_generator_shapes_and_tanh_range():
    torch.manual_seed(0)
    out = ResnetGenerator(in_channels=1, out_channels=3, ngf=8, n_blocks=2)(torch.randn(2, 1, 32, 48))
    assert out.shape == (2, 3, 32, 48) and out.abs().max() <= 1
    out = UnetGenerator(3, 1, num_downs=5, ngf=8)(torch.randn(2, 3, 32, 64))
    assert out.shape == (2, 1, 32, 64) and out.abs().max() <= 1


def test_patchgan_is_70x70_with_30x30_logits_at_256px():
    out = PatchDiscriminator(6, ndf=8, norm="batch")(torch.randn(1, 6, 256, 256))
    assert out.shape == (1, 1, 30, 30)
    assert out.min() < 0 < out.max()  # raw logits, no sigmoid
    assert PixelDiscriminator(6, ndf=8)(torch.randn(2, 6, 5, 7)).shape == (2, 1, 5, 7)


def test_patchgan_features_are_the_hidden_leaky_relu_activations():
    torch.manual_seed(0)
    d = PatchDiscriminator(3, ndf=8, n_layers=3)
    x = torch.randn(2, 3, 64, 64)
    logits, feats = d(x, return_features=True)
    torch.testing.assert_close(logits, d(x))
    assert [tuple(f.shape) for f in feats] == [(2, 8, 32, 32), (2, 16, 16, 16), (2, 32, 8, 8), (2, 64, 7, 7)]
    first = F.leaky_relu(F.conv2d(x, d.model[0].weight, d.model[0].bias, 2, 1), 0.2)
    torch.testing.assert_close(feats[0], first)
    assert [f.shape for f in d.features(x)] == [f.shape for f in feats]


def test_init_is_normal_0_002_with_zero_biases():
    torch.manual_seed(0)
    g = ResnetGenerator(ngf=16, n_blocks=2)
    w = g.model[7].weight
    assert abs(w.std().item() - 0.02) < 0.001 and abs(w.mean().item()) < 0.001
    assert torch.all(g.model[7].bias == 0)
    bn = UnetGenerator(num_downs=5, ngf=16).model.model[1].model[2]
    assert isinstance(bn, nn.BatchNorm2d) and abs(bn.weight.mean().item() - 1) < 0.01 and bn.weight.std() > 0
    assert abs(PatchDiscriminator(ndf=8, init_gain=0.1).model[2].weight.std().item() - 0.1) < 0.01


# --- size errors -------------------------------------------------------------------------------------------


def test_resnet_rejects_sizes_that_are_not_multiples_of_4():
    g = ResnetGenerator(ngf=4, n_blocks=1)
    with pytest.raises(ValueError, match=r"multiples of 4, got 30x32; resize or crop .* \(e\.g\. 28x32\)"):
        g(torch.randn(1, 3, 30, 32))


def test_unet_rejects_sizes_not_divisible_by_2_pow_num_downs():
    g = UnetGenerator(num_downs=6, ngf=4)
    with pytest.raises(ValueError, match=r"multiples of 64, got 64x96"):
        g(torch.randn(1, 3, 64, 96))


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="padding='mirror'"):
        ResnetGenerator(ngf=4, n_blocks=1, padding="mirror")
    with pytest.raises(ValueError, match="norm='group'"):
        PatchDiscriminator(norm="group")
