"""The inference contract: what a model does once trained, declared in the model's own file.

``ganlit sample``, ``translate``, ``evaluate``, ``export``, ``demo`` and ``predict`` read a model through these methods
only; none of them names a paper's class or looks at a signature. :class:`InferenceContract` (a base of
:class:`ganlit.models.base.GANModule`) gives defaults that suit a paper with one generator, so a paper overrides only what differs:

* :meth:`~InferenceContract.inference` -> :class:`Inference`: sample or translate; the directions and the options
  ``translate`` takes; image channels and training size; noise size, class and attribute names; the test-time mode.
* :meth:`~InferenceContract.inference_network`: the network that computes the images (of a direction), the EMA copy
  when EMA is on.
* :meth:`~InferenceContract.translate`, :meth:`~InferenceContract.generate`, :meth:`~InferenceContract.sample`.
* :meth:`~InferenceContract.image_networks` -> :class:`ImageNetwork`: which networks take images, what they take and
  the sizes they accept (``ganlit fit`` checks the image size against them; ``translate`` rounds inputs to them).
* :meth:`~InferenceContract.export_network` -> :class:`ExportedNetwork`: what ``ganlit export`` writes, and its mode.
* :meth:`~InferenceContract.evaluation_images`: (real, generated) pairs for FID/KID/IS.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

import torch
from torch import Tensor, nn

from ganlit.models.draws import ItemDraws
from ganlit.utils.modes import evaluating

__all__ = ["DIRECTIONS", "OPTIONS", "ExportedNetwork", "ImageNetwork", "Inference", "InferenceContract", "Input",
           "apply_generator", "class_labels", "per_image_batchnorm"]

DIRECTIONS = ("AtoB", "BtoA")
# The keywords ``translate`` may take beyond the images and the direction, and what each one carries.
OPTIONS = {
    "eval_mode": "True: eval mode (running statistics, no dropout) instead of the declared test-time mode",
    "target": "{attribute: value} for every attribute: the attributes the result should have",
    "c_org": "[N, K] float labels: the inputs' own attributes, which the test row flips one at a time",
    "reference": "[N, C, H, W] images in [-1, 1] whose style is applied to the inputs",
    "remove": "True: remove the style instead of applying one",
}


@dataclass(frozen=True)
class Input:
    """One input of a network (or of ``generate``/``translate``): what it is, its size, and how it is passed.

    ``kind``: ``image`` ([N, size, H, W] in [-1, 1]), ``noise`` ([N, size] standard normal), ``labels`` (int64 [N],
    classes 0..size-1) or ``attributes`` (float [N, size], 0/1 in the order of ``names``). ``option``: the
    ``translate`` keyword it is given as (None: the images themselves, or a positional argument of ``generate``).
    """

    name: str
    kind: Literal["image", "noise", "labels", "attributes"]
    size: int
    note: str = ""
    option: Optional[str] = None
    names: tuple[str, ...] = ()

    def shape(self) -> list[Any]:
        """The shape with free axes named: ``["N", C, "H", "W"]``, ``["N", size]`` or ``["N"]``."""
        return {"image": ["N", self.size, "H", "W"], "labels": ["N"]}.get(self.kind, ["N", self.size])

    def describe(self, image_size: Optional[int]) -> str:
        if self.kind == "image":
            text = (f"float32 [N, {self.size}, H, W] images in [-1, 1] (trained at {image_size}x{image_size}; any size "
                    "the network takes)")
        elif self.kind == "noise":
            text = f"float32 [N, {self.size}], standard normal noise"
        elif self.kind == "labels":
            text = f"int64 [N], class indices in [0, {self.size - 1}]"
        else:
            text = f"float32 [N, {self.size}], target labels 0/1 in the order {list(self.names)}"
        return f"{text}, {self.note}" if self.note else text

    def example(self, n: int, image_size: int, seed: int = 0) -> Tensor:
        """``n`` example values (seeded), as export traces and checks with."""
        g = torch.Generator().manual_seed(seed)
        if self.kind == "image":
            return torch.rand(n, self.size, image_size, image_size, generator=g) * 2 - 1
        if self.kind == "noise":
            return torch.randn(n, self.size, generator=g)
        if self.kind == "labels":
            return torch.arange(n) * (self.size - 1) // max(n - 1, 1)  # the first and the last class, for n = 2
        return torch.eye(self.size)[torch.arange(n) % self.size]


@dataclass(frozen=True)
class ImageNetwork:
    """A network that takes images. ``generator``: its output must keep the input's size. ``inputs``: what its
    forward takes, in order. ``multiple``: the sizes it accepts are multiples of this (None: found from its layers,
    see :mod:`ganlit.sizes`). ``direction``: the direction whose translations it computes (generators)."""

    name: str
    net: nn.Module
    generator: bool
    inputs: tuple[Input, ...]
    multiple: Optional[int] = None
    direction: Optional[str] = None


@dataclass(frozen=True)
class ExportedNetwork:
    """What ``ganlit export`` writes: ``net`` (a copy, in the mode it runs), its ``inputs``, the ``mode`` in words
    (first word ``eval`` or ``train``), the ``translate`` keywords that compute the same (``call``), and facts for
    the sidecar (``meta``)."""

    net: nn.Module
    inputs: tuple[Input, ...]
    mode: str
    call: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Inference:
    """What a model does at inference (see the module docstring).

    Args:
        task: ``sample`` (images from noise, and labels when ``classes`` is set) or ``translate`` (images to images).
        channels: channels of the images translate takes (domain A); ``channels_b``: of domain B when they differ.
        image_size: the size it was trained at (None: unknown).
        directions: the directions translate takes (``AtoB``/``BtoA``); empty when one network serves every target
            (StarGAN); always empty for samplers. With more than one, commands pass ``direction=``; with one or none, they never do.
        options: the keywords of :data:`OPTIONS` translate takes; commands pass only those, and only when asked.
        mode: how translate runs by default: ``eval``, or ``train`` (the official pix2pix test: dropout on, BatchNorm
            with each image's own statistics).
        z_dim: noise size of a sampler. ``classes``: class names of a conditional sampler (label k is ``classes[k]``).
        attributes, exclusive, single_label: attribute names in label order, those of which exactly one is on, and
            whether every image has exactly one (RaFD-like).
        sizing: how translate sizes inputs by default: ``keep`` (each input's size and aspect ratio, rounded to
            what the network takes), ``resize_and_crop`` or ``center_crop_resize`` (center-crop ``crop``, then a
            bilinear resize to ``image_size``: StarGAN's CelebA test).
        pixels: how outputs become 8-bit pixels: ``round`` (ganlit, StarGAN) or ``truncate`` (pix2pix/CycleGAN code).
        ema: the images come from an exponential moving average of the generator(s).
    """

    task: Literal["sample", "translate"] = "translate"
    channels: int = 3
    channels_b: Optional[int] = None
    image_size: Optional[int] = None
    directions: tuple[str, ...] = ("AtoB",)
    options: tuple[str, ...] = ()
    mode: Literal["eval", "train"] = "eval"
    z_dim: int = 0
    classes: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()
    exclusive: tuple[str, ...] = ()
    single_label: bool = False
    sizing: Literal["keep", "resize_and_crop", "center_crop_resize"] = "keep"
    crop: Optional[int] = None
    pixels: Literal["round", "truncate"] = "round"
    ema: bool = False

    def __post_init__(self) -> None:
        if self.task == "sample":  # a sampler translates nothing, so it has no direction
            object.__setattr__(self, "directions", ())
        checks = [("task", self.task in ("sample", "translate"), "'sample' or 'translate'"),
                  ("directions", set(self.directions) <= set(DIRECTIONS), "AtoB and/or BtoA"),
                  ("options", set(self.options) <= set(OPTIONS), f"names from {', '.join(OPTIONS)}"),
                  ("mode", self.mode in ("eval", "train"), "'eval' or 'train'"),
                  ("z_dim", self.task != "sample" or self.z_dim > 0, "the noise size (> 0) of a sampler"),
                  ("sizing", self.sizing in ("keep", "resize_and_crop", "center_crop_resize"),
                   "'keep', 'resize_and_crop' or 'center_crop_resize'"),
                  ("pixels", self.pixels in ("round", "truncate"), "'round' or 'truncate'")]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"Inference({name}={getattr(self, name)!r}): expected {expected}")

    def replace(self, **changes: Any) -> "Inference":
        """A copy with ``changes``: how a paper states what differs from its base's declaration."""
        return dataclasses.replace(self, **changes)

    def channels_of(self, direction: Optional[str]) -> int:
        """Channels of the images translated in ``direction``."""
        return self.channels_b if direction == "BtoA" and self.channels_b else self.channels


# ----------------------------------------------------------------------------- test-time modes
def _has_batchnorm(net: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())


def _has_dropout(net: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.dropout._DropoutNd) for m in net.modules())


def apply_generator(net: nn.Module, x: Tensor, eval_mode: bool = False) -> Tensor:
    """Run an image-to-image generator as the official pix2pix/CycleGAN test script does.

    ``eval_mode=False`` (the official default, and the paper's test protocol): training mode, so dropout
    stays on and BatchNorm normalises with the statistics of each image. The official test runs one
    image per batch; with BatchNorm the images are therefore passed one at a time, so a result never
    depends on the other images of a batch. The running statistics are restored afterwards.
    ``eval_mode=True``: running statistics and no dropout. The network's mode is restored on return.
    """
    if eval_mode:
        with evaluating(net):
            return net(x)
    was_training = net.training
    saved = [(buf, buf.detach().clone()) for buf in net.buffers()]
    net.train()
    try:
        if _has_batchnorm(net) and x.size(0) > 1:
            return torch.cat([net(x[i : i + 1]) for i in range(x.size(0))])
        return net(x)
    finally:
        with torch.no_grad():  # batch statistics of test images must not leak into the running averages
            for buf, value in saved:
                buf.copy_(value)
        net.train(was_training)


def per_image_batchnorm(net: nn.Module) -> nn.Module:
    """A copy of ``net`` whose BatchNorm layers normalise every image with its own statistics.

    BatchNorm in training mode applied to one image at a time (the official pix2pix test) normalises each
    channel over that image's pixels: exactly InstanceNorm with the same eps and affine weights. The copy
    uses InstanceNorm2d, so a batch gives every image the result it gets alone, and no running buffer changes.
    """
    net = copy.deepcopy(net)

    def swap(module: nn.Module) -> None:
        for name, child in module.named_children():
            if isinstance(child, nn.BatchNorm2d):
                norm = nn.InstanceNorm2d(child.num_features, eps=child.eps, affine=child.affine,
                                         track_running_stats=False)
                if child.affine:
                    norm.weight, norm.bias = child.weight, child.bias
                setattr(module, name, norm)
            else:
                swap(child)

    swap(net)
    return net


def class_labels(labels: Optional[Tensor], num: int, num_classes: int, device: Any = None) -> Tensor:
    """Labels for ``num`` samples: ``labels`` checked to lie in [0, num_classes), or every class in turn."""
    if labels is None:
        return torch.arange(num, device=device) % num_classes
    labels = torch.as_tensor(labels, device=device).long()
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes - 1}], got {labels.tolist()[:10]}")
    return labels


