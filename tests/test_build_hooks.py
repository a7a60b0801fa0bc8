"""The build hooks of every paper: a subclass replaces one network and keeps the others, with none of the replaced
network's settings or checks; the default hooks build the paper's networks in the paper's order."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganlit.models import CGAN, GAN, PAN, CycleGAN, DiscoGAN, PairedCycleGAN, Pix2Pix, StarGAN
from ganlit.networks.dcgan import DCGANDiscriminator
from ganlit.networks.discogan import DiscoGANDiscriminator
from ganlit.networks.makeup import MakeupRemovalGenerator, MakeupTransferGenerator, StyleDiscriminator
from ganlit.networks.pan import PANDiscriminator
from ganlit.networks.patchgan import PatchDiscriminator
from ganlit.networks.resnet import ResnetGenerator
from ganlit.networks.stargan import StarGANDiscriminator, StarGANGenerator
from ganlit.networks.unet import UnetGenerator


class Mine(nn.Module):
    """A user's own network: one conv, tagged with the key it was built for."""

    def __init__(self, key: str = "") -> None:
        super().__init__()
        self.key = key
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor, *args: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def own_generator(cls: type) -> type:
    """``cls`` with build_generator replaced, taking the ModuleDict key where the paper has one."""
    keyed = cls in (CycleGAN, DiscoGAN, PairedCycleGAN)
    body = {"build_generator": (lambda self, key: Mine(key)) if keyed else (lambda self: Mine())}
    return type(f"Own{cls.__name__}", (cls,), body)


# Settings the default generator would refuse or that are tiny for the rest.
CASES = [
    (GAN, dict(image_size=16, channels=3, ngf=4, ndf=4), DCGANDiscriminator),
    (CGAN, dict(image_size=16, channels=3, ngf=4, ndf=4), DCGANDiscriminator),
    (Pix2Pix, dict(image_size=16, ndf=4, n_layers=1), PatchDiscriminator),  # 16 px: no unet_256 fits
    (PAN, dict(image_size=32, ndf=4), PANDiscriminator),  # 32 px: no unet_256 fits
    (CycleGAN, dict(ndf=4, n_layers=1), PatchDiscriminator),
    (DiscoGAN, dict(image_size=16, ndf=4), DiscoGANDiscriminator),
    (StarGAN, dict(image_size=16, conv_dim=4, d_repeat_num=2), StarGANDiscriminator),
    (PairedCycleGAN, dict(image_size=16, ndf=4, regions=["lips", "eyes"]), (PatchDiscriminator, StyleDiscriminator)),
]


@pytest.mark.parametrize("cls, kwargs, disc", CASES, ids=[c[0].__name__ for c in CASES])
def test_a_subclass_replaces_the_generator_and_keeps_the_paper_discriminator(cls, kwargs, disc):
    model = own_generator(cls)(**kwargs)
    gens = dict(model.generators) if hasattr(model, "generators") else {"": model.generator}
    assert gens and all(isinstance(g, Mine) and g.key == key for key, g in gens.items())
    discs = dict(model.discriminators) if hasattr(model, "discriminators") else {"": model.discriminator}
    assert all(isinstance(d, disc) for d in discs.values())
    # The optimizers are built over the replaced network too, and the G optimizer holds it alone.
    (opt_g, opt_d), _ = model.configure_optimizers()
    assert {id(p) for g in opt_g.param_groups for p in g["params"]} == {id(p) for p in model.g_nets.parameters()}
    assert sum(p.numel() for g in opt_d.param_groups for p in g["params"]) == sum(
        p.numel() for p in model.d_nets.parameters())


def test_the_replaced_networks_checks_are_gone_and_the_kept_ones_stay():
    with pytest.raises(ValueError, match=r"image_size=16 is not divisible by 2\*\*num_downs=256"):
        Pix2Pix(image_size=16)
    own_generator(Pix2Pix)(image_size=16)  # the U-Net's size check belonged to the U-Net

    class OwnCritic(PAN):
        def build_discriminator(self) -> nn.Module:  # two feature maps instead of PAN's four
            return Mine()

    with pytest.raises(ValueError, match=r"feature_weights=\(1.0, 1.0\): expected 4 weights"):
        PAN(image_size=32, num_downs=5, ngf=4, feature_weights=(1, 1))
    model = OwnCritic(image_size=32, num_downs=5, ngf=4, feature_weights=(1, 1))
    assert isinstance(model.generator, UnetGenerator) and isinstance(model.discriminator, Mine)


def test_paired_cyclegan_builds_each_region_network_from_its_key_in_order():
    torch.manual_seed(0)
    model = PairedCycleGAN(image_size=16, ngf=4, ndf=4, n_blocks_g=1, n_blocks_f=1, regions=["lips", "eyes"])
    torch.manual_seed(0)  # the same draws in the same order: G, F, D_X, D_Y, D_S per region
    expected = {}
    for part in ("lips", "eyes"):
        expected[f"generators.G_{part}"] = MakeupTransferGenerator(3, 4, 1, "instance")
        expected[f"generators.F_{part}"] = MakeupRemovalGenerator(3, 4, 1, "instance")
        for net in "XY":
            expected[f"discriminators.{net}_{part}"] = PatchDiscriminator(3, 4, 3, "instance")
        expected[f"discriminators.S_{part}"] = StyleDiscriminator(3, 4, 3, "instance")
    for name, net in expected.items():
        mine = model.get_submodule(name).state_dict()
        assert mine.keys() == net.state_dict().keys()
        assert all(torch.equal(mine[k], v) for k, v in net.state_dict().items()), name


def test_cyclegan_and_stargan_default_hooks_draw_the_papers_networks():
    torch.manual_seed(0)
    cyc = CycleGAN(channels=1, channels_b=3, lambda_identity=0, ngf=4, n_blocks=1, ndf=4)
    torch.manual_seed(0)
    nets = [ResnetGenerator(1, 3, 4, 1, "instance", False, "reflect"), ResnetGenerator(3, 1, 4, 1, "instance", False,
            "reflect"), PatchDiscriminator(1, 4, 3, "instance"), PatchDiscriminator(3, 4, 3, "instance")]
    for mine, net in zip([*cyc.generators.values(), *cyc.discriminators.values()], nets):
        assert all(torch.equal(a, b) for a, b in zip(mine.state_dict().values(), net.state_dict().values()))
    torch.manual_seed(0)
    star = StarGAN(image_size=16, num_attrs=3, conv_dim=4, repeat_num=1, d_repeat_num=2)
    torch.manual_seed(0)
    g, d = StarGANGenerator(4, 3, 1, True), StarGANDiscriminator(16, 4, 3, 2)
    assert all(torch.equal(a, b) for a, b in zip(star.generator.state_dict().values(), g.state_dict().values()))
    assert all(torch.equal(a, b) for a, b in zip(star.discriminator.state_dict().values(), d.state_dict().values()))
