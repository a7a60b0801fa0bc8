"""Which image sizes a model's networks accept, checked at setup from the architecture itself.

Each image network runs once on shape-only tensors (``FakeTensorMode``: no memory, no arithmetic), so the rules
come from the layers (strides, paddings, norms, skip connections) and never drift from the code. A size that fails
raises ``ImageSizeError`` naming the network, torch's reason and the smallest size that works.
"""

from __future__ import annotations

import inspect
from typing import Any, Iterator, Optional

import torch
from torch import nn

from ganlit.errors import UsageError

# Sizes tried when looking for the smallest that works: every size up to 64, then multiples of 16 and 64.
_CANDIDATES = tuple(range(1, 65)) + tuple(range(80, 257, 16)) + tuple(range(320, 1025, 64))


class ImageSizeError(UsageError, ValueError):
    """The configured image size does not fit a network of the model."""


def image_networks(model: nn.Module) -> Iterator[tuple[str, nn.Module, bool]]:
    """``(name, network, is_generator)`` for each network of ``model`` that takes an image as its first input."""
    for group, is_gen in (("g_nets", True), ("d_nets", False)):
        nets = getattr(model, group, None)
        if nets is None:
            continue
        items = nets.items() if isinstance(nets, nn.ModuleDict) else [("", nets)]
        for key, net in items:
            params = list(inspect.signature(net.forward).parameters)
            if params and params[0] not in ("z", "noise"):
                yield (f"{group[0]}_nets[{key!r}]" if key else group), net, is_gen


def _example(net: nn.Module, size: int) -> Optional[list[Any]]:
    """Inputs for ``net.forward`` at ``size`` (batch 2), or None when a required argument is not understood."""
    first = next((m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))), None)
    channels = int(getattr(net, "in_channels", 0) or (first.in_channels if isinstance(first, nn.Conv2d) else 3))
    args = []
    for name, param in inspect.signature(net.forward).parameters.items():
        if param.default is not inspect.Parameter.empty:
            if name in ("labels", "label") and int(getattr(net, "num_classes", 0) or 0) > 0:
                args.append(torch.zeros(2, dtype=torch.long))  # a class-conditional network needs them
                continue
            break
        if name == "c" and hasattr(net, "c_dim"):
            args.append(torch.zeros(2, int(net.c_dim)))
        elif name in ("labels", "label"):
            args.append(torch.zeros(2, dtype=torch.long))
        elif name in ("x", "a", "b", "y_ref", "reference", "input", "image"):
            args.append(torch.zeros(2, channels, size, size))
        else:
            return None
    return args


def size_error(net: nn.Module, size: int, generator: bool) -> Optional[str]:
    """Why ``net`` cannot take ``size`` x ``size`` images (None when it can); a generator must keep the size."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    was_training = net.training
    net.eval()  # no running statistics are touched; instance norms still check their spatial size
    try:
        with FakeTensorMode(allow_non_fake_inputs=True), torch.no_grad():
            example = _example(net, size)
            if example is None:
                return None
            out = net(*example)
    except (RuntimeError, ValueError, IndexError) as err:
        return (str(err).strip().splitlines() or [type(err).__name__])[0]
    finally:
        net.train(was_training)
    out = out[0] if isinstance(out, (tuple, list)) else out
    if generator and isinstance(out, torch.Tensor) and out.dim() == 4 and tuple(out.shape[-2:]) != (size, size):
        return f"it turns {size}x{size} images into {out.shape[-2]}x{out.shape[-1]}"
    return None


def smallest_size(net: nn.Module, generator: bool) -> Optional[int]:
    return next((s for s in _CANDIDATES if size_error(net, s, generator) is None), None)


def check_image_size(model: nn.Module, size: Optional[int]) -> None:
    """Raise ``ImageSizeError`` when ``size`` does not fit every image network of ``model``."""
    if not size:
        return
    for name, net, is_gen in image_networks(model):
        reason = size_error(net, int(size), is_gen)
        if reason is None:
            continue
        if smallest_size(net, is_gen) is None:
            continue  # no size works: the example inputs do not suit this network, so it cannot be judged here
        works = [s for s in _CANDIDATES if all(size_error(n, s, g) is None for _, n, g in image_networks(model))]
        hint = "no size up to 1024 fits all its networks" if not works else (
            f"the smallest size that works is {works[0]} (then {', '.join(map(str, works[1:4]))}, ...)")
        raise ImageSizeError(
            f"image_size {size} does not fit {type(model).__name__}'s {type(net).__name__} ({name}): {reason}; "
            f"{hint}. Set data.init_args.image_size accordingly."
        )
