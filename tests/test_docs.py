"""The documentation: it builds with warnings and broken references as errors, its generated pages say what the code
says, every Python block runs, the shell blocks marked runnable run, and no page points to a file that is not here.

Markers in a page (HTML comments, invisible in the rendered page), each on the line before a fenced block:

* ``<!-- docs-test: file NAME -->``: the block is written to ``NAME`` in the working folder (a user's own file);
* ``<!-- docs-test: run -->``: the shell block runs there with bash, as written.

Every other ``python`` block runs, in the order of its page, in one namespace per page, in a folder holding the
repository's ``recipes/`` and a quickstart run trained for two iterations (``runs/quickstart/latest``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)
FENCE = re.compile(r"(?:<!-- docs-test: (?P<marker>[^>]*?) -->\n)?^(?P<fence>```+)(?P<lang>[^\n`]*)\n(?P<body>.*?)^(?P=fence)\s*$",
                   re.S | re.M)
ENV = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "WANDB_MODE": "disabled", "PYTHONPATH": str(ROOT)}


def blocks(page: Path) -> list[tuple[str, str, str]]:
    """(language, marker, body) of every fenced block of a page, in order (directives such as ``{literalinclude}``
    are not code blocks)."""
    return [(m["lang"].strip(), (m["marker"] or "").strip(), m["body"]) for m in FENCE.finditer(page.read_text())]


def test_every_python_block_is_found_and_the_markers_are_known():
    found = {p.relative_to(DOCS).as_posix(): blocks(p) for p in PAGES}
    python = [(page, marker) for page, bs in found.items() for lang, marker, _ in bs if lang == "python"]
    assert ("extending.md", "file my_papers.py") in python and ("sharing.md", "") in python
    markers = {marker for bs in found.values() for _, marker, _ in bs if marker}
    assert all(m == "run" or re.fullmatch(r"file [\w.]+", m) for m in markers), markers


# --- the build ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def html(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("html")
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-b", "html",
                           str(DOCS), str(out)], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-6000:]
    return out


def text_of(html: Path, page: str) -> str:
    raw = (html / page).read_text()
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", raw)).replace("&quot;", '"').replace("&#39;", "'")


def test_the_site_loads_nothing_from_the_internet(html):
    """Scripts (MathJax included), style sheets, fonts and images come from the site itself, so it works offline."""
    resource = re.compile(r"<(?:script|img|source)[^>]*\bsrc=\"([^\"]+)\"|<link[^>]*\bhref=\"([^\"]+)\"")
    pages = sorted(html.rglob("*.html"))
    external = {(p.name, a or b) for p in pages for a, b in resource.findall(p.read_text())
                if (a or b).startswith(("http:", "https:", "//"))}
    assert len(pages) > 20 and external == set()
    assert (html / "_static/mathjax/tex-chtml.js").is_file()
    assert "mathjax/tex-chtml.js" in (html / "papers/cyclegan.html").read_text()


def test_the_command_reference_is_each_parsers_own_help(html):
    from ganlit.cli import EXTRA_COMMANDS, LIGHTNING_COMMANDS

    page = text_of(html, "reference/cli.html")
    for command in [*LIGHTNING_COMMANDS, *EXTRA_COMMANDS]:
        assert "usage: ganlit" in page and f"ganlit {command}" in page
    # options that exist only in the parsers, one per kind of parser (LightningCLI, argparse, ganlit's additions)
    for option in ("--trainer.max_epochs", "--max_iterations", "--checkpoint.every_n_minutes", "--max-upload-mb",
                   "--preprocess", "--onnx-exporter", "--style-weights", "--max-extract-gb"):
        assert option in page, option


def test_the_api_reference_documents_the_model_base_its_hooks_and_every_paper(html):
    models = text_of(html, "reference/api/models.html")
    for name in ("GANModule", "discriminator_loss", "generator_loss", "build_optimizer", "optimizer_parameters",
                 "on_after_optimizer_step", "InferenceContract", "inference_network", "export_network", "ItemDraws",
                 "TrainingLoop"):
        assert name in models, name
    papers = text_of(html, "reference/api/papers.html")
    assert "build_generator" in papers and "build_discriminator" in papers
    raw = (html / "reference/api/papers.html").read_text()
    for module, name in (("gan", "GAN"), ("cgan", "CGAN"), ("pix2pix", "Pix2Pix"), ("pan", "PAN"),
                         ("cyclegan", "CycleGAN"), ("discogan", "DiscoGAN"), ("stargan", "StarGAN"),
                         ("paired_cyclegan", "PairedCycleGAN"), ("style_transfer", "StyleTransfer")):
        assert f'id="ganlit.models.{module}.{name}"' in raw, name
    assert 'id="ganlit.api.load"' in (html / "reference/api/load.html").read_text()
    for page, anchor in (("data", "ganlit.data.digits.DigitsDataModule"), ("metrics", "ganlit.metrics.callback.Evaluation"),
                         ("training", "ganlit.callbacks.LastCheckpoint")):
        assert f'id="{anchor}"' in (html / f"reference/api/{page}.html").read_text(), anchor


def test_the_performance_page_shows_every_dated_result_file(html):
    page = text_of(html, "performance.html")
    files = sorted((ROOT / "bench" / "results").glob("*.json"))
    assert files, "bench/results holds no result file"
    for path in files:
        report = json.loads(path.read_text())
        assert path.name in page and report["date"] in page and report["machine"]["cpu"] in page
        assert report["command"].replace('"', "") in page.replace('"', "")


def test_the_architecture_picture_is_the_layer_table(html):
    from ganlit._layers import LAYERS

    raw = (html / "architecture.html").read_text()
    start = raw.index('aria-label="the layers of the ganlit package"')
    svg = raw[start:raw.index("</svg>", start)]
    for i, (name, _) in enumerate(LAYERS):
        assert f"{i + 1}. {name}" in svg.replace("&amp;", "&")


def network_counts() -> dict[str, list[int]]:
    """The parameter count of every network of each paper's default model, counted on the meta device."""
    import torch

    from ganlit.models import CGAN, GAN, PAN, CycleGAN, DiscoGAN, PairedCycleGAN, Pix2Pix, StarGAN
    from ganlit.models.base import num_parameters

    counts = {}
    with torch.device("meta"):
        for page, model in (("gan", GAN(arch="mlp", image_size=28)), ("cgan", CGAN(arch="mlp", image_size=28)), ("pix2pix", Pix2Pix()),
                            ("pan", PAN()), ("cyclegan", CycleGAN()), ("discogan", DiscoGAN()), ("stargan", StarGAN()),
                            ("paired_cyclegan", PairedCycleGAN())):
            nets = [net for child in model.children()
                    for net in (child.values() if isinstance(child, torch.nn.ModuleDict) else [child])]
            counts[page] = [num_parameters(net) for net in nets if num_parameters(net)]
    return counts


