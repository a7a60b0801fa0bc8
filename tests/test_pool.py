"""ImagePool: fill, swap statistics, pass-through, and its state (images and draws) surviving a round trip."""

from __future__ import annotations

import pytest
import torch

from ganlit.pool import ImagePool


def _images(start: int, n: int) -> torch.Tensor:
    """Images whose every pixel holds their own id, so a returned image tells where it came from."""
    return torch.arange(start, start + n, dtype=torch.float32)[:, None, None, None].expand(n, 1, 2, 2).clone()


def _ids(batch: torch.Tensor) -> list[int]:
    return batch[:, 0, 0, 0].long().tolist()


def test_until_full_every_image_is_stored_and_returned_per_image():
    pool = ImagePool(4, seed=0)
    out = pool.query(_images(0, 3))
    assert _ids(out) == [0, 1, 2] and len(pool) == 3
    # One batch crosses the fill line: the first image fills the pool, the next two face the coin flip.
    out = pool.query(_images(3, 3))
    stored = _ids(torch.stack(pool.images))
    assert len(pool) == 4 and _ids(out)[0] == 3
    # Every image is kept or handed out: new ones not stored are returned, swapped-out old ones too.
    assert set(stored) | set(_ids(out)) == set(range(6)) and len(set(stored)) == 4


def test_full_pool_returns_a_stored_image_about_half_the_time():
    torch.manual_seed(0)
    pool = ImagePool(50, seed=1)
    pool.query(_images(0, 50))
    n, from_pool = 4000, 0
    for i in range(n // 8):
        batch = _images(1000 + 8 * i, 8)
        out = pool.query(batch)
        from_pool += sum(a != b for a, b in zip(_ids(out), _ids(batch)))
        assert len(pool) == 50
    # Binomial(4000, 0.5): standard deviation ~32; 4.5 sigma either way.
    assert abs(from_pool - n / 2) < 140
    # What comes back is the image itself or one seen before it, never a later one.
    out = pool.query(_images(9000, 64))
    for new, got in zip(range(9000, 9064), _ids(out)):
        assert got == new or got < new


def test_returned_old_images_are_uniform_over_the_slots():
    pool = ImagePool(10, seed=2)
    pool.query(_images(0, 10))
    hits = torch.zeros(10)
    for i in range(2000):
        before = _ids(torch.stack(pool.images))
        out = _ids(pool.query(_images(100 + i, 1)))[0]
        if out != 100 + i:
            hits[before.index(out)] += 1
    assert hits.min() > 60 and hits.max() < 140  # ~100 each


def test_pool_size_zero_passes_through_and_stores_nothing():
    pool = ImagePool(0)
    x = torch.randn(5, 3, 4, 4, requires_grad=True)
    out = pool.query(x)
    assert torch.equal(out, x) and not out.requires_grad and len(pool) == 0


def test_query_detaches_and_copies():
    pool = ImagePool(4, seed=0)
    x = torch.randn(2, 3, 4, 4, requires_grad=True) * 1.0
    out = pool.query(x)
    assert not out.requires_grad and not any(im.requires_grad for im in pool.images)
    assert pool.images[0].untyped_storage().data_ptr() != x.untyped_storage().data_ptr()


def test_state_round_trip_restores_images_and_future_draws():
    pool = ImagePool(6, seed=3)
    for i in range(5):
        pool.query(_images(10 * i, 3))
    state = pool.state_dict()
    assert state["images"].shape == (6, 1, 2, 2)
    twin = ImagePool(6, seed=99)  # another seed: only the loaded state may decide what comes next
    twin.load_state_dict(state)
    assert torch.equal(torch.stack(twin.images), torch.stack(pool.images))
    for i in range(20):
        batch = _images(1000 + 4 * i, 4)
        assert torch.equal(pool.query(batch), twin.query(batch))
    assert torch.equal(torch.stack(twin.images), torch.stack(pool.images))


def test_empty_state_round_trip_and_mismatched_size_is_named():
    state = ImagePool(3, seed=0).state_dict()
    twin = ImagePool(3)
    twin.load_state_dict(state)
    assert len(twin) == 0
    with pytest.raises(ValueError, match="holds up to 3 images, this one 5"):
        ImagePool(5).load_state_dict(state)
    with pytest.raises(KeyError, match="rng"):
        ImagePool(3).load_state_dict({"pool_size": 3, "images": torch.empty(0)})
    with pytest.raises(ValueError, match="pool_size=-1"):
        ImagePool(-1)


def test_default_seed_follows_torch_initial_seed():
    torch.manual_seed(7)
    a = ImagePool(2)
    torch.manual_seed(7)
    b = ImagePool(2)
    assert torch.equal(a.generator.get_state(), b.generator.get_state())
