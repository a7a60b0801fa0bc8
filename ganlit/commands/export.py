"""``ganlit export``: the generator of a ganlit checkpoint alone, as TorchScript or ONNX, for inference.

    ganlit export --ckpt runs/cyclegan/last.ckpt --format torchscript --output horse2zebra.pt [--direction BtoA]
    ganlit export --ckpt runs/pix2pix/last.ckpt --format onnx --output facades.onnx [--eval]
    ganlit export --ckpt runs/cgan/last.ckpt --format torchscript --output cgan.pt

What is exported is what ``ganlit translate`` / ``ganlit sample`` run, with the EMA weights when the
checkpoint has them:

* GAN, CGAN: ``G(z)`` / ``G(z, labels)``, z ~ N(0, 1) of shape [N, z_dim], labels int64 [N]; eval mode.
* pix2pix, PAN: the U-Net, by default as the paper's and the official test: dropout on and BatchNorm with
  the statistics of each image (exported as InstanceNorm with the BatchNorm's affine weights, which is
  the same computation and works for any batch size); ``--eval``: running statistics, no dropout.
* CycleGAN, DiscoGAN: the generator of ``--direction`` (AtoB or BtoA); DiscoGAN's [0, 1] networks are
  wrapped so that, like ``translate``, images go in and come out in [-1, 1]. Eval mode.
* StarGAN: ``G(x, c)`` with c the float 0/1 target labels [N, num_attrs]; eval mode with per-image
  statistics, as the official test.
* PairedCycleGAN (whole-face): AtoB ``G(x, reference)`` applies makeup; BtoA ``F(y)`` removes it.

Beside ``FILE`` a JSON sidecar ``FILE.json`` records the inputs and outputs (names, shapes, ranges), the image
size, the normalisation (inputs in [-1, 1]: ``x = (pixel / 255 - 0.5) / 0.5``), the mode and EMA use, and the
check that was run on the written file. Neither file is overwritten without ``--overwrite``.
Exit codes: 0 written; 2 bad input, reported as one line.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from torch import Tensor, nn

from ganlit.errors import UsageError, command, report

__all__ = ["Exportable", "build_parser", "exportable", "main", "per_image_batchnorm"]


IMAGES = "float32 images in [-1, 1]"


class ExportError(UsageError):
    """A problem with the user's input, reported as one line and exit code 2."""


@dataclass
class Exportable:
    """A network ready to export: example inputs (batch 2), their names and descriptions, and facts for the sidecar."""

    net: nn.Module
    inputs: dict[str, Tensor]
    input_notes: dict[str, str]
    output_note: str
    meta: dict[str, Any] = field(default_factory=dict)


class UnitRange(nn.Module):
    """Runs a [0, 1] network on [-1, 1] images and returns [-1, 1] (DiscoGAN's ``translate``)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net((x + 1) / 2) * 2 - 1


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


def _fixed_size(model: nn.Module) -> Optional[int]:
    """The training image size: the model's ``image_size`` or that of its fixed sample images."""
    from ganlit.facts import image_size_of

    return image_size_of(model)


def _images(n: int, channels: int, size: int) -> Tensor:
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1


def _in_channels(net: nn.Module) -> int:
    return next(m.in_channels for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)))


