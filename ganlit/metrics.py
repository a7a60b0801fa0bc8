"""Evaluation: FID, KID and IS of a model's images, always reported with their protocol.

* FID: Heusel et al. (2017), eq. 6: ``|mu_r - mu_g|^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))`` on features.
* KID: Binkowski et al. (2018), sec. 3: the unbiased MMD^2 with the cubic polynomial kernel, averaged over
  random subsets (mean and standard deviation); the subset size shrinks to the smaller set on small splits.
* IS: Salimans et al. (2016), sec. 4: ``exp(E_x KL(p(y|x) || p(y)))`` over splits, on class logits.

The numbers come from torchmetrics (``FrechetInceptionDistance``, ``KernelInceptionDistance``,
``InceptionScore``) fed with features computed here, so the real-image features can be cached on disk.

Feature networks (``features=``):

* ``"inception"``: torch-fidelity's InceptionV3 port of the TF FID graph (pool3 2048-d for FID/KID,
  ``logits_unbiased`` for IS), images quantised to uint8 and resized to 299 px with the TF1-compatible
  bilinear resize. Weights are read offline: ``weights-inception-2015-12-05-6726825d.pth`` from
  ``$TORCH_HOME/hub/checkpoints`` or the path given as ``inception_weights``. Nothing is downloaded.
* ``"digits"``: the 128-d features of the digits class judge (:mod:`ganlit.data.digits`) at 16 px, its
  10 class logits for IS. These numbers are logged as ``digits_fid``/``digits_kid_*``/``digits_is_*``: a
  cheap progress signal for the CPU digits world, never comparable to an Inception FID.
* any ``nn.Module`` mapping images in [-1, 1] to ``[N, D]`` features (or ``(features, logits)``); IS is
  only computed when the network gives logits (the protocol says when it was not).

Protocol: every result carries the feature network and its weights file, the resize, the real split and
count, the fake count, the KID subsets, the IS splits and whether the EMA generator was evaluated. The
callback prints it once and logs it to every logger (W&B: the run config under ``eval_protocol``).

Distributed: each rank evaluates a disjoint shard of the split (and its share of the generated images),
the features are gathered to rank zero, which computes the metrics and writes the cache, and the numbers
are broadcast so that every rank logs the same value (ModelCheckpoint may monitor them on any rank).

Missing Inception weights: training stops in ``setup`` (before the first step) with the one-paragraph
:class:`~ganlit.weights.MissingWeightsError`, unless ``on_missing_weights="warn"``, which disables the
evaluation with a loud warning. Under ``fast_dev_run`` the evaluation is skipped.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Optional, Union

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset

from ganlit.weights import MissingWeightsError, load_state_dict_file, resolve_weights

__all__ = [
    "INCEPTION_FILE", "INCEPTION_URL", "FeatureNet", "InceptionFeatures", "DigitsFeatures", "ModuleFeatures",
    "build_features", "compute_metrics", "RealFeatureCache", "EvalResult", "Dist", "evaluate_model",
    "describe_data", "Evaluation", "format_report",
]

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_FILE}"
CACHE_VERSION = 1


# ----------------------------------------------------------------------------- feature networks
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
    """The Inception weight file (never downloaded); the error says which file to place where."""
    try:
        return resolve_weights(INCEPTION_FILE, path, url=INCEPTION_URL, what="Inception-v3 FID weights (torch-fidelity)")
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


# ----------------------------------------------------------------------------- the numbers (torchmetrics)
class _Precomputed(nn.Module):
    """Lets the torchmetrics metrics take features (or logits) computed elsewhere."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: Tensor) -> Tensor:
        return x


