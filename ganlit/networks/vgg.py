"""VGG-19 feature extractor (Simonyan & Zisserman 2015, configuration E) for Gatys style transfer.

Layer indices follow torchvision's ``vgg19().features`` exactly, so torchvision's ImageNet
checkpoint (``vgg19-dcbb9e9d.pth``) loads into it key for key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn
from torchvision.models.vgg import cfgs, make_layers

from ganlit.weights import load_state_dict_file, resolve_weights

__all__ = [
    "GATYS_CONTENT_LAYERS",
    "GATYS_STYLE_LAYERS",
    "VGG19_DOWNLOAD",
    "VGG19_FILENAME",
    "VGG19_LAYERS",
    "VGG19_URL",
    "VGG19Features",
]

VGG19_FILENAME = "vgg19-dcbb9e9d.pth"
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
VGG19_DOWNLOAD = "ganlit download vgg19"  # puts VGG19_FILENAME where from_pretrained looks
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_CFG = cfgs["E"]  # torchvision's VGG-19 layer list: channel counts and "M" for pooling


def _layer_names(cfg: Sequence[int | str]) -> tuple[str, ...]:
    """Name every layer ``make_layers(cfg)`` builds: a conv entry gives conv then ReLU, "M" a pool."""
    names: list[str] = []
    block, conv = 1, 0
    for entry in cfg:
        if entry == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 0
        else:
            conv += 1
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
    return tuple(names)


VGG19_LAYERS = _layer_names(_CFG)  # VGG19_LAYERS[i] names torchvision's vgg19().features[i]
VGG19_LAYER_INDEX = {name: index for index, name in enumerate(VGG19_LAYERS)}

# Gatys et al. 2016, sec. 3: content conv4_2; style conv1_1 .. conv5_1, taken after the ReLU (see below).
GATYS_CONTENT_LAYERS = ("relu4_2",)
GATYS_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def _build_layers(n_layers: int, pooling: str) -> nn.Sequential:
    """torchvision's first ``n_layers`` VGG-19 feature layers, ReLUs made out-of-place, pools as asked."""
    cfg: list[int | str] = []
    built = 0
    for entry in _CFG:  # only build what is used: conv5_x alone holds 7M parameters
        if built >= n_layers:
            break
        cfg.append(entry)
        built += 1 if entry == "M" else 2
    layers = list(make_layers(cfg))[:n_layers]
    for i, layer in enumerate(layers):
        if isinstance(layer, nn.ReLU):
            # torchvision's ReLUs are in place: they would overwrite a conv output we return.
            layers[i] = nn.ReLU(inplace=False)
        elif isinstance(layer, nn.MaxPool2d) and pooling == "avg":
            layers[i] = nn.AvgPool2d(kernel_size=2, stride=2)
    return nn.Sequential(*layers)


