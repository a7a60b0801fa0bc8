"""Bundles: a trained model shared as data, never as code: ``model.safetensors`` + ``config.json`` + ``README.md``.

``ganlit pack`` writes one (:func:`write_bundle`); every command that takes a checkpoint, and ``ganlit.load``, reads one
(:func:`load_bundle`, reached through :func:`load_model`):

* ``model.safetensors``: the inference weights alone: the network(s) ``model.sampling_nets()`` returns, i.e. the
  generator(s) ``sample``/``translate`` run, the EMA average where one was kept; no discriminator, no optimizer
  state. Keys are those of ``sampling_nets().state_dict()``.
* ``config.json``: the model's class path and init arguments (its checkpoint's ``hyper_parameters``), the facts it
  was trained with (image size, channels, class or attribute names) and what it does at inference.
* ``README.md``: the model card (``ganlit.card``).

Loading checks the class path (and every nested ``class_path`` of the arguments) exactly as the checkpoint loader
does, before anything is called: a ``GANModule`` subclass, never a standard-library name. It builds the model from
its arguments and loads the weights into ``sampling_nets()`` with ``strict=True``; with EMA the raw generator gets the
same average, so no network of a loaded bundle is left at its random initialisation except the discriminators, which
inference never runs. Sources: a bundle folder, a run folder (``checkpoints/last.ckpt``), a ``.ckpt`` file, or
``hf:owner/name`` (a Hugging Face Hub repository, through ``huggingface_hub``'s ``snapshot_download`` cache).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import torch

from ganlit.checkpoint import CheckpointError, checked_hyper_parameters, load_module, model_class

if TYPE_CHECKING:
    from ganlit.models.base import GANModule

__all__ = ["BundleError", "CARD", "CONFIG", "FORMAT", "WEIGHTS", "bundle_config", "hub_snapshot", "inference_state",
           "is_bundle", "load_bundle", "load_model", "read_config", "resolve_source", "run_checkpoint"]

FORMAT, FORMAT_VERSION = "ganlit-bundle", 1
WEIGHTS, CONFIG, CARD = "model.safetensors", "config.json", "README.md"
HF_PREFIX = "hf:"
OFFICIAL_KEY = "official"  # config.json of official released weights (ganlit.official_bundle): no class path
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


class BundleError(CheckpointError):
    """A bundle folder that cannot be used: missing or malformed file, or weights that do not fit its config."""


def is_bundle(path: Union[str, Path]) -> bool:
    """Whether ``path`` is a folder holding a bundle's ``config.json``."""
    path = Path(path)
    return path.is_dir() and (path / CONFIG).is_file()


def run_checkpoint(folder: Path, best: bool = False) -> Path:
    """The checkpoint of a run folder: ``checkpoints/last.ckpt`` (or ``last.ckpt``); ``best``: its ``best*.ckpt``."""
    checkpoints = folder / "checkpoints"
    if best:
        found = sorted(checkpoints.glob("best*.ckpt")) if checkpoints.is_dir() else []
        if len(found) != 1:
            raise CheckpointError(f"{folder}: {'no' if not found else len(found)} best*.ckpt in {checkpoints}; "
                                  "pass the .ckpt file itself")
        return found[0]
    for candidate in (checkpoints / "last.ckpt", folder / "last.ckpt"):
        if candidate.is_file():
            return candidate
    raise CheckpointError(f"{folder}: a folder that is neither a bundle ({CONFIG}) nor a run folder "
                          "(checkpoints/last.ckpt); pass a .ckpt file, a run folder or a bundle folder")


def hub_snapshot(repo_id: str) -> Path:
    """The local folder of the Hub repository ``repo_id`` (downloaded into, or read from, huggingface_hub's cache)."""
    if not _REPO_ID.match(repo_id):
        raise BundleError(f"hf:{repo_id}: expected hf:owner/name, e.g. hf:someone/ganlit-quickstart")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise BundleError(f"hf:{repo_id} needs huggingface_hub: pip install 'ganlit[hub]'") from None
    try:
        return Path(snapshot_download(repo_id, allow_patterns=[CONFIG, WEIGHTS, CARD]))
    except Exception as err:  # offline without a cached copy, no such repository, no access
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise BundleError(f"hf:{repo_id}: could not get the bundle ({type(err).__name__}: {first})") from None