def compute_metrics(
    real: Tensor,
    fake: Tensor,
    fake_logits: Optional[Tensor] = None,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    is_splits: int = 10,
    seed: int = 0,
) -> tuple[dict[str, float], dict[str, Any]]:
    """FID, KID (and IS when logits are given) from features; returns (numbers, the settings used).

    KID's subset size is ``min(kid_subset_size, len(real) // 2, len(fake) // 2)`` (at least 2; no ``kid_std`` when
    that is the whole set); IS uses at most ``len(fake) // 2``
    splits. The random subsets/splits are drawn from ``seed`` without touching the global RNG.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.inception import InceptionScore
    from torchmetrics.image.kid import KernelInceptionDistance

    if real.ndim != 2 or fake.ndim != 2 or real.size(1) != fake.size(1):
        raise ValueError(f"features must be [N, D] with the same D, got real {tuple(real.shape)}, fake {tuple(fake.shape)}")
    if len(real) < 2 or len(fake) < 2:
        raise ValueError(f"FID/KID need at least 2 real and 2 generated images, got {len(real)} and {len(fake)}")
    # Subsets of at most half of each set, so the subsets differ and their spread means something (the reference
    # implementations draw 1000 of 50,000); a set too small for that gets no spread.
    subset = max(2, min(kid_subset_size, len(real) // 2, len(fake) // 2))
    spread = subset < min(len(real), len(fake))
    out: dict[str, float] = {}
    used: dict[str, Any] = {"kid": f"{kid_subsets} subsets of {subset} (of {len(real)} real, {len(fake)} generated), "
                                   "cubic polynomial kernel" + ("" if spread else "; no spread: the subsets are the whole sets")}
    with warnings.catch_warnings(), torch.random.fork_rng(devices=[]):
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        warnings.filterwarnings("ignore", message=".*degrees of freedom is <= 0.*")  # IS std of one split
        torch.manual_seed(seed)
        fid = FrechetInceptionDistance(feature=_Precomputed(real.size(1)), sync_on_compute=False)
        fid.update(real.double().cpu(), real=True)
        fid.update(fake.double().cpu(), real=False)
        out["fid"] = float(fid.compute())
        kid = KernelInceptionDistance(feature=_Precomputed(real.size(1)), subsets=kid_subsets, subset_size=subset,
                                      sync_on_compute=False)
        kid.update(_canonical_order(real), real=True)  # the subsets depend on the sets, not on how ranks sharded them
        kid.update(_canonical_order(fake), real=False)
        mean, std = kid.compute()
        out["kid_mean"] = float(mean)
        if spread:
            out["kid_std"] = float(std)
        if fake_logits is not None:
            splits = max(1, min(is_splits, len(fake_logits) // 2))
            score = InceptionScore(feature=_Precomputed(fake_logits.size(1)), splits=splits, sync_on_compute=False)
            score.update(fake_logits.double().cpu())
            mean, std = score.compute()
            out["is_mean"], out["is_std"] = float(mean), float(std) if splits > 1 else 0.0
            used["is_splits"] = splits
        else:
            used["is_splits"] = "not computed: the feature network gives no class logits"
    return out, used


def _canonical_order(features: Tensor) -> Tensor:
    """The rows of ``features`` (as float64, CPU) in an order that depends only on their values."""
    x = features.double().cpu()
    direction = torch.randn(x.size(1), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return x[torch.argsort(x @ direction, stable=True)]


# ----------------------------------------------------------------------------- cache of real features
def cache_root() -> Path:
    """``$GANLIT_CACHE`` or ``~/.cache/ganlit``."""
    return Path(os.environ.get("GANLIT_CACHE", Path.home() / ".cache" / "ganlit"))


class RealFeatureCache:
    """Real-image features on disk, one file per key (dataset, split, transform, count, feature network)."""

    def __init__(self, root: Optional[Union[str, Path]] = None) -> None:
        self.root = Path(root) if root is not None else cache_root() / "real_features"

    @staticmethod
    def digest(key: dict[str, Any]) -> str:
        return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:24]

    def path(self, key: dict[str, Any]) -> Path:
        return self.root / f"{self.digest(key)}.pt"

    def load(self, key: dict[str, Any]) -> Optional[dict[str, Tensor]]:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # a truncated or foreign file is recomputed, never trusted
            return None
        if saved.get("key") != json.loads(json.dumps(key, sort_keys=True, default=str)):
            return None
        return saved["features"]

    def save(self, key: dict[str, Any], features: dict[str, Tensor]) -> Path:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        key_plain = json.loads(json.dumps(key, sort_keys=True, default=str))
        torch.save({"key": key_plain, "features": {d: f.float().cpu() for d, f in features.items()}}, tmp)
        os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the new one
        return path


_SKIP_ATTRS = {"batch_size", "num_workers", "pin_memory", "prepare_data_per_node", "download", "trainer",
               "allow_zero_length_dataloader_with_multiple_devices"}


def describe_data(datamodule: Any) -> dict[str, Any]:
    """The configuration of a data module that decides its images (for the cache key and the protocol)."""
    desc: dict[str, Any] = {"class": f"{type(datamodule).__module__}.{type(datamodule).__qualname__}"}
    for name, value in sorted(vars(datamodule).items()):
        if name.startswith("_") or name in _SKIP_ATTRS or name.endswith("_set"):
            continue
        if isinstance(value, Path):
            desc[name] = str(value.expanduser().resolve())
        elif isinstance(value, (str, int, float, bool, type(None))):
            desc[name] = value
        elif isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float, bool)) for v in value):
            desc[name] = list(value)
        elif "transform" in name or "pipeline" in name:
            desc[name] = repr(value)
    return desc


def _item_fingerprint(dataset: Dataset, indices: list[int]) -> str:
    """Hash of the tensors of a few items: any change of files or transform changes the pixels, hence the key."""
    h = hashlib.sha256()
    for i in indices:
        item = dataset[i]
        values = item.items() if isinstance(item, dict) else enumerate(item if isinstance(item, (tuple, list)) else [item])
        for k, v in sorted(values, key=lambda kv: str(kv[0])):
            if torch.is_tensor(v):
                h.update(str(k).encode())
                h.update(v.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------- evaluating a model
@dataclass
class Dist:
    """How the ranks talk: ``gather`` concatenates a tensor from every rank, ``broadcast`` sends rank zero's object."""

    rank: int = 0
    world_size: int = 1
    gather: Callable[[Tensor], Tensor] = field(default=lambda t: t)
    broadcast: Callable[[Any], Any] = field(default=lambda obj: obj)

    @classmethod
    def from_trainer(cls, trainer: L.Trainer) -> "Dist":
        strategy = trainer.strategy

        def gather(t: Tensor) -> Tensor:
            if trainer.world_size == 1:
                return t
            # all_gather needs equal shapes: pad each rank's rows to the longest, then drop the padding.
            n = torch.tensor([t.size(0)], device=strategy.root_device)
            counts = strategy.all_gather(n).flatten().tolist()
            padded = torch.zeros((max(counts),) + tuple(t.shape[1:]), dtype=t.dtype, device=strategy.root_device)
            padded[: t.size(0)] = t.to(strategy.root_device)
            gathered = strategy.all_gather(padded)
            return torch.cat([gathered[r, :c] for r, c in enumerate(counts)]).cpu()

        return cls(trainer.global_rank, trainer.world_size, gather, strategy.broadcast)


