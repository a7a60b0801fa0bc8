"""FID / KID / IS: values on hand-made cases, the real-features cache, ranks, the training callback, offline weights."""

import math
import threading
from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from ganlit.metrics import (
    INCEPTION_FILE,
    INCEPTION_URL,
    DigitsFeatures,
    Dist,
    Evaluation,
    ModuleFeatures,
    RealFeatureCache,
    build_features,
    compute_metrics,
    evaluate_model,
)
from ganlit.models.draws import ItemDraws
from ganlit.weights import MissingWeightsError


class Images(Dataset):
    """n fixed 3x8x8 images in [-1, 1]; ``gain`` plays the part of a transform."""

    def __init__(self, n: int = 24, gain: float = 1.0, same: bool = False) -> None:
        g = torch.Generator().manual_seed(0)
        x = torch.rand(1 if same else n, 3, 8, 8, generator=g) * 2 - 1
        self.x = (x.expand(n, -1, -1, -1) if same else x) * gain

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        return {"image": self.x[i]}


class CountingNet(nn.Module):
    """Fixed random features (2x2 pooled conv), optionally class logits; counts the images it sees."""

    def __init__(self, logits: bool = False) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(16, 5)
        for p in self.parameters():
            p.data = torch.randn(p.shape, generator=g) * 0.5
        self.logits, self.images = logits, 0

    def forward(self, x):
        self.images += x.size(0)
        x = x.expand(-1, 3, -1, -1) if x.size(1) == 1 else x
        f = nn.functional.adaptive_avg_pool2d(torch.tanh(self.conv(x)), 2).flatten(1)
        return (f, self.head(f)) if self.logits else f


class NoisyCopy(nn.Module):
    """A stand-in model: its 'generated' image is the real one plus ``sigma`` noise (per direction)."""

    def __init__(self, sigma: float = 0.0, directions: dict | None = None, scale: float = 1.0) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.zeros(1))
        self.directions = directions or {"": sigma}
        self.scale = scale

    def evaluation_images(self, batch, draws=None):
        real = batch["image"]
        draws = draws or ItemDraws.from_global(real.size(0))
        return {d: (real, real * self.scale + s * draws.randn(*real.shape[1:])) for d, s in self.directions.items()}


def evaluate(model, dataset, net=None, tmp_path=None, **kw):
    features = ModuleFeatures(net or CountingNet())
    kw.setdefault("cache", RealFeatureCache(tmp_path) if tmp_path is not None else False)
    return evaluate_model(model, dataset, features, device="cpu", **kw)


# ----------------------------------------------------------------------------- the numbers
def test_fid_of_a_set_against_itself_is_zero():
    result = evaluate(NoisyCopy(0.0), Images(40))
    assert abs(result.metrics["fid"]) < 1e-6
    assert set(result.metrics) == {"fid", "kid_mean", "kid_std"}


def test_fid_grows_with_noise_monotonically_over_three_levels():
    fids = [evaluate(NoisyCopy(s), Images(40)).metrics["fid"] for s in (0.1, 0.4, 1.2)]
    assert 1e-4 < fids[0] < fids[1] < fids[2]


def test_kid_works_on_20_images_with_an_adapted_subset_size():
    close, far = (evaluate(NoisyCopy(s), Images(20)) for s in (0.1, 1.5))
    # the default 1000 would not fit 20 images; half of them keeps the subsets apart
    assert close.protocol["kid"].startswith("100 subsets of 10 (of 20 real, 20 generated)")
    for r in (close, far):
        assert math.isfinite(r.metrics["kid_mean"]) and r.metrics["kid_std"] >= 0
    assert far.metrics["kid_mean"] > close.metrics["kid_mean"] + 1e-3


def test_is_of_one_repeated_image_is_one():
    result = evaluate(NoisyCopy(0.0), Images(20, same=True), CountingNet(logits=True))
    assert result.metrics["is_mean"] == pytest.approx(1.0, abs=1e-6)
    assert result.metrics["is_std"] == pytest.approx(0.0, abs=1e-6)


