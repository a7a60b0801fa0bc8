"""Region-wise colour histogram matching: carry one face's colours onto another face, region by region.

PairedCycleGAN (Chang et al., 2018) builds the positive pair of its style discriminator by warping the
reference face onto the source face with facial landmarks. With segmentation masks (the MT dataset), a
practical stand-in is BeautyGAN's (Li et al., 2018) region-wise histogram matching: inside each region
(lips, skin, eyes), each colour channel of the source gets the reference's value distribution while
keeping its own rank order, so shading is kept and the colours become the reference's.

Matching of one channel (``match_values``): with n source values and m reference values, the source value
of rank r (0-based, ties broken by position) becomes the reference value of rank ``floor((r + 0.5) * m / n)``.
When n == m the output is a permutation of the reference values (identical histograms); otherwise the
empirical CDFs of the output and the reference differ by at most 1/(2n) at any level.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor


def match_values(source: Tensor, reference: Tensor) -> Tensor:
    """Values of ``source`` [..., n] replaced by the reference's [..., m] of the same quantile (per leading index)."""
    n, m = source.shape[-1], reference.shape[-1]
    if n == 0 or m == 0:
        raise ValueError(f"histogram matching needs values on both sides, got {n} source and {m} reference values")
    order = source.argsort(dim=-1, stable=True)
    rank = torch.empty_like(order)
    rank.scatter_(-1, order, torch.arange(n, device=source.device).expand_as(order))
    ref_sorted = reference.sort(dim=-1).values
    index = ((rank.to(torch.float64) + 0.5) * m / n).floor().long().clamp_(max=m - 1)
    return ref_sorted.gather(-1, index)


def match_region(source: Tensor, reference: Tensor, source_mask: Tensor, reference_mask: Tensor) -> Tensor:
    """One image [C, H, W]: inside ``source_mask`` [H, W], each channel takes the colour histogram of
    ``reference`` [C, H', W'] inside ``reference_mask`` [H', W']; outside it nothing changes.
    An empty mask on either side returns the source unchanged."""
    src_sel, ref_sel = source_mask > 0.5, reference_mask > 0.5
    if not bool(src_sel.any()) or not bool(ref_sel.any()):
        return source.clone()
    out = source.clone()
    out[:, src_sel] = match_values(source[:, src_sel], reference[:, ref_sel]).to(source.dtype)
    return out


@torch.no_grad()
def match_histograms(
    source: Tensor,
    reference: Tensor,
    source_masks: Tensor,
    reference_masks: Tensor,
    order: Optional[Sequence[int]] = None,
) -> Tensor:
    """Carry ``reference``'s colours onto ``source`` region by region (no gradient).

    Args:
        source, reference: images [N, C, H, W] (or one image [C, H, W]); the two may differ in size.
        source_masks, reference_masks: region masks [N, R, H, W] (or [R, H, W]) of each image, region k of
            one matched to region k of the other (MT: lips, skin, eyes).
        order: the regions to match, in order; where regions overlap, a later one overwrites an earlier
            one (default: all, in mask order). Every region is matched from the original source values.

    Returns the source with each matched region recoloured; pixels outside every matched region are
    returned unchanged (bit-exact).
    """
    single = source.dim() == 3
    if single:
        source, reference = source[None], reference[None]
        source_masks, reference_masks = source_masks[None], reference_masks[None]
    if source.dim() != 4 or reference.dim() != 4 or source.shape[:2] != reference.shape[:2]:
        raise ValueError(
            f"match_histograms: expected source and reference [N, C, H, W] with the same N and C, "
            f"got {tuple(source.shape)} and {tuple(reference.shape)}"
        )
    if (source_masks.shape[0] != source.shape[0] or source_masks.shape[-2:] != source.shape[-2:]
            or reference_masks.shape[-2:] != reference.shape[-2:] or reference_masks.shape[:2] != source_masks.shape[:2]):
        raise ValueError(
            f"match_histograms: masks {tuple(source_masks.shape)} / {tuple(reference_masks.shape)} must be "
            f"[N, R, H, W] matching the images {tuple(source.shape)} / {tuple(reference.shape)}"
        )
    regions = range(source_masks.shape[1]) if order is None else order
    out = source.clone()
    for i in range(source.shape[0]):
        for k in regions:
            sel = source_masks[i, k] > 0.5
            matched = match_region(source[i], reference[i], source_masks[i, k], reference_masks[i, k])
            out[i][:, sel] = matched[:, sel]
    return out[0] if single else out
