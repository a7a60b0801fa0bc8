"""``ganlit evaluate``: FID / KID / IS of a checkpoint, printed as a small table with the protocol.

    ganlit evaluate --model CKPT --config recipes/quickstart.yaml [--split test] [--num N] [--json out.json]
    ganlit evaluate --model CKPT --data ganlit.data.DigitsDataModule --features digits
    ganlit evaluate --model CKPT --config recipes/pix2pix_facades.yaml --data-root data/facades

``--ckpt`` is the same option as ``--model``. The generated images are the model's ``evaluation_images``
(declared in its file; the default samples, or translates A to B and B to A: :mod:`ganlit.models.inference`).

The real images come from the data section of ``--config`` (its class and init_args; the recipe's
``ganlit.metrics.Evaluation`` callback also supplies the defaults of ``--features``, ``--split``, ``--num``,
``--num-real`` and ``--inception-weights``) or from ``--data CLASS`` (its defaults, with the model's
image size). ``--data-root`` replaces the data root.

Exit codes: 0 printed; 2 bad input (no such checkpoint, missing data, missing Inception weights), with one
clear message and no traceback.
"""

from __future__ import annotations

import argparse
import inspect
import json
from pathlib import Path
from typing import Any, Optional

import torch

from ganlit.errors import InputError, UsageError, command, report

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ganlit evaluate", description="FID/KID/IS of a ganlit checkpoint, with the protocol.")
    p.add_argument("--model", "--ckpt", dest="model", required=True, type=Path,
                   help="a ganlit checkpoint (from ganlit fit), a run folder, a bundle folder (ganlit pack) or "
                        "hf:owner/name (--ckpt is the same option)")
    p.add_argument("--config", type=Path, default=None, help="the recipe the model was trained with (its data section)")
    p.add_argument("--data", default=None, metavar="CLASS", help="data module class when there is no --config")
    p.add_argument("--data-root", default=None, metavar="DIR", help="replace the data root")
    p.add_argument("--split", choices=("val", "test"), default=None, help="real split (default: the recipe's, else test)")
    p.add_argument("--num", type=int, default=None, metavar="N", help="generated images (default: the split's size)")
    p.add_argument("--num-real", type=int, default=None, metavar="N", help="real images (default: the whole split)")
    p.add_argument("--features", choices=("inception", "digits"), default=None,
                   help="feature network (default: the recipe's; digits for the digits data, else inception)")
    p.add_argument("--inception-weights", default=None, metavar="PATH",
                   help="the Inception weight file (default: $TORCH_HOME/hub/checkpoints/weights-inception-2015-12-05-6726825d.pth)")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the numbers and protocol as JSON")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-cache", action="store_true", help="recompute the real-image features")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return p