def resolve_source(source: Union[str, Path]) -> Path:
    """The file or bundle folder a model source names: ``hf:owner/name`` -> its snapshot folder; a run folder ->
    its ``checkpoints/last.ckpt``; anything else as given."""
    text = str(source)
    if text.startswith(HF_PREFIX):
        return hub_snapshot(text[len(HF_PREFIX):])
    path = Path(source)
    if path.is_dir() and not is_bundle(path):
        return run_checkpoint(path)
    return path


def load_model(source: Union[str, Path], map_location: str = "cpu") -> "GANModule":
    """The model a source names: a bundle folder, ``hf:owner/name``, a run folder (its ``checkpoints/last.ckpt``) or
    a checkpoint file; classes are checked before anything is called, a bundle runs no pickle."""
    path = resolve_source(source)
    return load_bundle(path, map_location) if is_bundle(path) else load_module(path, map_location)


# ----------------------------------------------------------------------------- writing
def inference_state(model: "GANModule") -> dict[str, torch.Tensor]:
    """The weights inference runs: ``sampling_nets().state_dict()``, on the CPU, each tensor its own memory."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in model.sampling_nets().state_dict().items()}


def _networks(model: "GANModule") -> str:
    """Which attribute of the model the weights are: ``generator``, ``generators`` or ``generator_ema.module``."""
    if model.generator_ema is not None:
        return "generator_ema.module"
    return "generators" if hasattr(model, "generators") else "generator"


def inference_spec(model: "GANModule") -> dict[str, Any]:
    """What the model does at inference, from its declaration (``model.inference()``): sample or translate, and
    its inputs."""
    spec = model.inference()
    if spec.task == "sample":
        out: dict[str, Any] = {"mode": "sample", "conditional": bool(spec.classes), "z_dim": spec.z_dim}
        if spec.classes:
            out["num_classes"] = len(spec.classes)
        return out
    out = {"mode": "translate", "directions": list(spec.directions), "options": list(spec.options)}
    nets = model.sampling_nets()
    if isinstance(nets, torch.nn.ModuleDict):
        out["networks"] = list(nets.keys())
    if spec.attributes:
        out["attr_names"], out["single_label"] = list(spec.attributes), spec.single_label
    return out


def _json_ready(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v, f"{key}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    raise BundleError(f"{key} is a {type(value).__name__} ({value!r:.60}); a bundle's config.json holds plain "
                      "values only (numbers, strings, lists, mappings)")


def bundle_config(model: "GANModule", ckpt: dict[str, Any], path: Union[str, Path]) -> dict[str, Any]:
    """``config.json`` of ``model`` loaded from the checkpoint ``ckpt`` (read from ``path``)."""
    from ganlit.facts import checkpoint_facts
    from ganlit.utils.source import source_version

    cls = type(model)
    state = model.sampling_nets().state_dict()
    return _json_ready({
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class_path": f"{cls.__module__}.{cls.__qualname__}",
        "hyper_parameters": checked_hyper_parameters(ckpt, path),
        "facts": checkpoint_facts(model),
        "inference": inference_spec(model),
        "weights": {"file": WEIGHTS, "networks": _networks(model), "ema": model.generator_ema is not None,
                    "tensors": len(state), "parameters": sum(int(v.numel()) for v in state.values())},
        "packed_with": source_version(),
    }, "config")


def weights_bytes(model: "GANModule") -> bytes:
    """``model.safetensors``: the inference weights, with the bundle format in the file's metadata."""
    from safetensors.torch import save

    return save(inference_state(model), metadata={"format": "pt", "ganlit": FORMAT})


