"""Gatys style transfer: VGG-19 layer map, Gram matrix, optimisation, offline weights, `ganlit stylize`.

A randomly initialised VGG-19 (torchvision's init) is written in torchvision's on-disk format under
the real file name in a temporary $TORCH_HOME, so the offline loading path runs as a user's would.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
import torchvision
from PIL import Image
from torch import nn

from ganlit.commands.stylize import main as stylize_main
from ganlit.models.style_transfer import StyleTransfer, gram_matrix, style_loss
from ganlit.networks.vgg import VGG19_FILENAME, VGG19_LAYERS, VGG19_URL, VGG19Features
from ganlit.weights import MissingWeightsError, load_state_dict_file, resolve_weights


pytestmark = pytest.mark.usefixtures("one_thread")  # on 2 shared cores, 1 thread runs these ~5x faster


def _torchvision_vgg19_features_state() -> dict[str, torch.Tensor]:
    """What `vgg19-dcbb9e9d.pth` holds for `features.*`, with torchvision's random initialisation."""
    torch.manual_seed(0)
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["E"])
    for module in features:
        if isinstance(module, nn.Conv2d):  # as torchvision's VGG.__init__ does
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(module.bias)
    return {f"features.{key}": value for key, value in features.state_dict().items()}


@pytest.fixture(scope="module")
def vgg_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("torch_home")
    checkpoints = home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(_torchvision_vgg19_features_state(), checkpoints / VGG19_FILENAME)
    return home


@pytest.fixture
def torch_home(vgg_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(vgg_home))
    return vgg_home


def _smooth_image(height: int, width: int) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    return torch.stack([xx, yy * (1 - xx), (torch.sin(6 * xx) + 1) / 2 * yy])


def _waves(height: int, width: int) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    red = (torch.sin(9 * xx) * torch.cos(7 * yy) + 1) / 2
    return torch.stack([red, (torch.cos(5 * xx + 3 * yy) + 1) / 2, 1 - xx * yy])


