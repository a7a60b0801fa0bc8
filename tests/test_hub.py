"""Official-weights loader: files written in the official layouts load strictly and compute the same outputs.

The official layouts and the functional reference forwards live in tests/test_networks_translation.py.
"""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F
from test_networks_translation import (
    official_resnet_layout,
    official_unet_layout,
    random_state_dict,
    reference_resnet,
    reference_unet_eval,
)

from ganlit import hub
from ganlit.hub import load_official, pretrained_url
from ganlit.networks.resnet import ResnetGenerator
from ganlit.networks.unet import UnetGenerator


def _save(sd: dict, path) -> str:
    torch.save(sd, path)
    return str(path)


# --- CycleGAN ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_blocks", [9, 6])
def test_cyclegan_file_loads_with_inferred_width_blocks_and_channels(tmp_path, n_blocks):
    sd = random_state_dict(official_resnet_layout(in_nc=1, out_nc=3, ngf=4, n_blocks=n_blocks), seed=n_blocks)
    net = load_official("cyclegan", _save(sd, tmp_path / "latest_net_G.pth"))
    assert isinstance(net, ResnetGenerator)
    assert len(net.model) == 19 + n_blocks  # 28 layers for resnet_9blocks
    assert net.model[1].weight.shape == (4, 1, 7, 7)
    x = torch.randn(2, 1, 16, 20)
    torch.testing.assert_close(net(x), reference_resnet(sd, x, n_blocks), atol=1e-5, rtol=1e-4)


def _legacy_instance_norm_stats(sd: dict[str, torch.Tensor], n_blocks: int) -> dict[str, torch.Tensor]:
    """What PyTorch < 0.4 saved for every InstanceNorm: running stats right after each biased conv."""
    norms = ["model.2", "model.5", "model.8", f"model.{11 + n_blocks}", f"model.{14 + n_blocks}"]
    norms += [f"model.{b}.conv_block.{i}" for b in range(10, 10 + n_blocks) for i in (2, 6)]
    legacy = {}
    for norm in norms:
        owner, _, idx = norm.rpartition(".")
        c = sd[f"{owner}.{int(idx) - 1}.bias"].shape[0]
        legacy |= {f"{norm}.running_mean": torch.zeros(c), f"{norm}.running_var": torch.ones(c)}
        legacy[f"{norm}.num_batches_tracked"] = torch.tensor(0)
    return legacy


def test_cyclegan_legacy_instance_norm_stats_and_module_prefix_are_dropped(tmp_path):
    sd = random_state_dict(official_resnet_layout(ngf=4, n_blocks=2))
    legacy = _legacy_instance_norm_stats(sd, 2)
    assert len(legacy) == 9 * 3
    on_disk = {f"module.{k}": v for k, v in (sd | legacy).items()}
    with pytest.raises(RuntimeError, match="Unexpected key"):  # what a plain strict load would do
        ResnetGenerator(ngf=4, n_blocks=2).load_state_dict(sd | legacy)
    net = load_official("cyclegan", _save(on_disk, tmp_path / "old.pth"))
    x = torch.randn(1, 3, 12, 12)
    torch.testing.assert_close(net(x), reference_resnet(sd, x, 2), atol=1e-5, rtol=1e-4)


def test_options_without_a_default_layout_are_read_back_from_the_keys(tmp_path):
    src = ResnetGenerator(2, 1, ngf=4, n_blocks=3, norm="batch", use_dropout=True, padding="zero")
    net = load_official("cyclegan", _save(src.state_dict(), tmp_path / "g.pth"))
    assert net.model[10].conv_block[3].p == 0.5  # dropout detected from the shifted conv index
    assert net.model[10].conv_block[0].padding == (1, 1)  # zero padding lives inside the conv
    assert isinstance(net.model[2], torch.nn.BatchNorm2d)
    x = torch.randn(1, 2, 8, 8)
    torch.testing.assert_close(net.eval()(x), src.eval()(x))


# --- pix2pix -----------------------------------------------------------------------------------------------


