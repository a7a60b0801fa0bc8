"""PAN discriminator and PairedCycleGAN (makeup) networks: sizes, shapes, and that every input is used."""

from __future__ import annotations

import pytest
import torch

from ganlit.networks.makeup import MakeupRemovalGenerator, MakeupTransferGenerator, StyleDiscriminator
from ganlit.networks.pan import PANDiscriminator


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def on_meta(cls, **kwargs):
    with torch.device("meta"):
        return cls(**kwargs)


def test_pan_discriminator_parameter_count():
    # conv3x3 (with bias) per block, BatchNorm (2 * width) in blocks 2..8, linear 8 * 8 * 8 -> 1 at 256 px
    widths, c_in, expected = [64, 128, 128, 256, 256, 512, 512, 512, 8], 6, 0
    for i, c_out in enumerate(widths):
        expected += c_in * c_out * 9 + c_out + (2 * c_out if 0 < i < 8 else 0)
        c_in = c_out
    expected += 8 * 8 * 8 + 1
    assert expected == 7_051_977
    assert n_params(on_meta(PANDiscriminator)) == expected


def test_pan_discriminator_logits_and_perceptual_features():
    torch.manual_seed(0)
    d = PANDiscriminator(in_channels=3, ndf=8, image_size=32)
    x = torch.randn(2, 3, 32, 32)
    logits, feats = d(x)
    assert logits.shape == (2, 1)
    # paper layers 1, 4, 6, 8: full, 1/4, 1/8, 1/16 resolution
    assert [tuple(f.shape) for f in feats] == [(2, 8, 32, 32), (2, 32, 8, 8), (2, 64, 4, 4), (2, 64, 2, 2)]
    assert len(d.feature_weights) == len(feats) and d.feature_weights == (5.0, 1.5, 1.5, 1.0)
    assert d.margin == 3.0
    torch.testing.assert_close(feats[0], d.layers[0](x))  # H_1 is the first block's activation
    # the perceptual loss backpropagates through the hidden layers to the first conv
    sum(w * f.abs().mean() for w, f in zip(d.feature_weights, feats)).backward()
    assert d.layers[0][0].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="expected 32x32"):
        d(torch.randn(2, 3, 64, 64))
    with pytest.raises(ValueError, match="multiple of 32"):
        PANDiscriminator(image_size=48)


def test_pan_discriminator_default_is_conditional():
    d = on_meta(PANDiscriminator)
    assert d.layers[0][0].in_channels == 6 and d.fc.in_features == 8 * 8 * 8


def test_makeup_parameter_counts():
    # G: two encoders (c7s1-64, d128, d256 with bias, InstanceNorm), fuse 512->256, 6 residual blocks, decoder
    encoder = (3 * 64 * 49 + 64) + (64 * 128 * 9 + 128) + (128 * 256 * 9 + 256)
    fuse = 512 * 256 * 9 + 256
    blocks = 6 * 2 * (256 * 256 * 9 + 256)
    decoder = (256 * 128 * 9 + 128) + (128 * 64 * 9 + 64) + (64 * 3 * 49 + 3)
    assert 2 * encoder + fuse + blocks + decoder == 9_396_099
    assert n_params(on_meta(MakeupTransferGenerator)) == 9_396_099
    # F is CycleGAN's 6-block ResnetGenerator; D_S is the 70x70 PatchGAN on 6 channels (counted from the official code)
    assert n_params(on_meta(MakeupRemovalGenerator)) == 7_837_699
    assert n_params(on_meta(StyleDiscriminator)) == 2_767_809


def test_makeup_transfer_uses_both_inputs():
    torch.manual_seed(0)
    g = MakeupTransferGenerator(ngf=8, n_blocks=2)
    x, y = torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32)
    out = g(x, y)
    assert out.shape == (2, 3, 32, 32) and out.abs().max() <= 1
    with torch.no_grad():
        only_reference_changed = g(x, torch.randn(2, 3, 32, 32))
        only_source_changed = g(torch.randn(2, 3, 32, 32), y)
    assert (out - only_reference_changed).abs().amax(dim=(1, 2, 3)).min() > 1e-4
    assert (out - only_source_changed).abs().amax(dim=(1, 2, 3)).min() > 1e-4
    out.mean().backward()
    for stream in (g.encoder_source, g.encoder_reference):
        assert stream[1].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="same shape"):
        g(x, y[:, :, :16])


def test_makeup_removal_shape():
    torch.manual_seed(0)
    f = MakeupRemovalGenerator(ngf=8, n_blocks=1)
    out = f(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 3, 32, 32) and out.abs().max() <= 1


def test_style_discriminator_on_pairs():
    torch.manual_seed(0)
    d = StyleDiscriminator(ndf=8)
    a, b = torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32)
    logits = d(a, b)
    assert logits.shape == (2, 1, 2, 2)  # 32 -> 16 -> 8 -> 4 -> 3 -> 2 patch logits
    torch.testing.assert_close(logits, d.net(torch.cat([a, b], dim=1)))  # the pair is stacked on channels
    assert not torch.allclose(d(b, a), logits)  # ordered pair: (reference, candidate)
    with pytest.raises(ValueError, match="same shape"):
        d(a, b[:1])
