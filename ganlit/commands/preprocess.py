"""How ``ganlit translate`` sizes its inputs: the official pix2pix/CycleGAN test options, by name.

* ``keep`` (the default): each image at its own size, rounded to what the network accepts, and the
  output resized back to the input's exact size, so the aspect ratio and the size are the input's.
* ``none``: the official ``--preprocess none``: the native size rounded to what the network accepts
  (``__make_power_2``), output at that size.
* ``resize_and_crop``: resize to a ``load`` x ``load`` square, then center-crop ``crop`` (the official test's default,
  with load = crop = 256; ganlit checkpoints load at their training size).
* ``scale_width``: scale the width to ``load`` keeping the aspect ratio, then center-crop ``crop`` x ``crop``.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
from PIL import Image
from torch import Tensor

from ganlit.utils.outputs import rounded_uint8  # noqa: F401  (re-exported: the commands import it from here)

PREPROCESS = ("keep", "none", "resize_and_crop", "scale_width")


def round_to(size: int, base: int) -> int:
    """The official ``__make_power_2``: the nearest multiple of ``base`` (at least ``base``)."""
    return max(base, int(round(size / base) * base))


def official_preprocess(mode: str, load: int, crop: Optional[int], base: int, grayscale: bool
                        ) -> Callable[[Image.Image], Tensor]:
    """PIL image -> ``[C, H, W]`` in [-1, 1] (bicubic, ToTensor, Normalize(0.5, 0.5)) under preprocessing ``mode``."""
    import torchvision.transforms.functional as TF
    from torchvision.transforms import InterpolationMode

    bicubic = InterpolationMode.BICUBIC
    crop = crop or load
    channels = 1 if grayscale else 3

    def preprocess(image: Image.Image) -> Tensor:
        image = image.convert("RGB")
        if grayscale:
            image = TF.to_grayscale(image, 1)
        w, h = image.size
        if mode in ("keep", "none"):
            size = [round_to(h, base), round_to(w, base)]
            if size != [h, w]:
                image = TF.resize(image, size, bicubic)
        elif mode == "resize_and_crop":
            image = TF.center_crop(TF.resize(image, [load, load], bicubic), [crop, crop])
        elif mode == "scale_width":
            image = TF.resize(image, [max(int(load * h / w), crop), load], bicubic)
            image = TF.center_crop(image, [crop, crop])
        else:
            raise ValueError(f"preprocess {mode!r}: expected one of {', '.join(PREPROCESS)}")
        return TF.normalize(TF.to_tensor(image), [0.5] * channels, [0.5] * channels)

    return preprocess


def make_preprocess(size: int, crop: Optional[int], grayscale: bool, bicubic: bool) -> Callable[[Image.Image], Tensor]:
    """PIL image -> ``[C, size, size]`` in [-1, 1], with the official test scripts' operations (torchvision on PIL).

    pix2pix/CycleGAN ``test.py``: resize to load_size = crop_size square with PIL bicubic, no flip,
    ToTensor, Normalize(0.5, 0.5). StarGAN: CenterCrop(178), Resize(image_size) (bilinear), same tensors.
    """
    import torchvision.transforms.functional as TF
    from torchvision.transforms import InterpolationMode

    method = InterpolationMode.BICUBIC if bicubic else InterpolationMode.BILINEAR

    def preprocess(image: Image.Image) -> Tensor:
        image = image.convert("RGB")
        if grayscale:
            image = TF.to_grayscale(image, 1)
        if crop is not None:
            image = TF.center_crop(image, [crop, crop])
        image = TF.resize(image, [size, size], method)
        return TF.normalize(TF.to_tensor(image), [0.5] * (1 if grayscale else 3), [0.5] * (1 if grayscale else 3))

    return preprocess


def official_pix2pix_uint8(image: Tensor) -> np.ndarray:
    """The official ``util.tensor2im``: ``(x + 1) / 2 * 255`` in float32, truncated to uint8; grey tiled to RGB."""
    array = image.detach().cpu().float().numpy()
    if array.shape[0] == 1:
        array = np.tile(array, (3, 1, 1))
    return ((np.transpose(array, (1, 2, 0)) + 1) / 2.0 * 255.0).astype(np.uint8)

