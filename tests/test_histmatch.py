"""Region-wise colour histogram matching (the positive pair of PairedCycleGAN's style discriminator)."""

from __future__ import annotations

import pytest
import torch

from ganlit.histmatch import match_histograms, match_region, match_values


def ecdf_gap(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest gap between the empirical CDFs of two 1-d samples (Kolmogorov distance), at every value seen."""
    levels = torch.cat([a, b]).unique()
    cdf = lambda v: (v[None, :] <= levels[:, None]).double().mean(1)  # noqa: E731
    return (cdf(a) - cdf(b)).abs().max().item()


def test_match_values_hand_computed():
    # source ranks 2, 0, 1 pick the reference values of the same rank (sorted: -1, 5, 7)
    out = match_values(torch.tensor([30.0, 10.0, 20.0]), torch.tensor([5.0, -1.0, 7.0]))
    assert out.tolist() == [7.0, -1.0, 5.0]
    # 2 source values, 4 reference values: ranks 0, 1 -> floor((r + 0.5) * 4 / 2) = 1, 3
    out = match_values(torch.tensor([0.9, 0.1]), torch.tensor([1.0, 2.0, 3.0, 4.0]))
    assert out.tolist() == [4.0, 2.0]
    with pytest.raises(ValueError, match="values on both sides"):
        match_values(torch.tensor([1.0]), torch.tensor([]))


@pytest.mark.parametrize("n, m", [(50, 50), (37, 200), (300, 23)])
def test_match_values_takes_the_reference_histogram_and_keeps_the_source_order(n, m):
    g = torch.Generator().manual_seed(n * m)
    source, reference = torch.rand(3, n, generator=g), torch.randn(3, m, generator=g) * 0.3 + 0.5
    out = match_values(source, reference)
    for c in range(3):
        if n == m:  # a permutation of the reference: identical histograms
            assert torch.equal(out[c].sort().values, reference[c].sort().values)
        # stated tolerance: empirical CDFs within 1 / (2n) everywhere
        assert ecdf_gap(out[c], reference[c]) <= 0.5 / n + 1e-9
        # every output value is a reference value, and the source's rank order is kept (ties allowed)
        assert torch.isin(out[c], reference[c]).all()
        by_source = out[c][source[c].argsort()]
        assert (by_source[1:] >= by_source[:-1]).all()


def two_faces(size: int = 24):
    """A source with a red-ish 'lips' patch and a reference whose lips patch (elsewhere, of another size) is blue."""
    g = torch.Generator().manual_seed(0)
    source = torch.rand(3, size, size, generator=g) * 0.2
    reference = torch.rand(3, size, size, generator=g) * 0.2 + 0.5
    src_mask, ref_mask = torch.zeros(size, size), torch.zeros(size, size)
    src_mask[4:10, 3:15] = 1  # 72 pixels
    ref_mask[12:20, 10:20] = 1  # 80 pixels
    source[0, 4:10, 3:15] += 0.6
    reference[2, 12:20, 10:20] = torch.linspace(-1, 1, 80).reshape(8, 10)
    return source, reference, src_mask, ref_mask


def test_match_region_histogram_equals_the_reference_region_and_nothing_else_changes():
    source, reference, src_mask, ref_mask = two_faces()
    out = match_region(source, reference, src_mask, ref_mask)
    inside, ref_inside = src_mask.bool(), ref_mask.bool()
    n = int(inside.sum())
    for c in range(3):
        # tolerance: 1 / (2 * 72 pixels) on the empirical CDF; 16-bin histograms within 2 pixels per bin
        assert ecdf_gap(out[c][inside], reference[c][ref_inside]) <= 0.5 / n + 1e-9
        lo, hi = reference[c].min().item(), reference[c].max().item()
        h_out = torch.histc(out[c][inside], bins=16, min=lo, max=hi) / n
        h_ref = torch.histc(reference[c][ref_inside], bins=16, min=lo, max=hi) / int(ref_inside.sum())
        assert (h_out - h_ref).abs().max().item() <= 2 / n
    assert torch.equal(out[:, ~inside], source[:, ~inside])  # bit-exact outside the region
    # empty masks leave the face as it is
    assert torch.equal(match_region(source, reference, torch.zeros_like(src_mask), ref_mask), source)
    assert torch.equal(match_region(source, reference, src_mask, torch.zeros_like(ref_mask)), source)


def test_match_histograms_batched_regions_in_order():
    source, reference, src_mask, ref_mask = two_faces()
    # region 0: the lips patch; region 1: a larger box overlapping it ("skin"); region 2: empty ("eyes")
    skin_src, skin_ref = torch.zeros_like(src_mask), torch.zeros_like(ref_mask)
    skin_src[2:12, 2:20], skin_ref[0:6, 0:24] = 1, 1
    sm = torch.stack([src_mask, skin_src, torch.zeros_like(src_mask)])
    rm = torch.stack([ref_mask, skin_ref, torch.zeros_like(ref_mask)])
    batch = match_histograms(torch.stack([source, reference]), torch.stack([reference, source]),
                             torch.stack([sm, rm]), torch.stack([rm, sm]), order=(1, 0, 2))
    assert batch.shape == (2, 3, 24, 24)
    one = match_histograms(source, reference, sm, rm, order=(1, 0, 2))
    assert torch.equal(batch[0], one)
    # the region matched last (lips) wins where it overlaps skin; skin's own pixels come from skin matching
    lips = src_mask.bool()
    assert torch.equal(one[:, lips], match_region(source, reference, src_mask, ref_mask)[:, lips])
    skin_only = skin_src.bool() & ~lips
    assert torch.equal(one[:, skin_only], match_region(source, reference, skin_src, skin_ref)[:, skin_only])
    outside = ~(skin_src.bool() | lips)
    assert torch.equal(one[:, outside], source[:, outside])
    # matching never tracks gradients (the positive pair is a target, not a path to G)
    assert not match_histograms(source.requires_grad_(), reference, sm, rm).requires_grad


def test_match_histograms_rejects_mismatched_masks():
    source, reference, src_mask, ref_mask = two_faces()
    with pytest.raises(ValueError, match="masks"):
        match_histograms(source[None], reference[None], src_mask[None, None, :10], ref_mask[None, None])
    with pytest.raises(ValueError, match="same N and C"):
        match_histograms(source[None], reference[None, :2], src_mask[None, None], ref_mask[None, None])