class VGG19Features(nn.Module):
    """Frozen VGG-19 that returns the activations of named layers (Gatys, Ecker, Bethge, CVPR 2016).

    Layer names are ``conv{b}_{i}``, ``relu{b}_{i}`` and ``pool{b}``, mapped to torchvision's
    ``vgg19().features`` indices (``VGG19_LAYERS``). Gatys et al. name their layers after the Caffe
    blobs ``conv4_2`` etc.; in Caffe's VGG the ReLU runs in place on that blob, so the feature they
    use is the *rectified* response (their own PyTorch release calls the same layers ``r42``,
    ``r11``...). ganlit therefore takes Gatys' features after the ReLU: content ``relu4_2``, style
    ``relu1_1, relu2_1, relu3_1, relu4_1, relu5_1`` (the defaults). The pre-ReLU ``conv*`` outputs
    are available by name too.

    Following the paper, max pooling is replaced by average pooling (``pooling="avg"``), which
    torchvision's weights tolerate because a pool has no parameters. The input is an RGB batch in
    ``[0, 1]``; ImageNet normalisation (torchvision's mean/std) happens inside. The network is
    truncated after the deepest requested layer and all parameters are frozen.

    Files: the constructor never reads a file (this is a networks module). It builds random
    weights, or takes an already loaded ``state_dict`` (torchvision's keys ``features.<i>.*``;
    extra keys such as ``classifier.*`` are ignored). :meth:`from_pretrained` is the one place that
    reads the ImageNet checkpoint, through :mod:`ganlit.weights`, offline: ``weights_path`` or
    ``$TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth``.

    Args:
        pooling: ``"avg"`` (the paper) or ``"max"`` (VGG as trained).
        layers: names of the layers ``forward`` returns, in that order.
        state_dict: torchvision VGG-19 weights to load; ``None`` keeps the random initialisation.
    """

    def __init__(
        self,
        pooling: Literal["max", "avg"] = "avg",
        layers: Sequence[str] = GATYS_STYLE_LAYERS + GATYS_CONTENT_LAYERS,
        state_dict: Mapping[str, Tensor] | None = None,
    ) -> None:
        super().__init__()
        if pooling not in ("max", "avg"):
            raise ValueError(f"pooling must be 'max' or 'avg', got {pooling!r}")
        layers = tuple(layers)
        if not layers:
            raise ValueError("layers is empty: name at least one VGG-19 layer, e.g. 'relu4_2'")
        unknown = [name for name in layers if name not in VGG19_LAYER_INDEX]
        if unknown:
            raise ValueError(f"unknown VGG-19 layer(s) {unknown}; expected names among {list(VGG19_LAYERS)}")
        self.pooling = pooling
        self.layers = layers
        self.layer_index = {name: VGG19_LAYER_INDEX[name] for name in layers}
        self.features = _build_layers(max(self.layer_index.values()) + 1, pooling)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        if state_dict is not None:
            self.load_torchvision_weights(state_dict)
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def from_pretrained(
        cls,
        weights_path: str | Path | None = None,
        pooling: Literal["max", "avg"] = "avg",
        layers: Sequence[str] = GATYS_STYLE_LAYERS + GATYS_CONTENT_LAYERS,
    ) -> VGG19Features:
        """Build the network with torchvision's ImageNet weights, read offline.

        Raises:
            ganlit.weights.MissingWeightsError: neither ``weights_path`` nor the torch hub cache has the file.
        """
        what = "VGG-19 ImageNet weights (torchvision)"
        path = resolve_weights(VGG19_FILENAME, weights_path, url=VGG19_URL, what=what, download=VGG19_DOWNLOAD)
        state_dict = load_state_dict_file(path)
        try:
            return cls(pooling=pooling, layers=layers, state_dict=state_dict)
        except (KeyError, RuntimeError) as err:
            raise ValueError(f"{path}: not a torchvision VGG-19 checkpoint: {err}") from err

    def load_torchvision_weights(self, state_dict: Mapping[str, Tensor]) -> None:
        """Copy torchvision VGG-19 weights (``features.<i>.weight/bias``) into the kept layers."""
        if "features.0.weight" not in state_dict and "0.weight" in state_dict:
            state_dict = {f"features.{key}": value for key, value in state_dict.items()}  # a saved `.features`
        wanted = self.state_dict().keys()
        missing = [key for key in wanted if key not in state_dict]
        if missing:
            raise KeyError(
                f"VGG-19 state dict lacks {missing[:4]}{' ...' if len(missing) > 4 else ''}; expected "
                f"torchvision's vgg19 keys 'features.<index>.weight' and '.bias'"
            )
        self.load_state_dict({key: state_dict[key] for key in wanted}, strict=True)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Map an RGB batch ``(B, 3, H, W)`` in ``[0, 1]`` to ``{layer name: activation}``."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"VGG19Features expects an RGB batch (B, 3, H, W) in [0, 1], got shape {tuple(x.shape)}")
        wanted = set(self.layer_index.values())
        out: dict[int, Tensor] = {}
        h = (x - self.mean) / self.std
        for index, layer in enumerate(self.features):
            h = layer(h)
            if index in wanted:
                out[index] = h
        return {name: out[index] for name, index in self.layer_index.items()}
