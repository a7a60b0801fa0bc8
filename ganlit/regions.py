"""Region crops for per-region training (PairedCycleGAN trains eyes, lips and skin on crops): the bounding box of
each mask, a differentiable crop of it at a fixed size, and the paste back into the full image."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def region_boxes(masks: Tensor) -> Tensor:
    """Bounding boxes [N, 4] = (x0, y0, x1, y1) in pixel edges of masks [N, H, W]; an empty mask gives the whole image."""
    n, h, w = masks.shape
    on = masks > 0.5
    rows, cols = on.any(2), on.any(1)
    y0 = rows.float().argmax(1)
    y1 = h - rows.flip(1).float().argmax(1)
    x0 = cols.float().argmax(1)
    x1 = w - cols.flip(1).float().argmax(1)
    empty = ~rows.any(1)
    box = torch.stack([x0, y0, x1, y1], 1).float()
    box[empty] = torch.tensor([0.0, 0.0, float(w), float(h)], device=masks.device)
    return box


def _centre_scale(boxes: Tensor, h: int, w: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    # Pixel edges -> normalised coordinates of affine_grid(align_corners=False): centre and half-extent.
    nx0, nx1 = 2 * boxes[:, 0] / w - 1, 2 * boxes[:, 2] / w - 1
    ny0, ny1 = 2 * boxes[:, 1] / h - 1, 2 * boxes[:, 3] / h - 1
    return (nx0 + nx1) / 2, (ny0 + ny1) / 2, (nx1 - nx0) / 2, (ny1 - ny0) / 2


def crop_boxes(images: Tensor, boxes: Tensor, size: int) -> Tensor:
    """Each image's box resampled (bilinear) to ``size`` x ``size``; differentiable. A box of exactly
    ``size`` pixels is copied exactly."""
    n, c, h, w = images.shape
    cx, cy, sx, sy = _centre_scale(boxes, h, w)
    theta = images.new_zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx, cx, sy, cy
    grid = F.affine_grid(theta, [n, c, size, size], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def paste_boxes(crops: Tensor, boxes: Tensor, height: int, width: int) -> Tensor:
    """The inverse of :func:`crop_boxes`: each crop resampled back into its box of a ``height`` x ``width``
    canvas (outside the box: the crop's border, to be masked away by the caller)."""
    n, c = crops.shape[:2]
    cx, cy, sx, sy = _centre_scale(boxes, height, width)
    theta = crops.new_zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = 1 / sx, -cx / sx, 1 / sy, -cy / sy
    grid = F.affine_grid(theta, [n, c, height, width], align_corners=False)
    return F.grid_sample(crops, grid, mode="bilinear", padding_mode="border", align_corners=False)
