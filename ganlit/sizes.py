"""Which image sizes a model's networks accept, checked at setup from the architecture itself.

The networks that take images, and what each takes, are the model's own declaration
(:meth:`ganlit.models.inference.InferenceContract.image_networks`). Each runs once on shape-only tensors
(``FakeTensorMode``: no memory, no arithmetic), so the rules come from the layers (strides, paddings, norms, skip
connections) and never drift from the code; a network that declares the ``multiple`` its sizes come in is not run at
all. A size that fails raises ``ImageSizeError`` naming the network, torch's reason and the smallest size that works.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Iterator, Optional

import torch
from torch import nn

from ganlit.errors import UsageError
from ganlit.utils.modes import evaluating

if TYPE_CHECKING:
    from ganlit.models.inference import ImageNetwork

# Sizes tried when looking for the smallest that works: every size up to 64, then multiples of 16 and 64.
_CANDIDATES = tuple(range(1, 65)) + tuple(range(80, 257, 16)) + tuple(range(320, 1025, 64))


class ImageSizeError(UsageError, ValueError):
    """The configured image size does not fit a network of the model."""


@contextlib.contextmanager
def _quiet_fake_tensors() -> Iterator[None]:
    """torch logs every op a fake tensor cannot run at ERROR level (a traceback each); a size that does not fit is
    an answer here, not an error, so those records are dropped while probing."""
    logger = logging.getLogger("torch._subclasses.fake_tensor")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def size_error(entry: "ImageNetwork", size: int) -> Optional[str]:
    """Why ``entry``'s network cannot take ``size`` x ``size`` images (None when it can); a generator must keep the
    size. With a declared ``multiple``, the answer is read from it without running the network."""
    if entry.multiple:
        return None if size % entry.multiple == 0 else f"it takes sizes that are multiples of {entry.multiple}"
    from torch._subclasses.fake_tensor import FakeTensorMode

    net = entry.net
    # Eval mode: no running statistics are touched; instance norms still check their spatial size.
    try:
        with evaluating(net), _quiet_fake_tensors(), FakeTensorMode(allow_non_fake_inputs=True), torch.no_grad():
            out = net(*[i.example(2, size) for i in entry.inputs])
    except (RuntimeError, ValueError, IndexError) as err:
        return (str(err).strip().splitlines() or [type(err).__name__])[0]
    out = out[0] if isinstance(out, (tuple, list)) else out
    if entry.generator and isinstance(out, torch.Tensor) and out.dim() == 4 and tuple(out.shape[-2:]) != (size, size):
        return f"it turns {size}x{size} images into {out.shape[-2]}x{out.shape[-1]}"
    return None


def smallest_size(entry: "ImageNetwork") -> Optional[int]:
    if entry.multiple:
        return entry.multiple
    return next((s for s in _CANDIDATES if size_error(entry, s) is None), None)


def size_multiple(entry: "ImageNetwork") -> int:
    """The step between sizes ``entry`` accepts (4 for a ResNet generator, 2**num_downs for a U-Net); 4 if unknown."""
    if entry.multiple:
        return entry.multiple
    first = smallest_size(entry)
    if first is None:
        return 4
    for step in (1, 2, 4, 8, 16, 32, 64, 128, 256):
        if first % step == 0 and all(size_error(entry, first + k * step) is None for k in (1, 2)):
            return step
    return 4


def check_image_size(model: nn.Module, size: Optional[int]) -> None:
    """Raise ``ImageSizeError`` when ``size`` does not fit every image network ``model`` declares. Each network runs
    once at ``size``; only when one fails are other sizes tried, to name the smallest that works."""
    if not size:
        return
    entries = model.image_networks()
    for entry in entries:
        reason = size_error(entry, int(size))
        if reason is None:
            continue
        if smallest_size(entry) is None:
            continue  # no size works: the declared inputs do not suit this network, so it cannot be judged here
        works = [s for s in _CANDIDATES if all(size_error(e, s) is None for e in entries)]
        hint = "no size up to 1024 fits all its networks" if not works else (
            f"the smallest size that works is {works[0]} (then {', '.join(map(str, works[1:4]))}, ...)")
        raise ImageSizeError(
            f"image_size {size} does not fit {type(model).__name__}'s {type(entry.net).__name__} ({entry.name}): "
            f"{reason}; {hint}. Set data.init_args.image_size accordingly."
        )