@dataclass
class EvalResult:
    """Metric values (keys like ``fid``, ``digits_kid_mean``, ``fid_AtoB``) and the protocol they were measured under."""

    metrics: dict[str, float]
    protocol: dict[str, Any]
    cache_hit: bool = False


def _shard_quota(total: int, rank: int, world: int) -> int:
    return total // world + (1 if rank < total % world else 0)


@torch.no_grad()
def evaluate_model(
    model: nn.Module,
    dataset: Dataset,
    features: FeatureNet,
    split: str = "test",
    data_key: Optional[dict[str, Any]] = None,
    num_samples: Optional[int] = None,
    num_real: Optional[int] = None,
    batch_size: int = 64,
    cache: Union[bool, RealFeatureCache] = True,
    seed: int = 0,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    is_splits: int = 10,
    device: Optional[Union[str, torch.device]] = None,
    dist: Optional[Dist] = None,
) -> EvalResult:
    """FID/KID/IS of ``model.evaluation_images`` over ``dataset``, with the protocol.

    Real images: the first ``num_real`` items of the split (default: all). Generated images: one per item
    for translation models; ``num_samples`` (default: the split's size) for sampling models, cycling
    through the split when it asks for more. Evaluation draws from ``seed`` (+ rank) in a forked RNG, so
    training randomness is untouched and successive evaluations use the same noise.
    """
    dist = dist or Dist()
    device = torch.device(device) if device is not None else next(model.parameters()).device
    features.to(device)
    n = len(dataset)
    if n < 2 * dist.world_size:
        raise ValueError(f"the {split} split has {n} images; the metrics need at least 2 per rank")
    n_real = min(num_real or n, n)
    n_fake = num_samples or n
    shard = list(range(dist.rank, n, dist.world_size))
    real_quota = sum(1 for i in shard if i < n_real)
    fake_quota = _shard_quota(n_fake, dist.rank, dist.world_size)
    store = cache if isinstance(cache, RealFeatureCache) else (RealFeatureCache() if cache else None)

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        key = {"version": CACHE_VERSION, "data": data_key or {"dataset": type(dataset).__qualname__, "len": n},
               "split": split, "count": n_real, "features": features.fingerprint(),
               "items": _item_fingerprint(dataset, sorted({0, n_real - 1}))}
        cached = store.load(key) if store is not None and dist.rank == 0 else None
        need_real = not dist.broadcast(cached is not None)
        torch.manual_seed(seed + dist.rank)
        loader = DataLoader(Subset(dataset, shard), batch_size=batch_size, shuffle=False)
        reals: dict[str, list[Tensor]] = {}
        fakes: dict[str, list[Tensor]] = {}
        logits: dict[str, list[Tensor]] = {}
        seen = made = 0
        first_pass = True
        while made < fake_quota:
            for batch in loader:
                batch = _to_device(batch, device)
                pairs = model.evaluation_images(batch)
                size = next(iter(pairs.values()))[1].size(0)
                take_fake, take_real = min(size, fake_quota - made), max(0, min(size, real_quota - seen)) if first_pass else 0
                for direction, (real, fake) in pairs.items():
                    if need_real and take_real:
                        reals.setdefault(direction, []).append(features(real[:take_real])[0].cpu())
                    if take_fake:
                        f, lg = features(fake[:take_fake])
                        fakes.setdefault(direction, []).append(f.cpu())
                        if lg is not None:
                            logits.setdefault(direction, []).append(lg.cpu())
                seen, made = seen + size, made + take_fake
                if made >= fake_quota and (not first_pass or seen >= real_quota):
                    break
            first_pass = False
            if set(fakes) != {""}:
                break  # translation models: one translation per item; another pass would only repeat them

    directions = sorted(fakes)
    gathered_real = {d: dist.gather(torch.cat(reals[d])) for d in directions} if need_real else None
    gathered_fake = {d: dist.gather(torch.cat(fakes[d])) for d in directions}
    gathered_logits = {d: dist.gather(torch.cat(logits[d])) for d in directions if d in logits}
    result = None
    if dist.rank == 0:
        real_features = cached if cached is not None else gathered_real
        if cached is None and store is not None:
            store.save(key, real_features)
        result = _score(real_features, gathered_fake, gathered_logits, features, kid_subsets, kid_subset_size,
                        is_splits, seed)
        result.protocol = {**_protocol(model, features, split, data_key, real_features, gathered_fake, seed),
                           **result.protocol}
        result.cache_hit = cached is not None
    return dist.broadcast(result)


