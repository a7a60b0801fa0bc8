"""The parts of ganlit's documentation that are generated, never typed by hand.

* ``{ganlit-help} COMMAND``: the ``--help`` text of a command, from the CLI's own parsers (``ganlit`` alone: the
  list of commands).
* ``{bench-results} SCRIPT``: every dated result file ``bench/results/<date>_<SCRIPT>_<config>.json`` that the
  benchmark scripts write with ``--results bench/results``, as a table with its date, machine and command.
* ``{layers-picture}``: the package's layers and the imports between them, drawn from ``ganlit/_layers.py``.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"


def command_help(command: str) -> str:
    """What ``ganlit COMMAND --help`` prints, at a fixed width of 100 columns."""
    from ganlit.cli import _usage, main

    if command == "ganlit":
        return _usage()
    out = io.StringIO()
    old, argv = os.environ.get("COLUMNS"), sys.argv
    os.environ["COLUMNS"], sys.argv = "100", ["ganlit"]  # the program name the usage line shows
    try:
        with contextlib.redirect_stdout(out), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # LightningCLI's notice that sys.argv holds sphinx's own arguments
            try:
                code = main([command, "--help"])
            except SystemExit as stop:
                code = stop.code
    finally:
        sys.argv = argv
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old
    if code not in (0, None) or not out.getvalue().strip():
        raise RuntimeError(f"ganlit {command} --help exited with {code} and printed no help")
    return out.getvalue().rstrip() + "\n"


class CommandHelp(SphinxDirective):
    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        text = command_help(self.arguments[0])
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        return [block]


def _fmt(value: Any, spec: str = ".3g") -> str:
    return "-" if value is None else format(value, spec)


def _provenance(report: dict[str, Any], name: str) -> list[str]:
    m = report.get("machine", {})
    gpu = m.get("gpu") or "no GPU"
    return [f"- file: `bench/results/{name}`", f"- date (UTC): {report['date']}",
            f"- machine: {m.get('cpu', '?')}, {m.get('cpu_cores', '?')} cores, {gpu}; {m.get('os', '?')}; "
            f"Python {m.get('python', '?')}, torch {m.get('torch', '?')}",
            f"- command: `{report['command']}`", ""]


def train_step_table(report: dict[str, Any], name: str) -> str:
    lines = [f"**{report['model']}, {report['size']} px, batch {report['batch']}, {report['device_name']}** "
             f"({report['threads']} threads; median of {report['steps']} iterations x {report['repeats']} repeats "
             f"after {report['warmup']} warm-up; load average {report.get('load_start')} at the start, "
             f"{report.get('load_end')} at the end)", ""]
    lines += _provenance(report, name)
    lines += ["| mode | images/s | ms per iteration | speed vs plain | CPU ms per iteration | peak GPU MiB | precision |",
              "|---|---|---|---|---|---|---|"]
    for mode, s in report["modes"].items():
        lines.append(f"| {mode} | {s['images_per_s']:.3f} | {1000 * s['median_s']:.1f} | "
                     f"{_fmt(s['speed_vs_plain'], '.3f')}x | {1000 * s['cpu_median_s']:.1f} | "
                     f"{_fmt(s['peak_memory_mib'], '.0f')} | {s['settings']['precision']} |")
    light = report["modes"].get("lightning", {})
    if light.get("paired_overhead_pct") is not None:
        lo, hi = light["paired_overhead_pct_ci95"]
        clo, chi = light["paired_cpu_overhead_pct_ci95"]
        lines += ["", f"Interleaved iterations: Lightning's overhead over the plain loop, median of the per-pair "
                      f"ratios, {light['paired_overhead_pct']:+.1f} % wall [95 % interval {lo:+.1f}, {hi:+.1f}], "
                      f"{light['paired_cpu_overhead_pct']:+.1f} % CPU [{clo:+.1f}, {chi:+.1f}]."]
    return "\n".join(lines)


def data_pipeline_table(report: dict[str, Any], name: str) -> str:
    threads = report["main_threads"]
    lines = [f"**Data modules on {report['cpu']}** (main process: torch {threads['torch']} thread(s), OpenCV "
             f"{threads['opencv']}; {report['statistic']}; load average {report.get('load_start')} at the start)", ""]
    lines += _provenance(report, name)
    lines += ["| module | image size | batch | workers | images/s | first batch s |", "|---|---|---|---|---|---|"]
    for m in report["modules"]:
        for r in m["results"]:
            lines.append(f"| {m['module']} | {m['size']} | {m['batch_size']} | {r['workers']} | "
                         f"{r['images_per_s']:.1f} | {r['first_batch_s']:.2f} |")
    return "\n".join(lines)


def demo_table(report: dict[str, Any], name: str) -> str:
    starts = ", ".join(f"{s:.1f}" for s in report["startup_s"])
    times = report["translation_s"]
    lines = [f"**`ganlit demo` of a CycleGAN checkpoint, {report['size']} px, CPU** (load average "
             f"{report['loadavg_before'][0]:.2f} before, {report['loadavg_after'][0]:.2f} after, "
             f"{report['cpu_count']} CPUs)", ""]
    lines += _provenance(report, name)
    lines += ["| measurement | median | all |", "|---|---|---|",
              f"| command to page served, s | {report['startup_median_s']:.1f} | {starts} |",
              f"| one translation through the page's API, s | {_fmt(report['translation_median_s'], '.2f')} | "
              f"{len(times)} requests, {min(times):.2f} to {max(times):.2f} (warm-up {report['translation_warmup_s']:.2f}) |"]
    return "\n".join(lines)


TABLES = {"train_step": train_step_table, "data_pipeline": data_pipeline_table, "demo": demo_table}


def result_files(script: str) -> list[Path]:
    return sorted(RESULTS.glob(f"*_{script}_*.json"))


class BenchResults(SphinxDirective):
    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        script = self.arguments[0]
        if script not in TABLES:
            raise self.error(f"bench-results: unknown script {script!r}; expected one of {', '.join(TABLES)}")
        files = result_files(script)
        if not files:
            raise self.error(f"bench-results: no file bench/results/*_{script}_*.json; write one with "
                             f"python bench/{script}.py ... --results bench/results")
        parts = []
        for path in files:
            self.env.note_dependency(str(path))
            parts.append(TABLES[script](json.loads(path.read_text()), path.name))
        return self.parse_text_to_nodes("\n\n".join(parts))


def layers_svg() -> str:
    """One box per layer, lowest at the bottom, each naming its modules, with the number of imports it makes into
    the layers below it."""
    from ganlit._layers import LAYERS, import_graph, layer_of

    graph = import_graph()
    counts = [0] * len(LAYERS)
    for module, deps in graph.items():
        counts[layer_of(module)] += sum(1 for d in deps if layer_of(d) < layer_of(module))
    width, row, gap = 760, 54, 14
    height = len(LAYERS) * (row + gap) + gap
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
           f'role="img" aria-label="the layers of the ganlit package" font-family="sans-serif">']
    for i, (name, prefixes) in enumerate(reversed(LAYERS)):
        level = len(LAYERS) - 1 - i
        y = gap + i * (row + gap)
        names = ", ".join(p.replace("ganlit.", "") if p != "ganlit" else "ganlit (package)" for p in prefixes)
        out.append(f'<rect x="10" y="{y}" width="{width - 20}" height="{row}" rx="6" fill="#eef3fb" stroke="#4a6fa5"/>')
        out.append(f'<text x="24" y="{y + 22}" font-size="15" font-weight="bold" fill="#1d3557">{level + 1}. '
                   f'{html.escape(name)}</text>')
        out.append(f'<text x="{width - 24}" y="{y + 22}" font-size="12" text-anchor="end" fill="#555">'
                   f'{counts[level]} imports from below</text>')
        out.append(f'<text x="24" y="{y + 42}" font-size="12" fill="#333">{html.escape(names)}</text>')
        if level:
            out.append(f'<line x1="{width // 2}" y1="{y + row}" x2="{width // 2}" y2="{y + row + gap}" '
                       f'stroke="#4a6fa5" stroke-width="2"/>')
    out.append("</svg>")
    return "\n".join(out)


class LayersPicture(SphinxDirective):
    def run(self) -> list[nodes.Node]:
        return [nodes.raw("", layers_svg(), format="html")]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("ganlit-help", CommandHelp)
    app.add_directive("bench-results", BenchResults)
    app.add_directive("layers-picture", LayersPicture)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