def test_is_of_confident_uniform_classes_is_their_number():
    # p(y|x) = softmax(20 e_k) over 10 classes, 4 images per class: IS = exp(log 10 - H(p(y|x))).
    logits = (20 * torch.eye(10)).repeat(4, 1)
    feats = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))
    values, used = compute_metrics(feats, feats, logits, is_splits=1)
    p = torch.softmax(logits[0].double(), 0)
    expected = math.exp(math.log(10) + float((p * p.log()).sum()))
    assert values["is_mean"] == pytest.approx(expected, rel=1e-9) and expected == pytest.approx(10, rel=1e-3)
    assert used["is_splits"] == 1


def test_is_is_skipped_and_said_so_for_feature_nets_without_logits():
    result = evaluate(NoisyCopy(0.2), Images(20))
    assert "is_mean" not in result.metrics
    assert "no class logits" in result.protocol["is_splits"]


def test_too_few_images_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 2"):
        compute_metrics(torch.zeros(1, 4), torch.zeros(5, 4))


def test_translation_directions_get_their_own_keys_and_the_mean():
    result = evaluate(NoisyCopy(directions={"AtoB": 0.0, "BtoA": 0.8}), Images(24))
    m = result.metrics
    assert abs(m["fid_AtoB"]) < 1e-6 and m["fid_BtoA"] > 1e-3
    assert m["fid"] == pytest.approx((m["fid_AtoB"] + m["fid_BtoA"]) / 2)
    assert m["kid_mean"] == pytest.approx((m["kid_mean_AtoB"] + m["kid_mean_BtoA"]) / 2)
    assert result.protocol["fake_count"] == {"AtoB": 24, "BtoA": 24}


def test_sampling_models_cycle_the_split_for_more_samples_and_count_both_sets():
    net = CountingNet()
    result = evaluate(NoisyCopy(0.3), Images(24), net, num_samples=50, num_real=10, batch_size=8)
    assert result.protocol["fake_count"] == 50 and result.protocol["real_count"] == 10
    assert net.images == 60
    assert result.protocol["real_split"] == "test" and result.protocol["generator"] == "raw generator (no EMA)"


def test_evaluation_leaves_the_training_rng_alone_and_repeats_itself():
    model, data, net = NoisyCopy(0.5), Images(24), CountingNet()  # building the net draws from the RNG
    state = torch.get_rng_state()
    a = evaluate(model, data, net).metrics
    assert torch.equal(torch.get_rng_state(), state)
    assert evaluate(NoisyCopy(0.5), Images(24)).metrics == a  # same seed, same noise, same numbers


# ----------------------------------------------------------------------------- the cache of real features
def test_real_features_are_cached_and_reused(tmp_path):
    first_net, second_net = CountingNet(), CountingNet()
    first = evaluate(NoisyCopy(0.3), Images(24), first_net, tmp_path, data_key={"transform": "a"})
    second = evaluate(NoisyCopy(0.3), Images(24), second_net, tmp_path, data_key={"transform": "a"})
    assert first_net.images == 48 and not first.cache_hit
    assert second_net.images == 24 and second.cache_hit  # only the generated images went through the net
    assert second.metrics == pytest.approx(first.metrics)
    assert len(list(tmp_path.glob("*.pt"))) == 1


@pytest.mark.parametrize("change", ["transform argument", "pixels", "count", "feature weights"])
def test_real_feature_cache_is_invalidated(tmp_path, change):
    evaluate(NoisyCopy(0.3), Images(24), CountingNet(), tmp_path, data_key={"transform": "a"})
    net = CountingNet()
    key, data, kw = {"transform": "a"}, Images(24), {}
    if change == "transform argument":
        key = {"transform": "b"}
    elif change == "pixels":  # a transform change that no argument shows
        data = Images(24, gain=0.5)
    elif change == "count":
        kw = {"num_real": 12}
    else:
        net.conv.weight.data += 0.01
    result = evaluate(NoisyCopy(0.3), data, net, tmp_path, data_key=key, **kw)
    assert not result.cache_hit and net.images == 24 + result.protocol["real_count"]