def test_every_paper_has_its_page_with_counts_recipe_evidence_and_commands(html):
    counts = network_counts()
    for page in counts:
        text = text_of(html, f"papers/{page}.html")
        # every count the page's network table states is the code's, and the code has no network the page omits
        assert all(f"{n:,}" in text for n in counts[page]), (page, counts[page])
    for page in ("gan", "cgan", "pix2pix", "pan", "cyclegan", "discogan", "stargan", "paired_cyclegan",
                 "style_transfer"):
        raw = (html / f"papers/{page}.html").read_text()
        headings = [re.sub(r"<[^>]+>", "", h).lower() for h in re.findall(r"<h2>(.*?)<a class=\"headerlink\"", raw)]
        for section in ("method", "evidence", "learning check", "known deviations", "commands"):
            assert any(section in h for h in headings), (page, section, headings)
        assert "tests/test_" in text_of(html, f"papers/{page}.html"), page
        if page != "style_transfer":
            assert "Recipe" in text and "seed_everything" in text and "ganlit fit --config recipes/" in text, page


# --- the pages' blocks -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A user's folder: the recipes, and the quickstart trained for two iterations."""
    work = tmp_path_factory.mktemp("docs_work")
    shutil.copytree(ROOT / "recipes", work / "recipes")
    proc = subprocess.run([sys.executable, "-m", "ganlit", "fit", "--config", "recipes/quickstart.yaml",
                           "--trainer.max_steps", "4", "--trainer.enable_progress_bar", "false"],
                          cwd=work, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (work / "runs/quickstart/latest/checkpoints/last.ckpt").is_file()
    return work


def run_page(page: Path, work: Path) -> int:
    """Runs the blocks of one page in ``work``; the number of blocks run."""
    namespace: dict = {"__name__": "__docs__"}
    ran = 0
    for lang, marker, body in blocks(page):
        if marker.startswith("file "):
            (work / marker.split(" ", 1)[1]).write_text(body)
        elif marker == "run":
            assert lang in ("bash", "sh", "shell"), f"{page.name}: only shell blocks are marked runnable"
            proc = subprocess.run(["bash", "-euo", "pipefail", "-c", body], cwd=work, env=ENV, capture_output=True,
                                  text=True, timeout=600)
            assert proc.returncode == 0, f"{page.name}:\n{body}\n{proc.stderr[-4000:]}"
            ran += 1
        elif lang == "python":
            cwd = os.getcwd()
            os.chdir(work)
            try:
                exec(compile(body, f"{page.name} block", "exec"), namespace)
            finally:
                os.chdir(cwd)
            ran += 1
    return ran


RUNNABLE = [p for p in [ROOT / "README.md", *PAGES]
            if any(lang == "python" and not marker or marker == "run" for lang, marker, _ in blocks(p))]


@pytest.mark.slow
@pytest.mark.parametrize("page", RUNNABLE, ids=[p.relative_to(ROOT).as_posix() for p in RUNNABLE])
def test_the_blocks_of_a_page_run_as_written(page, workdir, tmp_path, monkeypatch):
    work = tmp_path / "work"  # each page in its own copy of the user's folder, so pages cannot disturb one another
    shutil.copytree(workdir, work, symlinks=True)
    monkeypatch.syspath_prepend(str(work))
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert run_page(page, work) > 0


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["my_wgan.yaml", "my_smooth_cgan.yaml"])
def test_the_extending_page_papers_train(recipe, tmp_path, monkeypatch):
    """The page's own files, written as a user copies them, trained briefly with the recipe as written otherwise."""
    from ganlit.cli import main

    for lang, marker, body in blocks(DOCS / "extending.md"):
        if marker.startswith("file "):
            (tmp_path / marker.split(" ", 1)[1]).write_text(body)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["fit", "--config", recipe, "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "6",
                 "--trainer.enable_progress_bar", "false", f"--trainer.default_root_dir={tmp_path}"]) == 0
    import my_papers

    if recipe == "my_wgan.yaml":
        assert my_papers.WGANGP().pattern == ["D", "D", "D", "D", "DG"]  # the defaults took: five critic steps


