"""The model card of a bundle (``README.md``): Hugging Face Hub front matter, then what a reader needs to trust it.

Every fact comes from the checkpoint or its run folder, never from memory: the paper from the model class, the
data identity, hardware and versions from ``checkpoint["ganlit_record"]`` (``ganlit.record``), the metrics and their
protocol from the ``ganlit.metrics.Evaluation`` state in ``checkpoint["callbacks"]``, the recipe from the run's
``config.yaml``. What the checkpoint does not hold is written as "not recorded" or "not measured".
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Optional

import yaml

__all__ = ["evaluations", "metric_summary", "model_card", "run_folder", "training_progress"]

NOT_RECORDED = "not recorded"
# An absolute path (not part of a URL, a relative path or an already hidden ``<local>/...``): its folders are the
# packer's machine, not the model's.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~>-])/(?:[^\s'\"#,\[\]{}/]+/)*([^\s'\"#,\[\]{}/]+)")


def hide_local_paths(text: str) -> str:
    """``/home/me/data/digits`` -> ``<local>/digits``: a card is published, the folders of the machine that trained
    the model are private and mean nothing elsewhere; the last component still says which folder it was."""
    return _ABSOLUTE_PATH.sub(lambda m: f"<local>/{m.group(1)}", text)


def run_folder(ckpt_path: Path) -> Optional[Path]:
    """The run folder of a checkpoint saved by ``ganlit fit`` (``<run>/checkpoints/<name>.ckpt``), else None."""
    folder = ckpt_path.resolve().parent
    return folder.parent if folder.name == "checkpoints" and (folder.parent / "config.yaml").is_file() else None


def training_progress(ckpt: dict[str, Any]) -> dict[str, Optional[int]]:
    """Iterations (the module's counter: batches), epochs completed and optimizer steps of a checkpoint."""
    state = ckpt.get("state_dict") or {}
    iteration = state.get("iteration")
    progress = (ckpt.get("loops") or {}).get("fit_loop", {}).get("epoch_progress", {}).get("current", {})
    epochs = progress.get("processed", progress.get("completed"))
    return {"iterations": int(iteration) if iteration is not None else None,
            "epochs": int(epochs) if epochs is not None else None,
            "optimizer_steps": int(ckpt["global_step"]) if "global_step" in ckpt else None}


def evaluations(ckpt: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """``(callback state key, history)`` of every ``Evaluation`` callback saved in the checkpoint."""
    found = []
    for key, state in (ckpt.get("callbacks") or {}).items():
        if str(key).startswith("Evaluation") and isinstance(state, dict) and state.get("history"):
            found.append((str(key), list(state["history"])))
    return found


def _lower_is_better(name: str) -> Optional[bool]:
    if name.endswith("_std"):
        return None
    return "is_mean" not in name


def metric_summary(history: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per metric: its last value and, for FID/KID/IS means, its best (min, or max for IS), with epoch and iteration."""
    out: dict[str, dict[str, Any]] = {}
    for entry in history:
        for name, value in entry.get("metrics", {}).items():
            at = {"value": float(value), "epoch": entry.get("epoch"), "iteration": entry.get("iteration")}
            row = out.setdefault(name, {"last": at, "best": None, "count": 0})
            row["last"], row["count"] = at, row["count"] + 1
            lower = _lower_is_better(name)
            if lower is None:
                continue
            best = row["best"]
            if best is None or (at["value"] < best["value"] if lower else at["value"] > best["value"]):
                row["best"] = at
    return out


def _hf_metric(name: str) -> str:
    for part, hf in (("fid", "fid"), ("kid", "kid"), ("is_", "inception_score")):
        if part in name:
            return hf
    return name


def _front_matter(model: Any, config: dict[str, Any], data: dict[str, Any], summaries: list[tuple[str, Any]],
                  license: str, name: str) -> str:
    cls = type(model).__name__
    mode = config["inference"]["mode"]
    # The Hub has no class-conditional task: a CGAN is tagged so beside unconditional generation.
    task = "unconditional-image-generation" if mode == "sample" else "image-to-image"
    extra = ["class-conditional"] if config["inference"].get("conditional") else []
    dataset = data.get("class", NOT_RECORDED).rsplit(".", 1)[-1]
    results = []
    for _, (split, summary) in summaries:
        metrics = []
        for metric, row in summary.items():
            for which in ("best", "last"):
                if row.get(which) is not None and not metric.endswith("_std"):
                    metrics.append({"type": _hf_metric(metric), "name": f"{metric} ({which})",
                                    "value": row[which]["value"], "verified": False})
        results.append({"task": {"type": task}, "dataset": {"type": dataset, "name": dataset, "split": split},
                        "metrics": metrics})
    meta: dict[str, Any] = {
        "library_name": "ganlit",
        "license": license,
        "pipeline_tag": task,
        "tags": ["ganlit", "pytorch-lightning", "gan", cls.lower(), task, *extra],
        "datasets": [dataset],
        "metrics": sorted({_hf_metric(m) for _, (_, s) in summaries for m in s if not m.endswith("_std")}),
    }
    if results:
        meta["model-index"] = [{"name": name, "results": results}]
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, width=1000) + "---\n"


def _bibtex(paper: dict[str, str]) -> str:
    kind = "article" if "arXiv" in paper["venue"] or "Transactions" in paper["venue"] else "inproceedings"
    where = "journal" if kind == "article" else "booktitle"
    authors = " and ".join(a.strip() for a in paper["authors"].split(","))
    lines = [f"@{kind}{{{paper['key']},", f"  title = {{{paper['title']}}},", f"  author = {{{authors}}},",
             f"  {where} = {{{paper['venue']}}},", f"  year = {{{paper['year']}}},"]
    if paper.get("url"):
        lines.append(f"  url = {{{paper['url']}}},")
    return "\n".join(lines) + "\n}"


def _paper_section(model: Any) -> list[str]:
    paper = getattr(type(model), "paper", None)
    lines = ["## Paper and citation", ""]
    if not paper:
        return lines + [f"{type(model).__qualname__} names no paper (its class has no `paper` attribute).", ""]
    link = f" ({paper['url']})" if paper.get("url") else ""
    return lines + [f"{paper['authors']}. *{paper['title']}*. {paper['venue']}, {paper['year']}{link}.", "",
                    "```bibtex", _bibtex(paper), "```", ""]


def _data_section(data: dict[str, Any], run_config: Optional[dict[str, Any]]) -> list[str]:
    lines = ["## Training data", ""]
    cls = data.get("class")
    if cls is None and run_config:
        cls = (run_config.get("data") or {}).get("class_path")
    lines.append(f"Data module: `{cls or NOT_RECORDED}`.")
    init = ((run_config or {}).get("data") or {}).get("init_args")
    if init:
        lines.append(f"Its arguments (the run's config.yaml): `{json.dumps(init, default=str)}`.")
    lines += ["", "| split | images | content hash (SHA-256) | hashed over |", "|---|---|---|---|"]
    splits = data.get("splits") or {}
    if not splits:
        lines.append(f"| train | {NOT_RECORDED} | {NOT_RECORDED} | |")
    for split, info in splits.items():
        if "same_as" in info:
            lines.append(f"| {split} | the {info['same_as']} split | | |")
            continue
        digest = info.get("hash") or {}
        count = info.get("count")
        lines.append(f"| {split} | {count if count is not None else NOT_RECORDED} | "
                     f"{'`' + digest['sha256'] + '`' if digest else NOT_RECORDED} | {digest.get('of', '')} |")
    return lines + [""]


def _metrics_section(found: list[tuple[str, list[dict[str, Any]]]], ckpt: dict[str, Any]) -> list[str]:
    lines = ["## Metrics", ""]
    if not found:
        return lines + ["Not measured: the run had no `ganlit.metrics.Evaluation` callback (or it never ran).", ""]
    for key, history in found:
        summary = metric_summary(history)
        lines += [f"Measured by `{key}` during training ({len(history)} evaluations); best and last of each number "
                  "(in brackets: the epoch, 0-based as Lightning counts, and the iteration, the module's batch counter):", "",
                  "| metric | last | best |", "|---|---|---|"]
        for metric, row in summary.items():
            lines.append(f"| {metric} | {_cell(row['last'])} | {_cell(row['best'])} |")
        lines += ["", "Protocol (of the last evaluation):", ""]
        lines += [f"- {k}: {v}" for k, v in history[-1].get("protocol", {}).items()]
        if any(h.get("protocol") != history[-1].get("protocol") for h in history):
            lines.append("- note: earlier evaluations of this run used another protocol (see the run's logs)")
        lines.append("")
    for key, state in (ckpt.get("callbacks") or {}).items():
        if isinstance(state, dict) and state.get("monitor") and state.get("best_model_score") is not None:
            lines.append(f"Best checkpoint of the run by `{state['monitor']}`: {float(state['best_model_score']):.6g} "
                         f"(`{Path(str(state.get('best_model_path', ''))).name}`).")
    return lines + [""]


def _cell(at: Optional[dict[str, Any]]) -> str:
    return f"{at['value']:.6g} (epoch {at['epoch']}, iteration {at['iteration']})" if at else "-"


def _recipe_section(folder: Optional[Path], hparams: dict[str, Any]) -> list[str]:
    lines = ["## Training recipe", ""]
    if folder is None:
        return lines + ["The run's config.yaml: not recorded (the checkpoint is not in a `ganlit fit` run folder). "
                        "The model's init arguments:", "", "```json", json.dumps(hparams, indent=1), "```", ""]
    text = (folder / "config.yaml").read_text(encoding="utf-8", errors="replace")
    more = sorted(p.name for p in folder.glob("config.*.yaml"))
    note = f" The run was resumed: {', '.join(more)} in its folder hold the later sessions' configs." if more else ""
    return lines + [f"The run's resolved config (`config.yaml`), as `ganlit fit` saved it, absolute paths shown as "
                    f"`<local>/<last folder>`.{note}", "", "```yaml", text.rstrip(), "```", ""]


def _uses(config: dict[str, Any], name: str) -> list[str]:
    spec = config["inference"]
    if spec["mode"] == "sample":
        call = "images, labels = model.sample(16, labels=None, seed=0)  # images in [-1, 1]"
        command = f"ganlit sample --ckpt {name} --num 64 --output samples/"
    else:
        call = "y = model.translate(x)  # x: [N, C, H, W] in [-1, 1]"
        command = f"ganlit translate --model {name} --input images/ --output out/"
    return ["## How to use", "", "```python", "import ganlit", "",
            f'model = ganlit.load("{name}")  # this folder, or "hf:owner/{name}" (pip install \'ganlit[hub]\')', call,
            "```", "", f"or `{command}`; `ganlit evaluate`, `ganlit export` and `ganlit demo` take the folder too.", ""]


def model_card(model: Any, ckpt: dict[str, Any], ckpt_path: Path, config: dict[str, Any], license: str = "mit",
               name: str = "") -> str:
    """The ``README.md`` of a bundle of ``model``, packed from the checkpoint ``ckpt`` read at ``ckpt_path``."""
    record = ckpt.get("ganlit_record") or {}
    data = record.get("data") or {}
    folder = run_folder(ckpt_path)
    run_config = None
    if folder is not None:
        from ganlit.utils.yaml_bound import safe_load

        run_config = safe_load((folder / "config.yaml").read_text(errors="replace"), source=str(folder)) or {}
    found = evaluations(ckpt)
    summaries = [(key, (h[-1].get("protocol", {}).get("real_split", "?"), metric_summary(h))) for key, h in found]
    name = name or f"ganlit-{type(model).__name__.lower()}"
    facts, spec = config["facts"], config["inference"]
    progress = training_progress(ckpt)
    trained = record.get("ganlit") or {}
    packed = config.get("packed_with") or {}
    hw = record.get("hardware")
    lines = [_front_matter(model, config, data, summaries, license, name), f"# {name}", "",
             f"A `{config['class_path']}` trained with ganlit and packed with `ganlit pack`: "
             f"it {'samples' if spec['mode'] == 'sample' else 'translates'} {facts.get('image_size', '?')}x"
             f"{facts.get('image_size', '?')} images with {facts.get('channels', '?')} channel(s)"
             + (f", conditioned on {spec['num_classes']} classes" if spec.get("conditional") else "")
             + (f", attributes {', '.join(spec['attr_names'])}" if spec.get("attr_names") else "") + ".",
             f"Weights: `model.safetensors`, the {config['weights']['networks']} network(s)"
             f"{' (EMA average)' if config['weights']['ema'] else ''}, {config['weights']['parameters']:,} "
             "parameters; no discriminator, no optimizer state, no pickle.", ""]
    lines += _uses(config, name) + _paper_section(model) + _data_section(data, run_config)
    lines += _recipe_section(folder, config["hyper_parameters"])
    lines += ["## Training length", "", f"- checkpoint: `{ckpt_path.name}`",
              f"- iterations (batches): {progress['iterations'] if progress['iterations'] is not None else NOT_RECORDED}",
              f"- epochs completed: {progress['epochs'] if progress['epochs'] is not None else NOT_RECORDED}",
              f"- optimizer steps: {progress['optimizer_steps'] if progress['optimizer_steps'] is not None else NOT_RECORDED}",
              ""]
    lines += _metrics_section(found, ckpt)
    lines += ["## Software and hardware", "",
              f"- trained with ganlit {trained.get('version', NOT_RECORDED)}, commit {trained.get('commit') or NOT_RECORDED}; "
              f"torch {record.get('torch', NOT_RECORDED)}, lightning {record.get('lightning', NOT_RECORDED)}, "
              f"python {record.get('python', NOT_RECORDED)}",
              "- hardware: " + (f"{hw['devices']} x {hw['accelerator']} ({hw['device']}), {hw['num_nodes']} node(s), "
                                f"precision {hw['precision']}, {hw['strategy']}" if hw else NOT_RECORDED),
              f"- packed with ganlit {packed.get('version', NOT_RECORDED)}, commit {packed.get('commit') or NOT_RECORDED}",
              ""]
    lines += ["## Intended use and limits", "",
              f"- For research and teaching: reproducing and studying {type(model).__name__} on the data above. The "
              "outputs are synthetic images; do not present them as real photographs or use them to identify people.",
              "- It has only seen the training data above; expect poor results on other image sizes, domains or "
              "content, and the biases of that data.",
              "- The numbers hold under the protocol stated with them only; features other than Inception (e.g. the "
              "digits judge) give numbers that are not comparable with published FIDs.",
              f"- A short run ({progress['epochs'] if progress['epochs'] is not None else '?'} epochs) is a check "
              "that the pipeline works, not a trained model of the paper's quality." if (progress["epochs"] or 0) < 5
              else "- Compare with the paper's numbers only under the paper's protocol.", ""]
    return hide_local_paths("\n".join(lines))