def exportable(model: nn.Module, direction: Optional[str] = None, eval_mode: bool = False,
               image_size: Optional[int] = None) -> Exportable:
    """The generator of a ganlit module as :class:`Exportable` (the network ``translate``/``generate`` runs)."""
    from ganlit.models.cyclegan import CycleGAN, generator_key
    from ganlit.models.discogan import DiscoGAN
    from ganlit.models.gan import GAN
    from ganlit.models.paired_cyclegan import PairedCycleGAN
    from ganlit.models.pix2pix import PairedTranslationGAN
    from ganlit.models.stargan import StarGAN

    name = type(model).__name__
    size = image_size or _fixed_size(model)
    ema = getattr(model, "generator_ema", None) is not None
    nets = model.sampling_nets()
    meta: dict[str, Any] = {"ema": ema}
    if isinstance(model, GAN):
        if direction is not None:
            raise ExportError(f"--direction does not apply to {name}: it samples G(z); omit --direction")
        net = copy.deepcopy(nets).eval()
        z = torch.randn(2, model.z_dim, generator=torch.Generator().manual_seed(0))
        inputs, notes = {"z": z}, {"z": f"float32 [N, {model.z_dim}], standard normal noise"}
        if getattr(model, "conditional", False):
            inputs["labels"] = torch.tensor([0, model.num_classes - 1])
            notes["labels"] = f"int64 [N], class indices in [0, {model.num_classes - 1}]"
        return Exportable(net, inputs, notes, IMAGES, meta | {"mode": "eval"})
    direction = direction or "AtoB"
    if direction not in ("AtoB", "BtoA"):
        raise ExportError(f"--direction {direction!r}: expected AtoB or BtoA")
    if size is None:
        raise ExportError(f"{name} does not record its image size (it was never trained on a batch); pass --image-size")
    image = "float32 [N, {c}, H, W] images in [-1, 1] (trained at {s}x{s}; any size the network takes)"
    if isinstance(model, PairedTranslationGAN):
        if direction != "AtoB":
            raise ExportError(f"{name} learns one mapping, A -> B: use --direction AtoB (the data module's "
                              "direction chose what A is at training time)")
        if eval_mode:
            net, mode = copy.deepcopy(nets).eval(), "eval: BatchNorm running statistics, no dropout"
        else:
            net = per_image_batchnorm(nets).train()
            mode = ("train, as the paper and the official test: dropout on, BatchNorm with each image's own "
                    "statistics (exported as InstanceNorm with the BatchNorm weights)")
        c = _in_channels(net)
        return Exportable(net, {"x": _images(2, c, size)}, {"x": image.format(c=c, s=size)}, IMAGES,
                          meta | {"mode": mode, "direction": "AtoB"})
    if isinstance(model, StarGAN):
        net = copy.deepcopy(nets).eval()
        inputs = {"x": _images(2, 3, size), "c": torch.tensor([[1.0] + [0.0] * (model.num_attrs - 1)] * 2)}
        notes = {"x": image.format(c=3, s=size),
                 "c": f"float32 [N, {model.num_attrs}], target labels 0/1 in the order {model.attr_names}"}
        return Exportable(net, inputs, notes, IMAGES,
                          meta | {"mode": "eval, per-image InstanceNorm statistics (the official test)",
                                  "attr_names": list(model.attr_names), "single_label": model.single_label})
    if isinstance(model, PairedCycleGAN):
        if model.parts != ["face"]:
            raise ExportError(f"{name}(regions={model.parts}) crops and blends face regions with masks; "
                              "export supports whole-face models (regions: null)")
        c = model.channels
        if direction == "AtoB":
            net = copy.deepcopy(nets["G"]).eval()
            inputs = {"x": _images(2, c, size), "reference": _images(2, c, size).flip(0)}
            notes = {"x": image.format(c=c, s=size) + ", faces without makeup",
                     "reference": image.format(c=c, s=size) + ", faces whose makeup is applied to x"}
        else:
            net = copy.deepcopy(nets["F"]).eval()
            inputs, notes = {"y": _images(2, c, size)}, {"y": image.format(c=c, s=size) + ", faces with makeup"}
        return Exportable(net, inputs, notes, IMAGES, meta | {"mode": "eval", "direction": direction})
    if isinstance(model, (CycleGAN, DiscoGAN)):
        key = generator_key(direction)
        net = copy.deepcopy(nets[key]).eval()
        c = _in_channels(net)
        if isinstance(model, DiscoGAN):
            net = UnitRange(net)
        return Exportable(net, {"x": _images(2, c, size)}, {"x": image.format(c=c, s=size)}, IMAGES,
                          meta | {"mode": "eval", "direction": direction,
                                  "network": f"generators[{key!r}]" + (" (EMA average)" if ema else "")})
    raise ExportError(f"{name}: ganlit export knows GAN, CGAN, Pix2Pix, PAN, CycleGAN, DiscoGAN, StarGAN and "
                      f"PairedCycleGAN (and their subclasses); {type(model).__module__}.{name} is none of them")


# ----------------------------------------------------------------------------- writing
def _seeded(fn, seed: int = 0) -> Tensor:
    torch.manual_seed(seed)
    return fn()


