"""Feature networks of the metrics: Inception (torch-fidelity's TF-compatible port, read offline), the digits
judge, or any module; each says what it is, for the protocol and the real-features cache key."""

from __future__ import annotations

import copy
import hashlib
import io
from pathlib import Path
from typing import Optional, Union

import torch
from torch import Tensor, nn

from ganlit.weights import MissingWeightsError, load_state_dict_file, resolve_weights

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_FILE}"
INCEPTION_DOWNLOAD = "ganlit download inception"  # puts INCEPTION_FILE where resolve_inception_weights looks


class FeatureNet:
    """A metric network: images in [-1, 1] -> (features [N, D], logits [N, C] or None).

    A plain object, not an ``nn.Module``: assigned anywhere, it can never become a submodule of a
    LightningModule (nor land in a checkpoint, nor be averaged by EMA).
    """

    name: str = "features"
    prefix: str = ""  # metric names: ``{prefix}fid``; "digits_" keeps the digits FID apart from Inception FID
    resize: str = "none"
    weights: str = "none"

    def __init__(self, net: nn.Module) -> None:
        self._net = net.eval().requires_grad_(False)

    def to(self, device: torch.device) -> "FeatureNet":
        self._net.to(device)
        return self

    @property
    def device(self) -> torch.device:
        p = next(iter(self._net.parameters()), None)
        return p.device if p is not None else torch.device("cpu")

    def fingerprint(self) -> str:
        """Identifies the network and its weights in the real-features cache key."""
        return f"{self.name}|{self.weights}"

    def protocol(self) -> dict[str, str]:
        return {"features": self.name, "weights": self.weights, "resize": self.resize}

    @torch.no_grad()
    def __call__(self, images: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        raise NotImplementedError


def _state_digest(net: nn.Module) -> str:
    """A short hash of a network's state dict (names and values), for the real-features cache key."""
    h = hashlib.sha256()
    for key, value in sorted(net.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class InceptionFeatures(FeatureNet):
    """torch-fidelity's FeatureExtractorInceptionV3 (the TF FID Inception graph), read offline.

    Args:
        weights: the weight file; ``None`` looks for ``weights-inception-2015-12-05-6726825d.pth`` in
            ``$TORCH_HOME/hub/checkpoints``. Raises :class:`MissingWeightsError` when it is in neither place.
    """

    name = "inception-v3-compat (torch-fidelity; pool3 2048-d, IS on logits_unbiased)"
    resize = "uint8, bilinear to 299x299 (TF1-compatible, torch-fidelity)"

    def __init__(self, weights: Optional[Union[str, Path]] = None) -> None:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        path = resolve_inception_weights(weights)
        state = load_state_dict_file(path)  # weights_only: a file carrying pickled code is refused
        buffer = io.BytesIO()
        torch.save(state, buffer)  # torch-fidelity unpickles its input; give it the vetted tensors only
        buffer.seek(0)
        try:
            net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                              feature_extractor_weights_path=buffer)
        except RuntimeError as err:
            raise ValueError(
                f"{path}: not torch-fidelity's Inception weights ({str(err).splitlines()[0]}); expected the file "
                f"{INCEPTION_FILE} from {INCEPTION_URL}"
            ) from None
        super().__init__(net)
        self.weights = f"{INCEPTION_FILE}" if path.name == INCEPTION_FILE else f"{path.name} (given path)"
        self._file_id = _file_id(path)

    def fingerprint(self) -> str:
        return f"{self.name}|{self._file_id}"

    @torch.no_grad()
    def __call__(self, images: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        x = images.to(self.device, torch.float32)
        x = x.expand(-1, 3, -1, -1) if x.size(1) == 1 else x
        x = ((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)  # the 8-bit images the protocol assumes
        features, logits = self._net(x)
        return features.float(), logits.float()


class DigitsFeatures(FeatureNet):
    """The digits class judge's 128-d features (``DigitJudge.embed``) and its 10 logits: the *digits* FID."""

    prefix = "digits_"
    resize = "ink map, area to 16x16 (digits judge input)"

    def __init__(self) -> None:
        from ganlit.data.digits import JUDGE_VERSION, digit_judge

        # A private copy: the shared judge stays on the CPU for the learning checks.
        super().__init__(copy.deepcopy(digit_judge()))
        self.name = f"digits judge v{JUDGE_VERSION} (ganlit.data.digits.DigitJudge, 128-d; IS on its 10 logits)"
        self.weights = f"digit_judge_v{JUDGE_VERSION}.pt (trained on the digits train split, $GANLIT_CACHE)"

    def fingerprint(self) -> str:
        # The judge is trained on first use: a retrained file keeps its version name but not its weights.
        return f"{self.name}|{_state_digest(self._net)}"

    def protocol(self) -> dict[str, str]:
        return {**super().protocol(), "note": "digits FID/KID/IS: judge features, not comparable to Inception numbers"}

    @torch.no_grad()
    def __call__(self, images: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        features = self._net.embed(images.to(self.device, torch.float32))
        return features, self._net.head(features)


class ModuleFeatures(FeatureNet):
    """Any module mapping images in [-1, 1] to ``[N, D]`` features, or to ``(features, logits)`` (then IS too)."""

    def __init__(self, module: nn.Module, name: Optional[str] = None, prefix: str = "") -> None:
        super().__init__(module)
        self.name = name or f"{type(module).__module__}.{type(module).__qualname__}"
        self.prefix = prefix
        self.weights = "module given in code"

    def fingerprint(self) -> str:
        return f"{self.name}|{_state_digest(self._net)}"

    @torch.no_grad()
    def __call__(self, images: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        out = self._net(images.to(self.device))
        features, logits = out if isinstance(out, (tuple, list)) else (out, None)
        return features.flatten(1).float(), None if logits is None else logits.float()


def resolve_inception_weights(path: Optional[Union[str, Path]] = None) -> Path:
    """The Inception weight file (never downloaded here); the error names ``ganlit download inception`` and, for
    an offline machine, which file to place where."""
    try:
        return resolve_weights(INCEPTION_FILE, path, url=INCEPTION_URL, what="Inception-v3 FID weights (torch-fidelity)",
                               download=INCEPTION_DOWNLOAD)
    except MissingWeightsError as err:
        raise MissingWeightsError(
            f"{err} To point at a copy elsewhere: `inception_weights: PATH` in the recipe's ganlit.metrics.Evaluation"
            f" callback, or `ganlit evaluate --inception-weights PATH`; `--features digits` needs no file."
        ) from None


def build_features(spec: Union[str, nn.Module, FeatureNet], inception_weights: Optional[Union[str, Path]] = None) -> FeatureNet:
    """``"inception"``, ``"digits"``, a :class:`FeatureNet` or an ``nn.Module`` -> a :class:`FeatureNet`."""
    if isinstance(spec, FeatureNet):
        return spec
    if isinstance(spec, nn.Module):
        return ModuleFeatures(spec)
    if spec == "inception":
        return InceptionFeatures(inception_weights)
    if spec == "digits":
        return DigitsFeatures()
    raise ValueError(f"features={spec!r}: expected 'inception', 'digits' or an nn.Module")


def _file_id(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))  # size + first MiB: tells weight files apart without reading 100 MB each time
    return f"{path.name}:{path.stat().st_size}:{h.hexdigest()[:16]}"
