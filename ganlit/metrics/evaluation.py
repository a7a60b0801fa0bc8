"""Evaluating a model: real and generated features over a split (sharded over ranks), the numbers, the protocol."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

import lightning as L
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset

from ganlit.metrics.features import FeatureNet
from ganlit.models.draws import DATA_STREAM, ItemDraws, item_seed, seeded_globally
from ganlit.metrics.scores import CACHE_VERSION, RealFeatureCache, compute_metrics


_SKIP_ATTRS = {"batch_size", "num_workers", "pin_memory", "prepare_data_per_node", "download", "trainer",
               "allow_zero_length_dataloader_with_multiple_devices", "predict_samples"}


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


class _SeededItems(Dataset):
    """Item ``i`` read with torch's global RNG seeded by ``(seed, i)``: a dataset that draws while reading (a random
    partner image, a makeup reference, random attributes) gives the same item whichever process reads it."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset, self.seed = dataset, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        with seeded_globally(item_seed(self.seed, index, DATA_STREAM)):
            return self.dataset[index]


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
    through the split when it asks for more: generated image ``j`` comes from item ``j mod len(dataset)``.

    The sets do not depend on the number of processes: item ``i`` is read with its own seed (``(seed, i)``), the
    draws of generated image ``j`` (noise, dropout, targets) come from ``ItemDraws(seed, [j])``, and the gathered
    features are put back in the order of ``i`` and ``j`` before scoring. Process ``r`` of ``W`` takes the items
    ``i`` with ``i mod W == r``. All of it runs in a forked RNG, so training randomness is untouched and
    successive evaluations use the same draws.
    """
    dist = dist or Dist()
    device = torch.device(device) if device is not None else next(model.parameters()).device
    features.to(device)
    n = len(dataset)
    if n < 2 * dist.world_size:
        raise ValueError(f"the {split} split has {n} images; the metrics need at least 2 per rank")
    n_real = min(num_real or n, n)
    n_fake = num_samples or n
    if min(n_real, n_fake) < dist.world_size:
        raise ValueError(f"{n_real} real and {n_fake} generated images cannot be shared by {dist.world_size} "
                         "processes: each needs at least one of each")
    items = _SeededItems(dataset, seed)
    shard = list(range(dist.rank, n, dist.world_size))
    store = cache if isinstance(cache, RealFeatureCache) else (RealFeatureCache() if cache else None)

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        key = {"version": CACHE_VERSION, "data": data_key or {"dataset": type(dataset).__qualname__, "len": n},
               "split": split, "count": n_real, "features": features.fingerprint(),
               "items": _item_fingerprint(items, sorted({0, n_real - 1}))}
        cached = store.load(key) if store is not None and dist.rank == 0 else None
        need_real = not dist.broadcast(cached is not None)
        torch.manual_seed(seed + dist.rank)  # only reached by a model that draws outside its ItemDraws
        loader = DataLoader(Subset(items, shard), batch_size=batch_size, shuffle=False)
        reals: dict[str, list[Tensor]] = {}
        fakes: dict[str, list[Tensor]] = {}
        logits: dict[str, list[Tensor]] = {}
        real_index: list[int] = []  # the item of each real feature row, the generated image of each fake row
        fake_index: list[int] = []
        for p in range(-(-n_fake // n)):
            for b, batch in enumerate(loader):
                item_ids = shard[b * batch_size:(b + 1) * batch_size]
                image_ids = [p * n + i for i in item_ids]
                take_fake = sum(j < n_fake for j in image_ids)  # ascending ids: a prefix of the batch
                take_real = sum(i < n_real for i in item_ids) if p == 0 and need_real else 0
                if not take_fake and not take_real:
                    break
                pairs = model.evaluation_images(_to_device(batch, device), ItemDraws(seed, image_ids))
                for direction, (real, fake) in pairs.items():
                    if take_real:
                        reals.setdefault(direction, []).append(features(real[:take_real])[0].cpu())
                    if take_fake:
                        f, lg = features(fake[:take_fake])
                        fakes.setdefault(direction, []).append(f.cpu())
                        if lg is not None:
                            logits.setdefault(direction, []).append(lg.cpu())
                real_index += item_ids[:take_real]
                fake_index += image_ids[:take_fake]
            if set(fakes) != {""}:
                break  # translation models: one translation per item; another pass would only repeat them

    directions = sorted(fakes)
    gathered_real = _gather_in_order(dist, reals, real_index, directions) if need_real else None
    gathered_fake = _gather_in_order(dist, fakes, fake_index, directions)
    gathered_logits = _gather_in_order(dist, logits, fake_index, [d for d in directions if d in logits])
    result = None
    if dist.rank == 0:
        real_features = cached if cached is not None else gathered_real
        if cached is None and store is not None:
            store.save(key, real_features)
        result = _score(real_features, gathered_fake, gathered_logits, features, kid_subsets, kid_subset_size,
                        is_splits, seed)
        result.protocol = {**_protocol(model, features, split, data_key, real_features, gathered_fake, seed,
                                       dist.world_size, n),
                           **result.protocol}
        result.cache_hit = cached is not None
    return dist.broadcast(result)


def _gather_in_order(dist: Dist, rows: dict[str, list[Tensor]], index: list[int], directions: list[str]
                     ) -> dict[str, Tensor]:
    """Every rank's rows of each direction, gathered and sorted by their global index (item or generated image), so
    the scores see one order for any number of processes (IS splits the rows in this order)."""
    order = torch.argsort(dist.gather(torch.tensor(index, dtype=torch.long)))
    return {d: dist.gather(torch.cat(rows[d]))[order] for d in directions}


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
              real: dict[str, Tensor], fake: dict[str, Tensor], seed: int, world_size: int = 1,
              n_items: int = 0) -> dict[str, Any]:
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
        # Seeds by global index, never by process: `ganlit evaluate` (1 process) scores the same sets.
        "draws": f"by global index: generated image j (from item j mod {n_items}) draws from (seed {seed}, j), item i "
                 f"is read with (seed {seed}, i); the same images for any number of processes",
        "processes": world_size,
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