def _to_device(batch: Any, device: torch.device) -> Any:
    from lightning.fabric.utilities.apply_func import move_data_to_device

    return move_data_to_device(batch, device)


def _score(real: dict[str, Tensor], fake: dict[str, Tensor], logits: dict[str, Tensor], features: FeatureNet,
           kid_subsets: int, kid_subset_size: int, is_splits: int, seed: int) -> EvalResult:
    metrics: dict[str, float] = {}
    used: dict[str, Any] = {}
    per_direction: dict[str, dict[str, float]] = {}
    for d in sorted(fake):
        if d not in real:
            raise KeyError(f"cached real features lack direction {d!r}; delete {RealFeatureCache().root} and rerun")
        values, used = compute_metrics(real[d], fake[d], logits.get(d), kid_subsets, kid_subset_size, is_splits, seed)
        per_direction[d] = values
    names = list(next(iter(per_direction.values())))
    for name in names:
        for d, values in per_direction.items():
            if d:
                metrics[f"{features.prefix}{name}_{d}"] = values[name]
        # One key for ModelCheckpoint to monitor: the mean over directions (translation models).
        metrics[f"{features.prefix}{name}"] = sum(v[name] for v in per_direction.values()) / len(per_direction)
    return EvalResult(metrics, used)


def _protocol(model: nn.Module, features: FeatureNet, split: str, data_key: Optional[dict[str, Any]],
              real: dict[str, Tensor], fake: dict[str, Tensor], seed: int) -> dict[str, Any]:
    ema = getattr(model, "ema_decay", None)
    data = data_key or {}
    shown = {k: v for k, v in data.items() if k in ("root", "image_size", "task", "dataset", "direction")}
    return {
        **features.protocol(),
        "data": data.get("class", "?").rsplit(".", 1)[-1] + (f" {json.dumps(shown)}" if shown else ""),
        "real_split": split,
        "real_count": {d or "all": len(r) for d, r in real.items()} if len(real) > 1 else len(next(iter(real.values()))),
        "fake_count": {d or "all": len(f) for d, f in fake.items()} if len(fake) > 1 else len(next(iter(fake.values()))),
        "generator": f"EMA (decay {ema})" if ema else "raw generator (no EMA)",
        "seed": seed,
    }


