"""ImagePool: fill, swap statistics, pass-through, and its state surviving a round trip."""

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
    torch.manual_seed(0)
    pool = ImagePool(4)
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
    pool = ImagePool(50)
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
    torch.manual_seed(2)
    pool = ImagePool(10)
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
    pool = ImagePool(4)
    x = torch.randn(2, 3, 4, 4, requires_grad=True) * 1.0
    out = pool.query(x)
    assert not out.requires_grad and not any(im.requires_grad for im in pool.images)
    assert pool.images[0].untyped_storage().data_ptr() != x.untyped_storage().data_ptr()


def test_state_round_trip_restores_the_images_and_torch_rng_decides_the_draws():
    torch.manual_seed(3)
    pool = ImagePool(6)
    for i in range(5):
        pool.query(_images(10 * i, 3))
    state = pool.state_dict()
    assert set(state) == {"pool_size", "images"} and state["images"].shape == (6, 1, 2, 2)
    twin = ImagePool(6)
    twin.load_state_dict(state)
    assert torch.equal(torch.stack(twin.images), torch.stack(pool.images))
    rng = torch.get_rng_state()
    for i in range(20):
        pool.query(_images(1000 + 4 * i, 4))
    torch.set_rng_state(rng)  # what GANModule's checkpoint restores on resume
    for i in range(20):
        twin.query(_images(1000 + 4 * i, 4))
    assert torch.equal(torch.stack(twin.images), torch.stack(pool.images))
    assert _ids(torch.stack(pool.images)) != _ids(state["images"])  # the 80 queries did swap


def test_empty_state_round_trip_and_mismatched_size_is_named():
    state = ImagePool(3).state_dict()
    twin = ImagePool(3)
    twin.load_state_dict(state)
    assert len(twin) == 0
    with pytest.raises(ValueError, match="holds up to 3 images, this one 5"):
        ImagePool(5).load_state_dict(state)
    with pytest.raises(KeyError, match="images"):
        ImagePool(3).load_state_dict({"pool_size": 3})
    with pytest.raises(ValueError, match="pool_size=-1"):
        ImagePool(-1)