# ----------------------------------------------------------------------------- the defaults
class InferenceContract:
    """The inference methods every ganlit model has (see the module docstring); each default suits a paper with one
    generator in ``self.generator`` (or the domain-keyed ``self.generators``, with :meth:`inference_network`
    overridden) and discriminators in ``self.discriminator``/``self.discriminators``."""

    def inference(self) -> Inference:
        """The declaration. Default: translate one way (AtoB) in eval mode, with the channels and size the model
        was trained with. A paper returns ``super().inference().replace(...)`` with what differs."""
        from ganlit.facts import checkpoint_facts

        facts = checkpoint_facts(self)
        size = facts.get("image_size")
        return Inference(channels=int(facts.get("channels") or 3), image_size=int(size) if size else None,
                         ema=getattr(self, "generator_ema", None) is not None)

    def inference_network(self, direction: Optional[str] = None) -> nn.Module:
        """The network that computes the images (of ``direction``): ``sampling_nets()``, the EMA copy when on."""
        nets = self.sampling_nets()
        if isinstance(nets, nn.ModuleDict):
            raise NotImplementedError(f"{type(self).__name__} keeps its generators in a ModuleDict: override "
                                      "inference_network(direction) to say which one computes each direction")
        return nets

    @torch.no_grad()
    def translate(self, x: Tensor, direction: Optional[str] = None, eval_mode: bool = False, **options: Any) -> Tensor:
        """Images ``x`` [N, C, H, W] in [-1, 1] translated (in ``direction``) by :meth:`inference_network`, in the
        declared test-time mode (``eval_mode=True``: eval mode whatever was declared); the result is in [-1, 1]."""
        spec = self.inference()
        if options:
            raise TypeError(f"{type(self).__name__}.translate: unexpected options {sorted(options)}")
        if direction is not None and direction not in spec.directions:
            raise ValueError(f"{type(self).__name__} translates {', '.join(spec.directions) or 'no direction'}; "
                             f"got direction={direction!r}")
        return apply_generator(self.inference_network(direction), x, eval_mode or spec.mode == "eval")

    def generate(self, z: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        """Images in [-1, 1] from noise ``z`` [N, z_dim] (and int64 ``labels`` [N] for a conditional sampler)."""
        net = self.inference_network()
        return net(z) if labels is None else net(z, labels)

    @torch.no_grad()
    def sample(self, num: int, labels: Optional[Tensor] = None, seed: Optional[int] = None
               ) -> tuple[Tensor, Optional[Tensor]]:
        """``num`` images in [-1, 1] (and their labels for conditional models), reproducible with ``seed``:
        ``z ~ N(0, 1)`` drawn on the CPU from ``seed``, then :meth:`generate` in eval mode. Conditional models
        cycle through every class when ``labels`` is None."""
        spec = self.inference()
        if spec.task != "sample":
            raise TypeError(f"{type(self).__name__} translates images; it has nothing to sample from")
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        z = torch.randn(num, spec.z_dim, generator=g).to(self.device)
        with evaluating(self.inference_network()):
            if not spec.classes:
                return self.generate(z), labels
            labels = class_labels(labels, num, len(spec.classes), self.device)
            return self.generate(z, labels), labels

    def image_networks(self) -> list[ImageNetwork]:
        """The networks that take images. Default: the generators of a translator and every discriminator, each
        taking one image with the declared channels."""
        spec = self.inference()
        image = (Input("x", "image", spec.channels),)
        found = []
        homes = [("generators", "generator", True)] if spec.task == "translate" else []
        for plural, singular, is_generator in homes + [("discriminators", "discriminator", False)]:
            nets = getattr(self, plural, None)
            if isinstance(nets, nn.ModuleDict):
                found += [ImageNetwork(f"{plural}[{key!r}]", net, is_generator, image) for key, net in nets.items()]
            elif isinstance(getattr(self, singular, None), nn.Module):
                found.append(ImageNetwork(singular, getattr(self, singular), is_generator, image))
        return found

    def size_multiple(self, direction: Optional[str] = None) -> int:
        """The step between the image sizes the network of ``direction`` takes (translate rounds inputs to it)."""
        from ganlit.sizes import size_multiple

        spec = self.inference()
        entry = next((e for e in self.image_networks() if e.generator and e.direction in (None, direction)), None)
        if entry is None:
            entry = ImageNetwork("generator", self.inference_network(direction), True,
                                 (Input("x", "image", spec.channels_of(direction)),))
        return entry.multiple or size_multiple(entry)

    def export_network(self, direction: Optional[str] = None, eval_mode: bool = False) -> ExportedNetwork:
        """What ``ganlit export`` writes. Default: a sampler's generator ``G(z[, labels])`` in eval mode, or the
        translating network of ``direction`` in the declared test-time mode (``eval_mode``: eval mode)."""
        spec = self.inference()
        if spec.task == "sample":
            inputs = (Input("z", "noise", spec.z_dim),)
            if spec.classes:
                inputs += (Input("labels", "labels", len(spec.classes)),)
            return ExportedNetwork(copy.deepcopy(self.inference_network()).eval(), inputs, "eval")
        net = self.inference_network(direction)
        inputs = (Input("x", "image", spec.channels_of(direction)),)
        call: dict[str, Any] = {"direction": direction} if len(spec.directions) > 1 else {}
        meta = {"direction": direction} if spec.directions else {}
        changes = [w for w, has in (("dropout on", _has_dropout(net)), ("BatchNorm with each image's own statistics "
                   "(exported as InstanceNorm with the BatchNorm weights)", _has_batchnorm(net))) if has]
        if spec.mode == "train" and not eval_mode and changes:
            return ExportedNetwork(per_image_batchnorm(net).train(), inputs,
                                   "train, as the paper and the official test: " + ", ".join(changes), call, meta)
        if eval_mode and "eval_mode" in spec.options:
            call["eval_mode"] = True
        mode = "eval: BatchNorm running statistics, no dropout" if spec.mode == "train" and changes else "eval"
        return ExportedNetwork(copy.deepcopy(net).eval(), inputs, mode, call, meta)

    @torch.no_grad()
    def evaluation_images(self, batch: Any, draws: Optional[ItemDraws] = None) -> dict[str, tuple[Tensor, Tensor]]:
        """For the metrics: per direction (``""`` for samplers), (real images of the target domain, generated
        images), both in [-1, 1], from one eval batch. Default: samples for a batch's ``image`` (of its ``label``
        for conditional samplers); translations of ``A`` to ``B`` (and ``B`` to ``A``) for translators.

        Every random draw of item ``k`` (noise, dropout) comes from ``draws`` (:class:`ganlit.models.draws.ItemDraws`),
        so the images depend neither on the number of processes nor on the batch size; without ``draws`` (a direct
        call, ``ganlit predict``) they come from ``ItemDraws.from_global``. A model translating in ``train`` mode
        (dropout on) translates each item alone with its own draws."""
        spec = self.inference()
        if spec.task == "sample":
            real = batch["image"]
            draws = draws if draws is not None else ItemDraws.from_global(real.size(0))
            z = draws.randn(spec.z_dim, device=real.device, dtype=real.dtype)
            with evaluating(self.inference_network()):
                fake = self.generate(z, batch.get("label") if spec.classes else None)
            return {"": (real, fake)}
        pairs = {}
        for direction in spec.directions:
            source, target = ("A", "B") if direction == "AtoB" else ("B", "A")
            translate = functools.partial(self.translate, **({"direction": direction} if len(spec.directions) > 1 else {}))
            items = draws if draws is not None else ItemDraws.from_global(batch[source].size(0))
            fake = items.each(translate, batch[source]) if spec.mode == "train" else translate(batch[source])
            pairs[direction] = (batch[target], fake)
        return pairs