def test_pix2pix_unet256_file_loads_and_matches_reference(tmp_path):
    sd = random_state_dict(official_unet_layout(in_nc=3, out_nc=1, num_downs=8, ngf=2))
    assert len(sd) == 82
    net = load_official("pix2pix", _save(sd, tmp_path / "facades_label2photo.pth"))
    assert isinstance(net, UnetGenerator) and net.num_downs == 8
    # pix2pix keeps dropout (invisible in the keys) by default, in the 3 levels around the bottleneck
    assert sum(isinstance(m, torch.nn.Dropout) for m in net.modules()) == 3
    x = torch.randn(2, 3, 256, 256)
    torch.testing.assert_close(net.eval()(x), reference_unet_eval(sd, x), atol=1e-5, rtol=1e-4)
    assert net.model.model[1].model[2].num_batches_tracked.item() == 7  # stats were loaded, not reset


def test_pix2pix_file_without_num_batches_tracked_loads_but_other_missing_keys_fail(tmp_path):
    sd = random_state_dict(official_unet_layout(num_downs=5, ngf=2))
    old = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    net = load_official("pix2pix", _save(old, tmp_path / "old.pth"), use_dropout=False)
    assert net.model.model[1].model[2].num_batches_tracked.item() == 0
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(net.eval()(x), reference_unet_eval(sd, x), atol=1e-5, rtol=1e-4)
    del old["model.model.1.model.2.running_mean"]
    with pytest.raises(ValueError, match=r"(?s)broken\.pth.*Missing.*model\.model\.1\.model\.2\.running_mean"):
        load_official("pix2pix", _save(old, tmp_path / "broken.pth"))


# --- StarGAN -----------------------------------------------------------------------------------------------


def official_stargan_layout(conv_dim: int = 64, c_dim: int = 5, repeat_num: int = 6) -> dict[str, tuple]:
    """The official G without ``num_batches_tracked`` (old files): convs bias-free, IN affine + running stats."""

    def inorm(p, c):
        return {f"{p}.{s}": (c,) for s in ("weight", "bias", "running_mean", "running_var")}

    d = conv_dim
    lay = {"main.0.weight": (d, 3 + c_dim, 7, 7)} | inorm("main.1", d)
    lay |= {"main.3.weight": (2 * d, d, 4, 4)} | inorm("main.4", 2 * d)
    lay |= {"main.6.weight": (4 * d, 2 * d, 4, 4)} | inorm("main.7", 4 * d)
    for b in range(9, 9 + repeat_num):
        for conv, norm in ((0, 1), (3, 4)):
            lay |= {f"main.{b}.main.{conv}.weight": (4 * d, 4 * d, 3, 3)} | inorm(f"main.{b}.main.{norm}", 4 * d)
    up = 9 + repeat_num
    lay |= {f"main.{up}.weight": (4 * d, 2 * d, 4, 4)} | inorm(f"main.{up + 1}", 2 * d)
    lay |= {f"main.{up + 3}.weight": (2 * d, d, 4, 4)} | inorm(f"main.{up + 4}", d)
    lay[f"main.{up + 6}.weight"] = (3, d, 7, 7)
    return lay


def reference_stargan(sd, x, c, repeat_num):
    """The official G as run by its test script: per-image InstanceNorm statistics."""

    def inorm(h, norm):
        return F.instance_norm(h, weight=sd[f"{norm}.weight"], bias=sd[f"{norm}.bias"])

    def block(h, conv, norm, **kw):
        return inorm(F.conv2d(h, sd[f"{conv}.weight"], **kw), norm)

    h = torch.cat([x, c[:, :, None, None].expand(-1, -1, *x.shape[2:])], 1)
    h = F.relu(block(h, "main.0", "main.1", padding=3))
    h = F.relu(block(h, "main.3", "main.4", stride=2, padding=1))
    h = F.relu(block(h, "main.6", "main.7", stride=2, padding=1))
    for b in range(9, 9 + repeat_num):
        r = F.relu(block(h, f"main.{b}.main.0", f"main.{b}.main.1", padding=1))
        h = h + block(r, f"main.{b}.main.3", f"main.{b}.main.4", padding=1)
    up = 9 + repeat_num
    for conv in (up, up + 3):
        h = F.relu(inorm(F.conv_transpose2d(h, sd[f"main.{conv}.weight"], stride=2, padding=1), f"main.{conv + 1}"))
    return torch.tanh(F.conv2d(h, sd[f"main.{up + 6}.weight"], padding=3))