# --- no page points to a file that is not here ----------------------------------------------------------------------

LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")
PATH = re.compile(r"`((?:tests|recipes|bench|examples|ganlit|docs|\.ci|\.github)/[^`\s]*)`")


def missing_files(doc: Path) -> list[str]:
    """The links (relative to the page) and the repository paths in backticks (relative to the root) of ``doc``
    that name no file or folder here; placeholders (``<name>``, ``NAME``, ``...``) are not file names."""
    text = doc.read_text()
    named = [(m, doc.parent) for m in LINK.findall(text) if "://" not in m and not m.startswith("mailto:")]
    named += [(m, ROOT) for m in PATH.findall(text)]
    missing = []
    for shown, base in named:
        path = shown.split("::")[0].rstrip(".,;:")
        if re.search(r"[<>{}\[\]]|\.\.\.|NAME|_build/", path):  # placeholders, and what the docs build writes
            continue
        if not (list(base.glob(path)) if "*" in path else (base / path).exists()):
            missing.append(shown)
    return missing


@pytest.mark.parametrize("doc", [ROOT / "README.md", *PAGES], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_document_points_to_a_missing_file(doc):
    assert missing_files(doc) == []


def test_a_missing_file_and_a_broken_link_are_caught(tmp_path):
    doc = tmp_path / "page.md"
    doc.write_text("See `tests/no_such_test.py`, `recipes/quickstart.yaml`, [gone](gone.md), `tests/test_learning_*.py`, "
                   "`runs/<name>/latest` and `bench/results/<date>_<script>.json`.")
    assert missing_files(doc) == ["gone.md", "tests/no_such_test.py"]


def test_the_readme_is_a_landing_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    assert "python -m sphinx -W --keep-going -n -b html docs docs/_build/html" in readme
    for page in ("gan", "cgan", "pix2pix", "pan", "cyclegan", "discogan", "stargan", "paired_cyclegan", "style_transfer"):
        assert f"docs/papers/{page}.md" in readme, page