@contextlib.contextmanager
def _export_notices_silenced() -> Any:
    """Drops what torch prints on every export of these networks; each line says why the user need not act on it."""
    with warnings.catch_warnings():
        # The trace is taken at the example's size: the networks' shape checks become constants of that size, the
        # size the sidecar records and the numeric check below uses.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        # TorchScript and the TorchScript-based ONNX exporter are deprecated upstream; they are still what many
        # runtimes load, and the user chose them (--format torchscript, --onnx-exporter torchscript).
        warnings.filterwarnings("ignore", category=FutureWarning, message=r".*torch\.jit")
        warnings.filterwarnings("ignore", category=DeprecationWarning, message="You are using the legacy TorchScript")
        # torch's legacy exporter calling its own deprecated helpers, and its notice that `training=` (which keeps
        # pix2pix's test-time dropout in the graph) will go.
        warnings.filterwarnings("ignore", category=DeprecationWarning, message="The feature will be removed")
        warnings.filterwarnings("ignore", category=DeprecationWarning, message="Setting `training` to something")
        # Slices with a step are kept as ops instead of being folded: a missed optimisation, not a wrong graph.
        warnings.filterwarnings("ignore", category=UserWarning, message="Constant folding - Only steps=1")
        # InstanceNorm without running statistics normalises by each input's statistics in every mode; so does the graph.
        warnings.filterwarnings("ignore", category=UserWarning,
                                message="ONNX export mode is set to TrainingMode.EVAL, but operator 'instance_norm'")
        yield


def export_torchscript(item: Exportable, path: Path) -> dict[str, Any]:
    """Trace to TorchScript, save, load back and compare with the eager network (same seed for dropout)."""
    args = tuple(item.inputs.values())
    with torch.no_grad(), _export_notices_silenced():
        traced = torch.jit.trace(item.net, args, check_trace=False)
        buffer = io.BytesIO()  # torch's own file writer aborts the process on a full disk; Python's raises
        torch.jit.save(traced, buffer)
        path.write_bytes(buffer.getvalue())
        loaded = torch.jit.load(str(path))
        diff = (_seeded(lambda: loaded(*args)) - _seeded(lambda: item.net(*args))).abs().max().item()
    return {"check": "torch.jit.load of the file vs the eager network on the example inputs (same seed)",
            "max_abs_diff": diff}


def _axes(t: Tensor) -> list[Any]:
    """The sidecar's shape: batch, and height and width of images, are free."""
    return ["N", t.shape[1], "H", "W"] if t.dim() == 4 else ["N", *t.shape[1:]]


def export_onnx(item: Exportable, path: Path, exporter: str, opset: Optional[int]) -> dict[str, Any]:
    """Export with dynamic batch, height and width axes (the generators are fully convolutional; the sizes a
    network takes are in the sidecar), check the file with onnx.checker, and compare numerically when
    onnxruntime is installed and the export is deterministic (eval mode)."""
    names = list(item.inputs)
    args = tuple(item.inputs.values())
    training = item.net.training
    kw: dict[str, Any] = {"input_names": names, "output_names": ["image"]}
    if opset is not None:
        kw["opset_version"] = opset
    with torch.no_grad(), _export_notices_silenced():
        if exporter == "dynamo":
            batch, auto = torch.export.Dim("batch"), torch.export.Dim.AUTO
            shapes = tuple({0: batch, 2: auto, 3: auto} if a.dim() == 4 else {0: batch} for a in args)
            torch.onnx.export(item.net, args, str(path), dynamo=True, dynamic_shapes=shapes, external_data=False,
                              **kw)
        else:
            axes = {n: ({0: "batch", 2: "height", 3: "width"} if a.dim() == 4 else {0: "batch"})
                    for n, a in item.inputs.items()}
            axes["image"] = {0: "batch", 2: "height", 3: "width"}
            mode = torch.onnx.TrainingMode.TRAINING if training else torch.onnx.TrainingMode.EVAL
            # Constant folding may bake a training-mode graph's parameters into constants: only in eval mode.
            torch.onnx.export(item.net, args, str(path), dynamo=False, dynamic_axes=axes, training=mode,
                              do_constant_folding=not training, **kw)
    import onnx

    onnx.checker.check_model(onnx.load(str(path)))
    result: dict[str, Any] = {"check": "onnx.checker.check_model", "exporter": exporter}
    if training and any(isinstance(m, nn.Dropout) for m in item.net.modules()):
        result["numeric_check"] = "skipped: dropout is random in the exported training-mode graph"
        return result
    try:
        import onnxruntime as ort
    except ImportError:
        result["numeric_check"] = "skipped: onnxruntime is not installed"
        return result
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {n: t.numpy() for n, t in item.inputs.items()})[0]
    with torch.no_grad():
        expected = item.net(*args)
    result["numeric_check"] = "onnxruntime vs the eager network on the example inputs"
    result["max_abs_diff"] = float((torch.from_numpy(got) - expected).abs().max())
    return result


