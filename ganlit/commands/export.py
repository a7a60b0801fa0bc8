"""``ganlit export``: the generator of a ganlit checkpoint alone, as TorchScript or ONNX, for inference.

    ganlit export --model runs/cyclegan/last.ckpt --format torchscript --output horse2zebra.pt [--direction BtoA]
    ganlit export --model runs/pix2pix/last.ckpt --format onnx --output facades.onnx [--eval]
    ganlit export --model runs/cgan/last.ckpt --format torchscript --output cgan.pt   # --ckpt: the same option

What is exported is what the model declares (``model.export_network``, :mod:`ganlit.models.inference`): the network
its own ``translate`` / ``generate`` runs, with the EMA weights when the checkpoint has them, checked against that
method before anything is written. For the shipped papers:

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
import io
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from torch import Tensor, nn

from ganlit.errors import UsageError, command, report
from ganlit.models.inference import per_image_batchnorm  # noqa: F401  (importable from here, as before)

__all__ = ["Exportable", "build_parser", "exportable", "main", "per_image_batchnorm"]  # the last: models.inference


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


def exportable(model: nn.Module, direction: Optional[str] = None, eval_mode: bool = False,
               image_size: Optional[int] = None) -> Exportable:
    """What ``model`` declares ``ganlit export`` writes (:meth:`~ganlit.models.inference.InferenceContract.
    export_network`), with example inputs, checked to compute what the model's own ``translate``/``generate``
    computes before anything is written."""
    from ganlit.commands.translators import InputError, resolve_direction

    spec = model.inference()
    name = type(model).__name__
    try:
        direction = resolve_direction(spec, direction, name)
    except InputError as err:
        raise ExportError(str(err)) from None
    size = image_size or spec.image_size
    if size is None and spec.task == "translate":
        raise ExportError(f"{name} does not record its image size (it was never trained on a batch); pass --image-size")
    exported = model.export_network(direction, eval_mode)
    inputs = {i.name: i.example(2, size or 0, seed=k) for k, i in enumerate(exported.inputs)}
    notes = {i.name: i.describe(size) for i in exported.inputs}
    check = _same_as_model(model, spec.task, exported, inputs)
    return Exportable(exported.net, inputs, notes, IMAGES,
                      {"ema": spec.ema, "mode": exported.mode, **exported.meta, "model_check": check})


def _same_as_model(model: nn.Module, task: str, exported: Any, inputs: dict[str, Tensor]) -> dict[str, Any]:
    """The network to be written against the model's own method on the first example (same seed, so dropout draws
    the same masks): an export whose declared network or mode is not what the model runs is refused."""
    one = [t[:1] for t in inputs.values()]
    with torch.no_grad():
        got = _seeded(lambda: exported.net(*one))
        if task == "sample":
            method, expected = "generate", _seeded(lambda: model.generate(*one))
        else:
            images = [t for i, t in zip(exported.inputs, one) if not i.option]
            options = {i.option: t for i, t in zip(exported.inputs, one) if i.option}
            method = "translate"
            expected = _seeded(lambda: model.translate(*images, **exported.call, **options))
    diff = float((got - expected).abs().max()) if got.shape == expected.shape else float("inf")
    if not diff <= 1e-4 * max(1.0, float(expected.abs().max())):
        name = type(model).__name__
        raise ExportError(f"{name}: the network to export ({exported.mode.split(':')[0]}) does not compute what "
                          f"{name}.{method} computes (largest difference {diff:.3g}); declare what {method} runs "
                          f"in {name}.export_network")
    call = ", ".join([f"{i.name}" for i in exported.inputs if not i.option]
                     + [f"{k}={v!r}" for k, v in exported.call.items()]
                     + [f"{i.option}={i.name}" for i in exported.inputs if i.option])
    return {"method": f"{type(model).__name__}.{method}({call})", "max_abs_diff": diff}


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
        # A model declared to run in training mode at test time (the official pix2pix test) is exported so on
        # purpose; the sidecar's "mode" says it.
        warnings.filterwarnings("ignore", category=UserWarning, message="Exporting a model while it is in training mode")
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
    hparams = {k: list(v) if isinstance(v, tuple) else v for k, v in getattr(model, "hparams", {}).items()
               if isinstance(v, (int, float, str, bool, list, tuple, type(None)))}
    return {
        "format": args.format,
        "file": args.output.name,
        "checkpoint": str(args.model),
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
    p.add_argument("--model", "--ckpt", dest="model", required=True, type=Path,
                   help="a ganlit checkpoint (.ckpt), a run folder, a bundle folder (ganlit pack) or hf:owner/name "
                        "(--ckpt is the same option)")
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
    from ganlit.api import load
    from ganlit.commands.output import refuse_overwriting_inputs

    side = Path(f"{args.output}.json")
    try:
        refuse_overwriting_inputs([args.output, side], [args.model])
        existing = [str(p) for p in (args.output, side) if p.exists()]
        if existing and not args.overwrite:
            raise ExportError(f"{' and '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; "
                              "pass --overwrite to replace them")
        model = load(args.model, "cpu")
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