def test_stargan_layout_of_the_default_generator_has_the_reference_keys():
    lay = official_stargan_layout()
    assert "main.21.weight" in lay and "main.14.main.4.running_var" in lay and "main.15.main.0.weight" not in lay


def test_stargan_old_file_loads_with_inferred_dims_and_matches_reference(tmp_path):
    pytest.importorskip("ganlit.networks.stargan")
    sd = random_state_dict(official_stargan_layout(conv_dim=4, c_dim=3, repeat_num=2))
    net = load_official("stargan", _save(sd, tmp_path / "200000-G.ckpt"))
    assert type(net).__name__ == "StarGANGenerator"
    assert net.main[0].weight.shape == (4, 6, 7, 7) and len(net.main) == 9 + 2 + 8
    x, c = torch.randn(2, 3, 16, 16), torch.tensor([[1.0, 0, 1], [0, 1, 0]])
    torch.testing.assert_close(net(x, c), reference_stargan(sd, x, c, 2), atol=1e-5, rtol=1e-4)
    del sd["main.1.running_mean"]
    with pytest.raises(ValueError, match=r"main\.1\.running_mean"):
        load_official("stargan", _save(sd, tmp_path / "broken-G.ckpt"))


def test_kind_mismatch_is_explained(tmp_path):
    path = _save(random_state_dict(official_resnet_layout(ngf=2, n_blocks=1)), tmp_path / "cyc.pth")
    with pytest.raises(ValueError, match=r"cyc\.pth: not an official StarGAN generator: no 'main\.0\.weight'"):
        load_official("stargan", path)
    with pytest.raises(ValueError, match="kind='munit'"):
        load_official("munit", path)


# --- unsafe and malformed files ----------------------------------------------------------------------------


class _OpensAFile:
    """A pickle payload: unpickling it calls ``os.mkdir(marker)``, creating the marker (no file handle left open)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_file_with_pickled_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = _save({"model.1.weight": torch.zeros(1), "payload": _OpensAFile(marker)}, tmp_path / "evil.pth")
    with pytest.raises(ValueError, match=r"evil\.pth: refused, the file carries pickled code"):
        load_official("cyclegan", path)
    assert not marker.exists()
    torch.load(path, weights_only=False)  # control: the payload is real, an unrestricted load runs it
    assert marker.exists()


def test_malformed_files_are_named(tmp_path):
    path = _save({"epoch": 3, "state_dict": {}}, tmp_path / "lightning.ckpt")
    with pytest.raises(ValueError, match=r"lightning\.ckpt: expected a plain state dict"):
        load_official("pix2pix", path)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"junk\.pth: not a PyTorch checkpoint file"):
        load_official("pix2pix", tmp_path / "junk.pth")
    sd = random_state_dict(official_unet_layout(num_downs=5, ngf=2))
    del sd["model.model.3.weight"]
    with pytest.raises(ValueError, match=r"cut\.pth: not an official pix2pix generator: key 'model\.model\.3\.weight'"):
        load_official("pix2pix", _save(sd, tmp_path / "cut.pth"))
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        load_official("pix2pix", tmp_path / "missing.pth")


# --- URL tables --------------------------------------------------------------------------------------------


def test_official_url_tables():
    assert pretrained_url("cyclegan", "horse2zebra") == (
        "http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/horse2zebra.pth"
    )
    assert pretrained_url("pix2pix", "facades_label2photo") == (
        "http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/facades_label2photo.pth"
    )
    assert len(hub.CYCLEGAN_PRETRAINED_NAMES) == 18 and "iphone2dslr_flower" in hub.CYCLEGAN_PRETRAINED_NAMES
    assert hub.PIX2PIX_PRETRAINED_NAMES == ("edges2shoes", "sat2map", "map2sat", "facades_label2photo", "day2night")
    assert pretrained_url("stargan", "celeba-128x128-5attrs").startswith("https://www.dropbox.com/s/7e966qq0nlxwte4/")
    with pytest.raises(ValueError, match="no official cyclegan model named 'horse2cat'; available: horse2zebra"):
        pretrained_url("cyclegan", "horse2cat")
