"""The numbers: FID, KID and IS from features (torchmetrics), and the on-disk cache of real-image features."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any, Optional, Union

import torch
from torch import Tensor, nn

from ganlit.cache import cache_root, save_atomic
from ganlit.utils.safeload import read_weights

CACHE_VERSION = 2  # 2: real features in item order for any number of processes, items read with their own seed


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
        # The rows come in item order (evaluate_model sorts what the ranks gathered), so the subsets are the same
        # for any number of processes; an order taken from the values would flip on a last-bit difference.
        kid.update(real.double().cpu(), real=True)
        kid.update(fake.double().cpu(), real=False)
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
            saved = read_weights(path)
        except Exception:  # a truncated or foreign file is recomputed, never trusted
            return None
        if saved.get("key") != json.loads(json.dumps(key, sort_keys=True, default=str)):
            return None
        return saved["features"]

    def save(self, key: dict[str, Any], features: dict[str, Tensor]) -> Path:
        key_plain = json.loads(json.dumps(key, sort_keys=True, default=str))
        features = {d: f.float().cpu() for d, f in features.items()}
        return save_atomic({"key": key_plain, "features": features}, self.path(key))
