"""Bundles of the official released weights: ``ganlit pack --model official:<kind>[/<name>]``.

A released pix2pix, CycleGAN or StarGAN generator is a bare ``state_dict``: no training record, no recipe, no
metric that ganlit measured. Its bundle holds the same three files as a ganlit model's (``model.safetensors``,
``config.json``, ``README.md``), but ``config.json`` names no class: under ``official`` it says which official kind
the weights are (``pix2pix``, ``cyclegan`` or ``stargan``), where they came from (the release's URL, the file's
name and sha256) and the one fact the tensors do not carry (a U-Net's dropout; StarGAN's attribute names). Loading
rebuilds the network from the tensor shapes exactly as ``ganlit.load("official:...")`` does, so every command gives
the same outputs for the bundle as for the official file, bit for bit (``ganlit.bundle`` reads it). The card says
what ganlit did not measure.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Optional, Union

import yaml
from torch import nn

__all__ = ["official_card", "official_config", "official_weights_of"]

_PAPERS = {"pix2pix": "Pix2Pix", "cyclegan": "CycleGAN", "stargan": "StarGAN"}
_CODE = {"pix2pix": "https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix",
         "cyclegan": "https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix",
         "stargan": "https://github.com/yunjey/stargan"}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _has_dropout(net: nn.Module) -> bool:
    return any(isinstance(m, nn.Dropout) for m in net.modules())


def official_config(model: nn.Module, source: str, weights_file: Path, dropout: bool = True) -> dict[str, Any]:
    """``config.json`` of the official model ``model`` that ``ganlit.load(source, dropout=dropout)`` gave from
    ``weights_file``."""
    from ganlit.hub import OFFICIAL_PREFIX
    from ganlit.bundle import FORMAT, FORMAT_VERSION, OFFICIAL_KEY, WEIGHTS, _json_ready, inference_spec
    from ganlit.hub import pretrained_url
    from ganlit.utils.source import source_version

    kind, _, name = source[len(OFFICIAL_PREFIX):].partition("/")
    spec = model.inference()
    official: dict[str, Any] = {"kind": kind, "name": name or None, "url": pretrained_url(kind, name) if name else None,
                                "code": _CODE[kind], "file": weights_file.name, "sha256": _sha256(weights_file)}
    if kind == "stargan":
        official.update(attr_names=list(model.attr_names), image_size=int(model.image_size))
    else:
        # A U-Net is built with the dropout asked for (its tensors cannot tell); a ResNet's is read off its tensors.
        unet = "model.model.0.weight" in model.generator.state_dict()
        official["use_dropout"] = bool(dropout) if unet else _has_dropout(model.generator)
    state = model.generator.state_dict()
    return _json_ready({
        "format": FORMAT, "format_version": FORMAT_VERSION, OFFICIAL_KEY: official,
        "facts": {"image_size": spec.image_size, "channels": spec.channels},
        "inference": inference_spec(model),
        "weights": {"file": WEIGHTS, "networks": "generator", "ema": False, "tensors": len(state),
                    "parameters": sum(int(v.numel()) for v in state.values())},
        "packed_with": source_version(),
    }, "config")


def official_card(config: dict[str, Any], license: str, name: str) -> str:
    """The model card of an official bundle: what the weights are and where they came from; ganlit measured nothing."""
    from ganlit import models
    from ganlit.bundle import OFFICIAL_KEY
    from ganlit.card import _bibtex, hide_local_paths

    official, weights = config[OFFICIAL_KEY], config["weights"]
    kind, release = official["kind"], official.get("name")
    paper = getattr(models, _PAPERS[kind]).paper
    task = "image-to-image"
    meta = {"library_name": "ganlit", "license": license, "pipeline_tag": task,
            "tags": ["ganlit", "gan", kind, task, "official-weights"]}
    where = (f"the official release `{release}` ({official['url']})" if release
             else f"the file `{official['file']}` given with `--weights` (not one of the releases ganlit names)")
    what = (f"translates images with attributes {', '.join(official['attr_names'])} (CenterCrop 178, resize to "
            f"{official['image_size']})" if kind == "stargan"
            else "translates images at their own size, in training mode as the official test runs it (dropout "
            f"{'on' if official.get('use_dropout') else 'off'}, BatchNorm with each image's own statistics)")
    lines = ["---\n" + yaml.safe_dump(meta, sort_keys=False, width=1000) + "---", f"# {name}", "",
             f"The official {_PAPERS[kind]} generator of {where}, packed with `ganlit pack`. It {what}.",
             f"Weights: `model.safetensors`, the generator, {weights['parameters']:,} parameters; no pickle.", "",
             "## How to use", "", "```python", "import ganlit", "", f'model = ganlit.load("{name}")',
             "y = model.translate(x" + (", target={...})" if kind == "stargan" else ")") + "  # x: [N, C, H, W] in [-1, 1]",
             "```", "", f"or `ganlit translate --model {name} --input images/ --output out/`: the same outputs, bit for "
             f"bit, as `--model official:{kind}{'/' + release if release else ' --weights FILE'}`.", "",
             "## Source", "", f"- trained by the paper's authors with their code: {official['code']}",
             f"- released as: {official['url'] or 'not a named release'}",
             f"- original file: `{official['file']}`, sha256 `{official['sha256']}`", "",
             "## Paper and citation", "", f"{paper['authors']} ({paper['year']}), \"{paper['title']}\", "
             f"{paper['venue']} ({paper['url']}).", "", "```bibtex", _bibtex(paper), "```", "",
             "## Training data, recipe and metrics", "",
             "Not recorded by ganlit: the authors trained these weights (see the paper and the official code for the "
             "data, recipe and numbers). Metrics: not measured by ganlit.", "",
             "## Software", "",
             f"- packed with ganlit {(config.get('packed_with') or {}).get('version', 'not recorded')}", "",
             "## Intended use and limits", "",
             "- For research and teaching: the official model as released. The outputs are synthetic images; do not "
             "present them as real photographs or use them to identify people.",
             "- The license of the weights is that of their release; check it before any other use.", ""]
    return hide_local_paths("\n".join(lines))


def official_weights_of(source: str, weights: Optional[Union[str, Path]],
                        attrs: Optional[list[str]]) -> Path:
    """The weights file ``official:<kind>[/<name>]`` (with ``--weights``) names."""
    from ganlit.hub import missing_official_weights, official_source
    from ganlit.errors import UsageError

    kind, path, _ = official_source(source, weights, attrs)
    if path is None:
        raise UsageError(missing_official_weights(kind))
    return Path(path)