def _stripes(height: int, width: int) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    stripe = ((xx + yy) // 3 % 2).float()
    return torch.stack([stripe, 1 - stripe, 0.5 * stripe + 0.25])


# --- VGG-19 --------------------------------------------------------------------------------------


def test_layer_names_follow_torchvision_vgg19_features() -> None:
    with torch.device("meta"):  # the layer list only; no memory, no init cost
        reference = torchvision.models.vgg19(weights=None).features
    assert len(VGG19_LAYERS) == len(reference) == 37
    # Count convs independently: block b starts after the (b-1)-th pool.
    block, conv, expected = 1, 0, {}
    for index, layer in enumerate(reference):
        if isinstance(layer, nn.Conv2d):
            conv += 1
            expected[f"conv{block}_{conv}"] = index
        elif isinstance(layer, nn.MaxPool2d):
            block, conv = block + 1, 0
    assert expected["conv4_2"] == 21
    for name in ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv4_2", "conv5_1", "conv5_4"):
        assert VGG19_LAYERS.index(name) == expected[name]
        assert isinstance(reference[expected[name] + 1], nn.ReLU)
        assert VGG19_LAYERS.index("relu" + name[4:]) == expected[name] + 1
    assert [VGG19_LAYERS.index(f"conv{b}_1") for b in range(1, 6)] == [0, 5, 10, 19, 28]


def test_network_is_truncated_frozen_avg_pooled_and_file_free() -> None:
    import ganlit
    import ganlit.networks

    assert ganlit.StyleTransfer is StyleTransfer and ganlit.networks.VGG19Features is VGG19Features
    net = VGG19Features(layers=("relu1_1", "relu4_2"))  # random init: reads no file
    assert net.layer_index == {"relu1_1": 1, "relu4_2": 22}
    assert len(net.features) == 23
    assert isinstance(net.features[21], nn.Conv2d) and net.features[21].in_channels == 512
    assert sum(isinstance(m, nn.AvgPool2d) for m in net.features) == 3
    assert not any(isinstance(m, nn.MaxPool2d) for m in net.features)
    assert not any(p.requires_grad for p in net.parameters())
    assert len(VGG19Features(pooling="max", layers=("pool1",)).features) == 5
    with pytest.raises(ValueError, match="conv6_1"):
        VGG19Features(layers=("conv6_1",))


def test_from_pretrained_reads_torch_home_and_keeps_conv_outputs(torch_home: Path) -> None:
    saved = load_state_dict_file(torch_home / "hub" / "checkpoints" / VGG19_FILENAME)
    net = VGG19Features.from_pretrained(layers=("conv1_1", "conv4_2", "relu4_2"))
    assert torch.equal(net.features[21].weight, saved["features.21.weight"])
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    out = net(x)
    assert list(out) == ["conv1_1", "conv4_2", "relu4_2"]
    assert out["conv4_2"].shape == (1, 512, 4, 4)
    # ImageNet normalisation happens inside.
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    torch.testing.assert_close(out["conv1_1"], net.features[0]((x - mean) / std))
    # torchvision's in-place ReLU would have overwritten the returned conv output.
    assert (out["conv4_2"] < 0).any()
    torch.testing.assert_close(out["relu4_2"], out["conv4_2"].relu())


# --- offline weights -----------------------------------------------------------------------------


def test_missing_weights_message_names_file_directory_and_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MissingWeightsError) as info:
        resolve_weights(VGG19_FILENAME, url=VGG19_URL, what="VGG-19 ImageNet weights")
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert VGG19_FILENAME in message and VGG19_URL in message
    assert str(tmp_path / "hub" / "checkpoints") in message
    with pytest.raises(MissingWeightsError, match="nowhere.pth"):
        resolve_weights(VGG19_FILENAME, path=tmp_path / "nowhere.pth", url=VGG19_URL)
    given = tmp_path / "mine.pth"
    given.write_bytes(b"x")
    assert resolve_weights(VGG19_FILENAME, path=given) == given


class _NotATensor:
    pass


def test_load_state_dict_file_refuses_pickled_code(tmp_path: Path) -> None:
    bad = tmp_path / "code.pth"
    torch.save({"weight": _NotATensor()}, bad)
    with pytest.raises(ValueError, match="code.pth") as info:
        load_state_dict_file(bad)
    assert isinstance(info.value.__cause__, pickle.UnpicklingError)
    good = tmp_path / "good.pth"
    torch.save({"weight": torch.ones(2)}, good)
    assert torch.equal(load_state_dict_file(good)["weight"], torch.ones(2))


# --- losses and optimisation ---------------------------------------------------------------------


def test_gram_matrix_hand_computed() -> None:
    features = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [0.0, -1.0]]]])  # 1x2x2x2
    # channel vectors (1, 2, 3, 4) and (0, 1, 0, -1): 1+4+9+16, 2-4, 1+1
    expected = torch.tensor([[[30.0, -2.0], [-2.0, 2.0]]])
    torch.testing.assert_close(gram_matrix(features), expected)
    # eq. 4 with N = 2, M = 4 against a zero style Gram matrix: sum(G^2) / (4 N^2 M^2)
    assert style_loss(features, torch.zeros(1, 2, 2)).item() == pytest.approx((900 + 4 + 4 + 4) / (4 * 4 * 16))


def test_several_styles_blend_their_gram_matrices() -> None:
    torch.manual_seed(0)
    model = StyleTransfer(pretrained=False, style_layers=("relu1_1",), content_layers=("relu1_1",))
    content, s1, s2 = _smooth_image(8, 8), _stripes(8, 8), torch.rand(3, 12, 12)
    mixed = model.targets(content[None], [s1[None], s2[None]], [7.0, 3.0])["style"]["relu1_1"]
    a1 = model.targets(content[None], [s1[None]])["style"]["relu1_1"]
    a2 = model.targets(content[None], [s2[None]])["style"]["relu1_1"]
    torch.testing.assert_close(mixed, 0.7 * a1 + 0.3 * a2)