def test_digits_features_key_the_cache_by_the_judge_weights_not_only_its_version(monkeypatch):
    """The judge is trained on first use; a file retrained under the same version must not reuse stale features."""
    from ganlit.data import digits_judges

    with torch.random.fork_rng():
        torch.manual_seed(0)
        judge = digits_judges.DigitJudge().eval()
    monkeypatch.setattr(digits_judges, "_JUDGE", judge)
    first = DigitsFeatures().fingerprint()
    assert DigitsFeatures().fingerprint() == first
    with torch.no_grad():
        judge.head.bias += 0.01
    assert DigitsFeatures().fingerprint() != first


def test_a_corrupt_cache_file_is_recomputed(tmp_path):
    evaluate(NoisyCopy(0.3), Images(24), CountingNet(), tmp_path)
    (path,) = tmp_path.glob("*.pt")
    path.write_bytes(b"not a checkpoint")
    net = CountingNet()
    assert not evaluate(NoisyCopy(0.3), Images(24), net, tmp_path).cache_hit and net.images == 48


# ----------------------------------------------------------------------------- ranks
def test_two_ranks_share_the_split_and_match_one_process():
    """Two threads stand in for two ranks: disjoint shards, features gathered to rank 0, put back in item order,
    numbers broadcast. The noise of generated image j is drawn from (seed, j), so the sets are those of one process."""
    model = NoisyCopy(0.3, scale=0.7)
    # Batches of one image: a convolution's last bits then cannot depend on the other images of a batch.
    single = evaluate(model, Images(25), CountingNet(logits=True), num_samples=37, batch_size=1)
    barrier, slots, calls, results = threading.Barrier(2), {}, [0, 0], [None, None]

    def exchange(rank, value):
        idx = calls[rank]
        calls[rank] += 1
        slots.setdefault(idx, {})[rank] = value
        barrier.wait()
        return slots[idx]

    def rank_main(rank):
        dist = Dist(rank, 2, gather=lambda t: torch.cat([exchange(rank, t)[r] for r in (0, 1)]),
                    broadcast=lambda obj: exchange(rank, obj)[0])
        results[rank] = evaluate(model, Images(25), CountingNet(logits=True), num_samples=37, batch_size=1, dist=dist)

    threads = [threading.Thread(target=rank_main, args=(r,)) for r in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results[0] is not None and results[1] is not None
    assert results[0].metrics == results[1].metrics  # every rank logs the same numbers
    assert results[0].metrics == single.metrics  # the same images in the same order: the same numbers, to the bit
    assert set(single.metrics) >= {"fid", "kid_mean", "is_mean"} and single.metrics["fid"] > 1e-3
    assert results[0].protocol["real_count"] == 25 and results[0].protocol["fake_count"] == 37
    assert results[0].protocol["processes"] == 2 and single.protocol["processes"] == 1


# ----------------------------------------------------------------------------- offline Inception weights
def test_missing_inception_weights_give_one_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MissingWeightsError) as err:
        build_features("inception")
    message = str(err.value)
    assert INCEPTION_FILE in message and INCEPTION_URL in message
    assert str(tmp_path / "hub" / "checkpoints") in message and "\n" not in message
    with pytest.raises(MissingWeightsError, match="does not exist"):
        build_features("inception", tmp_path / "nowhere.pth")


def test_unknown_feature_network_is_refused():
    with pytest.raises(ValueError, match="'inception', 'digits' or an nn.Module"):
        Evaluation(features="vgg")