# ----------------------------------------------------------------------------- reading
def read_config(folder: Path) -> dict[str, Any]:
    """The parsed ``config.json`` of a bundle folder (one-line errors naming the file and the key)."""
    path = folder / CONFIG
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{folder}: not a ganlit bundle: no {CONFIG}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BundleError(f"{path}: not valid JSON ({str(err).splitlines()[0]})") from None
    if not isinstance(config, dict):
        raise BundleError(f"{path}: expected a JSON object, found a {type(config).__name__}")
    if config.get("format") != FORMAT:
        raise BundleError(f"{path}: format {config.get('format')!r}, expected {FORMAT!r} (written by ganlit pack)")
    if not isinstance(config.get("format_version"), int) or config["format_version"] > FORMAT_VERSION:
        raise BundleError(f"{path}: format_version {config.get('format_version')!r}; this ganlit reads up to "
                          f"{FORMAT_VERSION} (upgrade ganlit)")
    return config


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise BundleError(f"{path.parent}: the bundle has no {path.name}")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        raise BundleError(f"{path}: not a readable safetensors file ({_first_line(err)})") from None


def load_bundle(folder: Union[str, Path], map_location: str = "cpu") -> "GANModule":
    """Rebuild the model of a bundle folder: class checked, built from its arguments, weights loaded strictly."""
    from ganlit.checkpoint import _mismatch

    folder = Path(folder)
    config = read_config(folder)
    source = str(folder / CONFIG)
    if OFFICIAL_KEY in config:  # official released weights: no class path, the kind says which network
        return _load_official_bundle(folder, config, _read_weights(folder / WEIGHTS)).to(map_location).eval()
    cls = model_class(config.get("class_path"), "class_path", source)  # refused before anything is called
    hparams = checked_hyper_parameters({"hyper_parameters": config.get("hyper_parameters", {})}, source)
    try:
        model = cls(**hparams)
    except (TypeError, ValueError) as err:
        raise BundleError(f"{source}: its hyper_parameters do not fit {cls.__name__}: {_first_line(err)}") from None
    model._ensure_ema()
    weights = config.get("weights") if isinstance(config.get("weights"), dict) else {}
    name = weights.get("file", WEIGHTS)
    if name != WEIGHTS:
        raise BundleError(f"{source}: weights.file {name!r}, expected {WEIGHTS!r}")
    state = _read_weights(folder / WEIGHTS)
    try:
        model.sampling_nets().load_state_dict(state, strict=True)
        if model.generator_ema is not None:  # the raw generator too: no random network is left to run
            model.g_nets.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, ValueError) as err:
        raise BundleError(f"{folder / WEIGHTS}: its weights do not fit the {cls.__name__} of {CONFIG}: "
                          f"{_mismatch(err)}") from None
    facts = config.get("facts")
    model.ganlit_facts = dict(facts) if isinstance(facts, dict) else {}
    return model.to(map_location).eval()


def _load_official_bundle(folder: Path, config: dict[str, Any], state: dict[str, torch.Tensor]) -> torch.nn.Module:
    """The official model of a bundle folder: the network rebuilt from ``state``'s shapes (the official kind checked
    against the three ganlit knows, nothing imported by name), wrapped as ``ganlit.load("official:...")`` wraps it."""
    from ganlit.hub import OFFICIAL_KINDS, official_network
    from ganlit.models.official import OfficialGenerator, OfficialStarGAN

    source = folder / CONFIG
    official = config[OFFICIAL_KEY]
    kind = official.get("kind") if isinstance(official, dict) else None
    if kind not in OFFICIAL_KINDS:
        raise BundleError(f"{source}: official.kind {kind!r}, expected one of {', '.join(OFFICIAL_KINDS)}")
    try:
        if kind == "stargan":
            names = official.get("attr_names")
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise BundleError(f"{source}: official.attr_names must be a list of attribute names, got {names!r}")
            net = official_network(kind, state, folder)
            if len(names) != net.c_dim:
                raise BundleError(f"{source}: official.attr_names names {len(names)} attributes but the weights "
                                  f"take c_dim={net.c_dim}")
            return OfficialStarGAN(net, names, str(folder), int(official.get("image_size", 128)))
        # A U-Net's dropout leaves no trace in its tensors (a ResNet's does): the config says it.
        unet_without_dropout = "model.model.0.weight" in state and official.get("use_dropout") is False
        extra = {"use_dropout": False} if unet_without_dropout else {}
        return OfficialGenerator(kind, official_network(kind, state, folder, **extra), str(folder))
    except ValueError as err:
        raise BundleError(f"{folder}: {str(err).splitlines()[0]}") from None


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