def sidecar(item: Exportable, model: nn.Module, args: argparse.Namespace, check: dict[str, Any]) -> dict[str, Any]:
    with torch.no_grad():
        out = _seeded(lambda: item.net(*item.inputs.values()))
    channels, size = int(out.size(1)), int(out.size(-1))
    hparams = {k: list(v) if isinstance(v, tuple) else v for k, v in model.hparams.items()
               if isinstance(v, (int, float, str, bool, list, tuple, type(None)))}
    return {
        "format": args.format,
        "file": args.output.name,
        "checkpoint": str(args.ckpt),
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "image_size": size,
        "channels": channels,
        "inputs": [{"name": n, "shape": _axes(t), "dtype": str(t.dtype).replace("torch.", ""),
                    "description": item.input_notes[n]} for n, t in item.inputs.items()],
        "output": {"name": "image", "shape": _axes(out), "description": item.output_note},
        "normalization": {"range": [-1.0, 1.0], "mean": [0.5] * channels, "std": [0.5] * channels,
                          "to_input": "x = (pixel / 255 - 0.5) / 0.5 per channel (image_size is the training size)",
                          "from_output": "pixel = clamp((y + 1) / 2, 0, 1) * 255"},
        **item.meta,
        "verification": check,
        "hyper_parameters": hparams,
        "torch": torch.__version__,
    }


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ganlit export", description="Export the generator of a ganlit checkpoint "
                                "to TorchScript or ONNX, with a JSON sidecar (FILE.json) describing its inputs.")
    p.add_argument("--ckpt", required=True, type=Path,
                   help="a ganlit checkpoint (.ckpt), a run folder, a bundle folder (ganlit pack) or hf:owner/name")
    p.add_argument("--format", required=True, choices=("torchscript", "onnx"))
    p.add_argument("--output", required=True, type=Path, help="the file to write (e.g. model.pt, model.onnx)")
    p.add_argument("--direction", choices=("AtoB", "BtoA"), default=None,
                   help="translation models: which mapping to export (default AtoB)")
    p.add_argument("--eval", action="store_true",
                   help="pix2pix/PAN: BatchNorm running statistics and no dropout (default: the official "
                        "training-mode test); the other models always export in eval mode")
    p.add_argument("--image-size", type=int, default=None,
                   help="image size of the example input (default: the checkpoint's training size)")
    p.add_argument("--onnx-exporter", choices=("dynamo", "torchscript"), default="dynamo",
                   help="torch.onnx.export(dynamo=True), the default, or the older TorchScript-based exporter")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default: the exporter's)")
    p.add_argument("--overwrite", action="store_true", help="replace FILE and FILE.json when they exist")
    return p


@command("export")
def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    from ganlit.checkpoint import load_module
    from ganlit.commands.output import refuse_overwriting_inputs

    side = Path(f"{args.output}.json")
    try:
        refuse_overwriting_inputs([args.output, side], [args.ckpt])
        existing = [str(p) for p in (args.output, side) if p.exists()]
        if existing and not args.overwrite:
            raise ExportError(f"{' and '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; "
                              "pass --overwrite to replace them")
        model = load_module(args.ckpt, map_location="cpu")
        item = exportable(model, args.direction, args.eval, args.image_size)
    except (FileNotFoundError, ValueError, KeyError) as err:
        if isinstance(err, UsageError):
            raise
        return report("export", err)
    from ganlit.utils.atomic import atomic_path, atomic_write_text

    # Written beside the target and renamed over it once whole: a failed export leaves the previous one intact.
    with atomic_path(args.output) as tmp:
        if args.format == "torchscript":
            check = export_torchscript(item, tmp)
        else:
            check = export_onnx(item, tmp, args.onnx_exporter, args.opset)
        atomic_write_text(side, json.dumps(sidecar(item, model, args, check), indent=1) + "\n")
    # per-image shapes; a 1-D input (class indices) has one value per image
    what = ", ".join(f"{n} {list(t.shape[1:])}" if t.dim() > 1 else f"{n} (one {t.dtype} per image)".replace("torch.", "")
                     for n, t in item.inputs.items())
    print(f"ganlit export: wrote {args.output} ({args.format}; {type(model).__name__}, inputs {what}, "
          f"mode {item.meta['mode'].split(':')[0].split(',')[0]}{', EMA' if item.meta['ema'] else ''}) and {side}")
    return 0