# ----------------------------------------------------------------------------- the training callback
def _fit(tmp_path, callbacks, max_epochs=2, batches=2, **model_kw):
    from lightning.pytorch.loggers import CSVLogger

    from ganlit.data import DigitsDataModule
    from ganlit.models import CGAN

    L.seed_everything(0)
    model = CGAN(image_size=16, channels=1, ngf=8, ndf=8, num_samples=10, **model_kw)
    trainer = L.Trainer(max_epochs=max_epochs, limit_train_batches=batches, callbacks=callbacks,
                        logger=CSVLogger(tmp_path), enable_progress_bar=False, enable_model_summary=False,
                        default_root_dir=tmp_path, accelerator="cpu")
    trainer.fit(model, DigitsDataModule(image_size=16, batch_size=16))
    return model, trainer


def test_callback_logs_digits_metrics_and_protocol_and_keeps_the_best_checkpoint(tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    evaluation = Evaluation(features="digits", every_n_epochs=1, num_samples=20, num_real=20, split="test", cache=False)
    best = ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="val/digits_fid", mode="min", save_top_k=1)
    model, trainer = _fit(tmp_path, [evaluation, best], ema_decay=0.9)
    metrics = trainer.callback_metrics
    for key in ("digits_fid", "digits_kid_mean", "digits_kid_std", "digits_is_mean", "digits_is_std"):
        assert math.isfinite(float(metrics[f"val/{key}"]))
    assert "val/fid" not in metrics  # the digits FID is never logged under the Inception name
    assert evaluation.last.protocol["generator"] == "EMA (decay 0.9)"
    assert evaluation.last.protocol["real_count"] == 20 and evaluation.last.protocol["fake_count"] == 20
    # The metric network is no part of the model or of its checkpoint.
    ckpt = torch.load(best.best_model_path, weights_only=False)
    assert set(ckpt["state_dict"]) == set(model.state_dict())
    assert not any("judge" in k or "features." in k for k in ckpt["state_dict"])
    assert all(not isinstance(v, torch.Tensor) for v in ckpt.get("callbacks", {}).values())
    hparams = (Path(trainer.logger.log_dir) / "hparams.yaml").read_text()
    assert "eval_protocol" in hparams and "digits judge" in hparams
    rows = [r.split(",") for r in (Path(trainer.logger.log_dir) / "metrics.csv").read_text().splitlines()]
    column = rows[0].index("val/digits_fid")
    fids = [float(r[column]) for r in rows[1:] if r[column]]
    assert len(fids) == 2  # one per epoch
    assert float(best.best_model_score) == pytest.approx(min(fids))


def test_callback_every_n_steps_counts_training_iterations(tmp_path):
    evaluation = Evaluation(features=CountingNet(), every_n_epochs=0, every_n_steps=2, num_samples=8, num_real=8,
                            cache=False)
    seen = []
    run = evaluation.run
    evaluation.run = lambda trainer, module, on_step=False: seen.append(int(module.iteration)) or run(trainer, module, on_step)
    _fit(tmp_path, [evaluation], max_epochs=1, batches=5)
    assert seen == [2, 4]


def test_missing_weights_stop_training_before_the_first_step(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    from ganlit.models import CGAN

    calls = []
    monkeypatch.setattr(CGAN, "training_step", lambda self, *a: calls.append(1))
    with pytest.raises(MissingWeightsError, match=INCEPTION_FILE):
        _fit(tmp_path, [Evaluation(features="inception")])
    assert calls == []


def test_missing_weights_can_disable_the_evaluation_loudly(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.warns(UserWarning, match="EVALUATION DISABLED.*" + INCEPTION_FILE):
        _, trainer = _fit(tmp_path, [Evaluation(features="inception", on_missing_weights="warn")], max_epochs=1)
    assert "val/fid" not in trainer.callback_metrics


def test_kid_spread_only_from_subsets_that_differ():
    from ganlit.metrics import compute_metrics

    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(297, 8, generator=gen), torch.randn(297, 8, generator=gen) + 0.5
    values, used = compute_metrics(real, fake)
    assert used["kid"].startswith("100 subsets of 148 (of 297 real, 297 generated)") and values["kid_std"] > 0
    values, used = compute_metrics(real[:2], fake[:2])  # subsets of 2 out of 2 would all be the same set
    assert "kid_std" not in values and used["kid"].endswith("no spread: the subsets are the whole sets")