def format_report(result: EvalResult, title: str = "") -> str:
    """A small table of the numbers, then the protocol."""
    m = result.metrics
    lines = [title] if title else []
    lines.append(f"{'metric':<24} value")
    for key in sorted(k for k in m if not k.endswith("_std")):
        std_key = key.replace("_mean", "_std")
        value = f"{m[key]:.4f}" + (f" ± {m[std_key]:.4f}" if key.endswith("_mean") and std_key in m else "")
        lines.append(f"{key.replace('_mean', ''):<24} {value}")
    lines.append("protocol:")
    lines += [f"  {k:<12} {v}" for k, v in result.protocol.items()]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the callback
class Evaluation(L.Callback):
    """FID / KID / IS during training (Heusel et al. 2017, eq. 6; Binkowski et al. 2018; Salimans et al. 2016).

    Every ``every_n_epochs`` epochs (or ``every_n_steps`` training iterations: the module's ``iteration``
    counter, one per batch) the model's ``evaluation_images`` over the ``split`` give real and generated
    images; their metrics are logged as ``val/fid``, ``val/kid_mean``, ``val/kid_std``, ``val/is_mean``,
    ``val/is_std`` (``val/digits_fid`` ... with ``features="digits"``), per direction for translation
    models (``val/fid_AtoB``) with ``val/fid`` their mean, so a ModelCheckpoint can monitor one key.

    Args:
        features: ``"inception"``, ``"digits"`` or an ``nn.Module`` (images in [-1, 1] -> features).
        every_n_epochs: evaluate at the end of every n-th epoch (0: never).
        every_n_steps: evaluate every n training iterations (0: never).
        num_samples: generated images for sampling models (default: as many as the split has).
        num_real: real images, the first ones of the split (default: all of it).
        split: ``val`` or ``test`` (the data module's ``val_set``/``test_set``).
        inception_weights: path of the Inception weights (default: ``$TORCH_HOME/hub/checkpoints``).
        on_missing_weights: ``raise`` stops training at setup with the clear message; ``warn`` disables the
            evaluation with a loud warning.
        batch_size, cache, seed, kid_subsets, kid_subset_size, is_splits: see :func:`evaluate_model`.
    """

    def __init__(
        self,
        features: Union[str, nn.Module] = "inception",
        every_n_epochs: int = 1,
        every_n_steps: int = 0,
        num_samples: Optional[int] = None,
        num_real: Optional[int] = None,
        split: Literal["val", "test"] = "val",
        inception_weights: Optional[str] = None,
        on_missing_weights: Literal["raise", "warn"] = "raise",
        batch_size: int = 64,
        cache: bool = True,
        seed: int = 0,
        kid_subsets: int = 100,
        kid_subset_size: int = 1000,
        is_splits: int = 10,
    ) -> None:
        super().__init__()
        if not isinstance(features, nn.Module) and features not in ("inception", "digits"):
            raise ValueError(f"features={features!r}: expected 'inception', 'digits' or an nn.Module")
        if on_missing_weights not in ("raise", "warn"):
            raise ValueError(f"on_missing_weights={on_missing_weights!r}: expected 'raise' or 'warn'")
        if split not in ("val", "test"):
            raise ValueError(f"split={split!r}: expected 'val' or 'test'")
        self.spec = features
        self.every_n_epochs, self.every_n_steps = every_n_epochs, every_n_steps
        self.num_samples, self.num_real, self.split = num_samples, num_real, split
        self.inception_weights, self.on_missing_weights = inception_weights, on_missing_weights
        self.options = dict(batch_size=batch_size, cache=cache, seed=seed, kid_subsets=kid_subsets,
                            kid_subset_size=kid_subset_size, is_splits=is_splits)
        self.features: Optional[FeatureNet] = None
        self.last: Optional[EvalResult] = None
        self._logged_protocol: Optional[dict[str, Any]] = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit" or self.features is not None:
            return
        if trainer.fast_dev_run:
            rank_zero_info("ganlit.metrics: evaluation skipped under fast_dev_run")
            return
        try:
            self.features = build_features(self.spec, self.inception_weights)
        except MissingWeightsError as err:
            if self.on_missing_weights == "raise":
                raise
            rank_zero_warn(f"ganlit.metrics: EVALUATION DISABLED, no FID/KID/IS will be logged. {err}")

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.every_n_epochs and (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self.run(trainer, pl_module, on_step=False)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        it = int(getattr(pl_module, "iteration", trainer.global_step))
        if self.every_n_steps and it % self.every_n_steps == 0:
            self.run(trainer, pl_module, on_step=True)

    def _dataset(self, trainer: L.Trainer) -> tuple[Dataset, str, dict[str, Any]]:
        dm = trainer.datamodule
        if dm is None:
            raise RuntimeError("ganlit.metrics.Evaluation needs a data module (trainer.fit(model, datamodule=...))")
        wanted = f"{self.split}_set"
        if getattr(dm, wanted, None) is None:
            dm.setup("validate" if self.split == "val" else "test")
        dataset, split = getattr(dm, wanted, None), self.split
        if self.split == "val" and (dataset is None or dataset is getattr(dm, "test_set", None)):
            dataset, split = dm.test_set, "test"  # say which split really served
        if dataset is None:
            raise RuntimeError(f"{type(dm).__name__} has no {self.split} split to evaluate on")
        return dataset, split, describe_data(dm)

    def run(self, trainer: L.Trainer, pl_module: L.LightningModule, on_step: bool = False) -> Optional[EvalResult]:
        """Evaluate now and log the numbers (every rank takes part; see the module docstring)."""
        if self.features is None or trainer.sanity_checking:
            return None
        dataset, split, data_key = self._dataset(trainer)
        result = evaluate_model(pl_module, dataset, self.features, split=split, data_key=data_key,
                                num_samples=self.num_samples, num_real=self.num_real, device=pl_module.device,
                                dist=Dist.from_trainer(trainer), **self.options)
        self.last = result
        for key, value in result.metrics.items():
            pl_module.log(f"val/{key}", value, on_step=on_step, on_epoch=not on_step,
                          sync_dist=trainer.world_size > 1, prog_bar=key == f"{self.features.prefix}fid")
        self._log_protocol(trainer, result.protocol)
        shown = "  ".join(f"{k} {v:.4g}" for k, v in result.metrics.items() if not k.endswith("_std"))
        rank_zero_info(f"ganlit.metrics: epoch {trainer.current_epoch} iteration "
                       f"{int(getattr(pl_module, 'iteration', trainer.global_step))}: {shown}")
        return result

    def _log_protocol(self, trainer: L.Trainer, protocol: dict[str, Any]) -> None:
        if protocol == self._logged_protocol:
            return
        self._logged_protocol = dict(protocol)
        rank_zero_info("ganlit.metrics: protocol\n" + "\n".join(f"  {k:<12} {v}" for k, v in protocol.items()))
        if not trainer.is_global_zero:
            return
        for logger in trainer.loggers:
            logger.log_hyperparams({"eval_protocol": protocol})  # W&B: run config; TensorBoard/CSV: hparams