def test_total_loss_falls_by_90_percent_on_a_64px_pair(torch_home: Path) -> None:
    torch.manual_seed(0)
    model = StyleTransfer(init="content")  # paper layers and weights, VGG read from $TORCH_HOME
    content, style = _smooth_image(64, 64), _waves(64, 64)
    image, losses = model.stylize(content, [style], steps=15)
    assert image.shape == (3, 64, 64) and 0 <= image.min() and image.max() <= 1
    assert len(losses) == 15
    assert losses[0]["content"] == 0  # started from the content image
    assert losses[-1]["total"] <= 0.1 * losses[0]["total"]
    assert losses[-1]["total"] == pytest.approx(losses[-1]["content"] + losses[-1]["style"])


def test_content_only_reconstructs_the_content_image_from_noise(torch_home: Path) -> None:
    """Gatys fig. 1: reconstructions from low layers are almost perfect.

    relu2_1 (after one pooling) is used; from the default relu4_2 a *random* VGG keeps too little to
    rebuild pixels, as the paper finds for high layers of the trained one.
    """
    model = StyleTransfer(style_weight=0.0, init="noise", content_layers=("relu2_1",))
    content = _smooth_image(32, 32)
    image, losses = model.stylize(content, [], steps=100, seed=0)
    assert losses[-1]["total"] < 1e-3 * losses[0]["total"]
    assert (image - content).abs().mean() < 0.01
    assert (image - content).abs().max() < 0.1
    assert (content - torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))).abs().mean() > 0.2


# --- ganlit stylize -----------------------------------------------------------------------------


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    content, style = tmp_path / "content.png", tmp_path / "style.jpg"
    Image.fromarray((_smooth_image(32, 48) * 255).byte().permute(1, 2, 0).numpy()).save(content)
    Image.fromarray((_stripes(40, 40) * 255).byte().permute(1, 2, 0).numpy()).save(style)
    return content, style


def test_command_writes_the_image_and_refuses_to_overwrite(
    torch_home: Path, pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content, style = pair
    output = tmp_path / "out" / "stylized.png"
    argv = ["--content", str(content), "--style", str(style), str(style), "--style-weights", "0.7", "0.3",
            "--output", str(output), "--size", "24", "--steps", "4", "--device", "cpu", "--init", "content"]
    assert stylize_main(argv) == 0
    with Image.open(output) as written:
        assert written.format == "PNG" and written.size == (24, 16)  # 48x32 scaled to a longer side of 24
    printed = capsys.readouterr().out
    assert "content" in printed and "style" in printed and str(output) in printed
    before = output.read_bytes()

    assert stylize_main(argv) == 2
    err = capsys.readouterr().err
    assert "--overwrite" in err and str(output) in err
    assert output.read_bytes() == before
    assert stylize_main([*argv, "--overwrite", "--steps", "1"]) == 0


def test_command_without_weights_exits_2_with_the_message(
    pair: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty_torch_home"
    empty.mkdir()
    monkeypatch.setenv("TORCH_HOME", str(empty))
    content, style = pair
    output = tmp_path / "never.png"
    code = stylize_main(["--content", str(content), "--style", str(style), "--output", str(output), "--size", "16"])
    err = capsys.readouterr().err
    assert code == 2 and not output.exists()
    assert VGG19_FILENAME in err and VGG19_URL in err and str(empty / "hub" / "checkpoints") in err
    assert "--vgg-weights" in err and "Traceback" not in err


def test_command_names_an_unreadable_image(
    torch_home: Path, pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content, _ = pair
    broken = tmp_path / "broken.jpg"
    broken.write_text("not an image")
    code = stylize_main(["--content", str(content), "--style", str(broken), "--output", str(tmp_path / "o.png")])
    assert code == 2
    assert str(broken) in capsys.readouterr().err
