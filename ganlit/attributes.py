"""Attribute labels of multi-domain translation (StarGAN): the official test label sets and target vectors
given by name or by value."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor

CELEBA_DEFAULT_ATTRS = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]
# The official create_labels treats these CelebA attributes as one exclusive group (a single hair colour).
HAIR_COLOURS = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair"]

Target = Union[Tensor, Sequence[float], Mapping[str, Any]]


def official_test_labels(
    c_org: Tensor,
    attr_names: list[str],
    single_label: bool = False,
    exclusive: Sequence[str] = tuple(HAIR_COLOURS),
) -> list[Tensor]:
    """The target label sets of the official test grid, one per attribute (the official ``create_labels``).

    Multi-label (CelebA): for attribute ``i`` in the ``exclusive`` group (the hair colours), set it to 1 and
    the rest of the group to 0; any other attribute is flipped (``c[:, i] = (c[:, i] == 0)``), the others
    keep their values. Single-label (RaFD): the one-hot vector of class ``i`` for every image.

    Args:
        c_org: the original labels [N, K], 0/1.
        attr_names: the K attribute (or class) names, in label order.
        single_label: one class per image (RaFD) instead of independent attributes.
        exclusive: names forming the exclusive group (default the four CelebA hair colours).
    """
    if c_org.dim() != 2 or c_org.size(1) != len(attr_names):
        raise ValueError(
            f"c_org has shape {tuple(c_org.shape)}, expected [N, {len(attr_names)}] for attributes {list(attr_names)}"
        )
    n, k = c_org.shape
    if single_label:
        return [F.one_hot(torch.full((n,), i, device=c_org.device), k).to(c_org.dtype) for i in range(k)]
    group = [i for i, name in enumerate(attr_names) if name in exclusive]
    labels = []
    for i in range(k):
        c = c_org.clone()
        if i in group:
            c[:, group] = 0
            c[:, i] = 1
        else:
            c[:, i] = (c[:, i] == 0).to(c.dtype)
        labels.append(c)
    return labels


def target_vector(target: Target, attr_names: list[str], n: int, c_org: Optional[Tensor] = None) -> Tensor:
    """Target labels [n, K] over ``attr_names`` from a tensor/list ([K] or [n, K]) or a dict ``{attribute: value}``;
    a dict that leaves attributes out needs ``c_org`` (the inputs' labels) to fill them."""
    if isinstance(target, Mapping):
        unknown = [k for k in target if k not in attr_names]
        if unknown:
            raise ValueError(f"target names unknown attribute(s) {unknown}; attributes: {attr_names}")
        missing = [a for a in attr_names if a not in target]
        if missing and c_org is None:
            raise ValueError(f"target gives no value for {missing}: list every attribute of {attr_names}"
                             " or pass c_org (the input's labels) to keep the others")
        c = c_org.clone().float() if c_org is not None else torch.zeros(n, len(attr_names))
        for name, value in target.items():
            c[:, attr_names.index(name)] = float(value)
        return c
    c = torch.as_tensor(target, dtype=torch.float32)
    if c.dim() == 1:
        c = c.unsqueeze(0).expand(n, -1)
    if c.shape != (n, len(attr_names)):
        raise ValueError(f"target has shape {tuple(c.shape)}, expected [{len(attr_names)}] or "
                         f"[{n}, {len(attr_names)}] over {attr_names}")
    return c