def _read_recipe(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(data section, Evaluation callback init_args) of a recipe."""
    import yaml

    from ganlit.utils.yaml_bound import safe_load

    if not path.is_file():
        raise InputError(f"--config {path} does not exist")
    try:
        recipe = safe_load(path.read_text(), source=f"--config {path}") or {}
    except yaml.YAMLError as err:
        raise InputError(f"--config {path} is not valid YAML: {err}") from None
    data = recipe.get("data")
    if not isinstance(data, dict) or "class_path" not in data:
        raise InputError(f"--config {path} has no data section with a class_path; pass --data CLASS instead")
    callbacks = (recipe.get("trainer") or {}).get("callbacks") or []
    evaluation = next((c.get("init_args") or {} for c in callbacks
                       if isinstance(c, dict) and str(c.get("class_path", "")).endswith("metrics.Evaluation")), {})
    return data, evaluation


def _build_data(class_path: str, init_args: dict[str, Any], model: torch.nn.Module) -> Any:
    """Instantiate the data module through jsonargparse (typed, with clear errors)."""
    from jsonargparse import ArgumentParser

    from ganlit.data.base import GANDataModule
    from ganlit.utils.imports import UntrustedClassError, import_class

    try:
        cls = import_class(class_path, GANDataModule, "data class", kind="a ganlit data module (a subclass of "
                           "ganlit.data.GANDataModule)")
    except UntrustedClassError as err:
        raise InputError(f"{err} (expected e.g. ganlit.data.DigitsDataModule)") from None
    except (ImportError, AttributeError, ValueError):
        raise InputError(f"data class {class_path!r} cannot be imported (expected e.g. ganlit.data.DigitsDataModule)") from None
    accepted = inspect.signature(cls.__init__).parameters  # the data class's arguments (the model is not guessed at)
    spec = model.inference()
    facts = {"image_size": spec.image_size, "channels": spec.channels}
    for name in ("image_size", "channels"):  # the facts the model was trained with, unless the recipe states them
        if name in accepted and name not in init_args and facts.get(name) is not None:
            init_args[name] = facts[name]
    parser = ArgumentParser(exit_on_error=False)
    parser.add_subclass_arguments(GANDataModule, "data", required=True)
    try:
        cfg = parser.parse_object({"data": {"class_path": class_path, "init_args": init_args}})
        # jsonargparse 4.49 renamed instantiate_classes (now deprecated) to instantiate; >=4.30 is supported.
        instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes
        return instantiate(cfg).data
    except Exception as err:  # jsonargparse reports the bad key/value
        raise InputError(f"data {class_path} with {init_args}: {str(err).splitlines()[0]}") from None


def _dataset(datamodule: Any, split: str) -> tuple[Any, str]:
    datamodule.setup("test" if split == "test" else "validate")
    dataset = getattr(datamodule, f"{split}_set", None)
    test = getattr(datamodule, "test_set", None)
    if split == "val" and (dataset is None or dataset is test):
        dataset, split = test, "test"
    if dataset is None:
        raise InputError(f"{type(datamodule).__name__} has no {split} split")
    return dataset, split


def _check_fits(model: Any, dataset: Any, class_path: str, args: argparse.Namespace) -> None:
    """The model must understand the data's items (a CycleGAN needs A/B pairs, not class-labelled digits)."""
    from torch.utils.data import default_collate

    item = dataset[0]
    batch = default_collate([item])
    batch = {k: v.to(args.device) if torch.is_tensor(v) else v for k, v in batch.items()} if isinstance(batch, dict) else batch
    try:
        with torch.no_grad():
            model.evaluation_images(batch)
    except (KeyError, TypeError, IndexError) as err:
        keys = ", ".join(sorted(item)) if isinstance(item, dict) else type(item).__name__
        raise InputError(
            f"{type(model).__name__} from {args.model} cannot be scored on {class_path}: it reads {err} from a batch, "
            f"the data gives {keys}. Pass the recipe the model was trained with (--config) or its --data class."
        ) from None


def run(args: argparse.Namespace) -> dict[str, Any]:
    from ganlit.api import load
    from ganlit.metrics import build_features, describe_data, evaluate_model, format_report

    if args.json is not None:
        from ganlit.commands.output import refuse_overwriting_inputs

        refuse_overwriting_inputs([args.json], [args.model, *([args.config] if args.config else [])], "--json")
    data_cfg, recipe_eval = _read_recipe(args.config) if args.config else ({}, {})
    class_path = args.data or data_cfg.get("class_path")
    if not class_path:
        raise InputError("which images are real? pass --config RECIPE.yaml (its data section) or --data CLASS "
                         "(e.g. --data ganlit.data.DigitsDataModule)")
    init_args = dict(data_cfg.get("init_args") or {}) if not args.data or args.data == data_cfg.get("class_path") else {}
    if args.data_root:
        init_args["root"] = args.data_root

    model = load(args.model, args.device)
    datamodule = _build_data(class_path, init_args, model)
    feature_spec = args.features or recipe_eval.get("features") or ("digits" if "Digits" in class_path else "inception")
    features = build_features(feature_spec, args.inception_weights or recipe_eval.get("inception_weights"))
    dataset, split = _dataset(datamodule, args.split or recipe_eval.get("split") or "test")
    _check_fits(model, dataset, class_path, args)
    result = evaluate_model(
        model, dataset, features, split=split, data_key=describe_data(datamodule),
        num_samples=args.num or recipe_eval.get("num_samples"), num_real=args.num_real or recipe_eval.get("num_real"),
        batch_size=args.batch_size, cache=not args.no_cache, seed=args.seed, device=args.device,
    )
    print(format_report(result, f"ganlit evaluate: {type(model).__name__} from {args.model}"))
    report = {"checkpoint": str(args.model), "model": type(model).__name__, "metrics": result.metrics,
              "protocol": result.protocol}
    if args.json:
        from ganlit.utils.atomic import atomic_write_text

        atomic_write_text(args.json, json.dumps(report, indent=2, default=str))
        print(f"ganlit evaluate: wrote {args.json}")
    return report


@command("evaluate")
def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.num is not None and args.num < 2 or args.num_real is not None and args.num_real < 2:
        raise InputError("--num and --num-real must be at least 2 (FID needs a covariance)")
    try:
        run(args)
    except (OSError, ValueError) as err:
        if isinstance(err, UsageError):
            raise
        return report("evaluate", err)
    return 0
