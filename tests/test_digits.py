"""The digits world the learning checks stand on: its domain checks, its class judge and its tasks."""

from __future__ import annotations

import pytest
import torch

from ganlit.data import digits_judges
from ganlit.data.digits import (
    ATTRS,
    STYLES,
    DigitsDataModule,
    digit_judge,
    domain_check,
    load_ink,
    render,
    render_domain,
    split_indices,
    style_of,
    to_model,
)


def held_out_digits(size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """The 297 test digits as ink maps, and their classes."""
    ink, labels = load_ink(size)
    _, test = split_indices()
    return ink[test], labels[test]


@pytest.mark.parametrize("size", [16, 32])
@pytest.mark.parametrize("domain", ["plain", "inverted", "thick", "red", "green", "blue"])
def test_each_domain_check_recognises_its_own_renders_and_rejects_plain(size, domain):
    ink, _ = held_out_digits(size)
    assert domain_check(to_model(render_domain(ink, domain)), domain).float().mean() >= 0.99
    if domain != "plain":
        assert domain_check(to_model(render_domain(ink, "plain")), domain).float().mean() <= 0.01


def test_styles_are_told_apart_at_32_px():
    ink, _ = held_out_digits(32)
    for k in range(len(STYLES)):
        worn = style_of(to_model(render(ink, style=k)))
        assert sum(s == k for s in worn) / len(worn) >= 0.99, STYLES[k]
    assert sum(s is None for s in style_of(to_model(render(ink)))) / len(ink) >= 0.99


def test_judge_is_the_same_network_whatever_ran_before(tmp_path, monkeypatch):
    """The judge trained on a fresh machine depends neither on the global RNG (test order, earlier seeds), nor on
    the number of threads the process runs with (given back afterwards), nor on the caller's grad mode: a metric
    asks for it first inside no_grad or inference mode."""
    weights, threads = [], torch.get_num_threads()
    modes = (torch.enable_grad, torch.no_grad, torch.inference_mode)
    try:
        for seed, n, cache, mode in zip((1, 2, 3), (1, 2, 1), "abc", modes):
            monkeypatch.setenv("GANLIT_CACHE", str(tmp_path / cache))
            monkeypatch.setattr(digits_judges, "_JUDGE", None)
            torch.manual_seed(seed)
            torch.set_num_threads(n)
            with mode():
                judge = digit_judge(epochs=1)
            weights.append({k: v.clone() for k, v in judge.state_dict().items()})
            assert torch.get_num_threads() == n
    finally:
        torch.set_num_threads(threads)
    for other in weights[1:]:
        for key in weights[0]:
            assert torch.equal(weights[0][key], other[key]), key


@pytest.mark.parametrize("size", [16, 32])
def test_judge_reads_the_class_through_every_attribute(size):
    """The ceiling of every "class kept" check: true renders of the test digits, each attribute combination."""
    ink, labels = held_out_digits(size)
    judge = digit_judge()
    scores = []
    for colour in ("red", "green", "blue"):
        for thick in (False, True):
            for inverted in (False, True):
                x = to_model(render(ink, colour=colour, thick=thick, inverted=inverted))
                scores.append((judge.predict(x) == labels).float().mean().item())
    assert min(scores) >= (0.88 if size == 16 else 0.95), scores
    assert (judge.predict(to_model(render(ink))) == labels).float().mean() >= 0.95


def test_tasks_give_the_documented_batches():
    for task, keys in {
        "generate": {"image", "label"},
        "paired": {"A", "B", "label"},
        "unpaired": {"A", "B", "A_label", "B_label"},
        "attributes": {"image", "label", "digit"},
        "makeup": {"x", "y", "y_on_x", "x_regions", "y_regions", "x_label", "style"},
    }.items():
        data = DigitsDataModule(task=task, image_size=32, batch_size=4)
        data.setup("fit")
        item = data.train_set[0]
        assert set(item) == keys, task
        for key, value in item.items():
            if torch.is_tensor(value) and value.dim() == 3:
                assert value.shape[-2:] == (32, 32) and value.min() >= -1 and value.max() <= 1, (task, key)
    attrs = DigitsDataModule(task="attributes", image_size=16, batch_size=4)
    attrs.setup("fit")
    label = attrs.train_set[0]["label"]
    assert label.shape == (len(ATTRS),) and label[:3].sum() == 1  # exactly one colour
