"""Exact resume of the base loop and the digits data position (GAN family)."""

import pytest

from ganlit.data import DigitsDataModule
from ganlit.data.base import ResumableDataLoader, ResumableSampler
from ganlit.models import CGAN
from resume_util import assert_exact_resume


def test_sampler_order_depends_on_seed_and_epoch_only():
    s = ResumableSampler(10, shuffle=True, seed=3)
    s.set_epoch(2)
    first = list(s)
    s.set_epoch(2)
    assert list(s) == first
    s.skip = 4
    assert list(s) == first[4:]
    s.set_epoch(3)
    assert list(s) != first


def test_loader_state_round_trip():
    loader = ResumableDataLoader(list(range(10)), batch_size=2, sampler=ResumableSampler(10, shuffle=True, seed=1))
    it = iter(loader)
    seen = [next(it).tolist() for _ in range(2)]
    state = loader.state_dict()
    assert state == {"epoch": 0, "batches_served": 2}
    rest = [b.tolist() for b in it]
    fresh = ResumableDataLoader(list(range(10)), batch_size=2, sampler=ResumableSampler(10, shuffle=True, seed=1))
    fresh.load_state_dict(state)
    assert [b.tolist() for b in fresh] == rest and len(seen + rest) == 5


@pytest.mark.slow
def test_cgan_resumes_exactly_mid_epoch(tmp_path):
    # 1,500 training digits at batch 128: 11 iterations per epoch; stop after 15 iterations (30 optimizer steps).
    assert_exact_resume(lambda: CGAN(image_size=16, ngf=8, ndf=8, ema_decay=0.9),
                        lambda: DigitsDataModule(task="generate", image_size=16, batch_size=128),
                        tmp_path, epochs=2, stop_after_steps=30)
