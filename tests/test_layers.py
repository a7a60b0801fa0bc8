"""The package's layers, read from its imports with ``ast``: no circle, and every import goes down (or sideways).

Every ``import`` counts, at module level or inside a function, except those under ``if TYPE_CHECKING:`` (type hints
only, never run). The table below is the layout ganlit/__init__.py describes; a new module must be placed in it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ganlit"

# Lowest first. A module may import from its own layer and the ones before it, never from a later one.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("utilities", ("ganlit._lazy", "ganlit._version", "ganlit.errors", "ganlit.utils", "ganlit.cache", "ganlit.quiet",
                   "ganlit.fetch", "ganlit.weights")),
    ("networks", ("ganlit.networks",)),
    ("model parts", ("ganlit.losses", "ganlit.pool", "ganlit.histmatch", "ganlit.regions", "ganlit.attributes",
                     "ganlit.sizes", "ganlit.facts", "ganlit.record", "ganlit.grids", "ganlit.hub")),
    ("models", ("ganlit.models",)),
    ("data and metrics", ("ganlit.data", "ganlit.metrics")),
    ("training", ("ganlit.callbacks", "ganlit.checkpoint", "ganlit.runs", "ganlit.runlock", "ganlit.run_config",
                  "ganlit.progress", "ganlit.ddp", "ganlit.wandb_run")),
    ("api and sharing", ("ganlit.api", "ganlit.bundle", "ganlit.card", "ganlit.official_bundle",
                         "ganlit.weights_download")),
    ("commands", ("ganlit.cli", "ganlit.cli_config", "ganlit.commands", "ganlit.__main__", "ganlit")),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int:
    """The index of the layer whose longest prefix names ``module``."""
    best, found = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), i
    if found is None:
        raise AssertionError(f"{module} is in no layer of tests/test_layers.py: place it in LAYERS")
    return found


def _owner(name: str) -> str | None:
    """The ganlit module that ``name`` (a dotted import target) lives in."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


class _Imports(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool) -> None:
        self.module, self.package = module, module if is_package else module.rpartition(".")[0]
        self.found: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
                isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def _add(self, target: str) -> None:
        owner = _owner(target)
        if owner is not None and owner != self.module:
            self.found.add(owner)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.split(".")[0] == "ganlit":
                self._add(alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            name = f"{base}.{node.module}" if node.module else base
        else:
            name = node.module or ""
        if name.split(".")[0] != "ganlit":
            return
        for alias in node.names:  # `from ganlit.models import pix2pix` imports the submodule
            self._add(f"{name}.{alias.name}" if f"{name}.{alias.name}" in MODULES else name)


def import_graph() -> dict[str, set[str]]:
    graph = {}
    for module, path in MODULES.items():
        visitor = _Imports(module, path.name == "__init__.py")
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        graph[module] = visitor.found
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_circle():
    assert circles(import_graph()) == []


def test_every_import_goes_down_the_layers():
    upward = [f"{m} ({LAYERS[layer_of(m)][0]}) imports {d} ({LAYERS[layer_of(d)][0]})"
              for m, deps in import_graph().items() for d in sorted(deps) if layer_of(d) > layer_of(m)]
    assert upward == []


def test_no_command_imports_a_paper():
    """Commands read the inference contract; they never name a trained paper's class (ganlit.models.<paper>). Gatys
    style transfer is an optimisation per image, not a trained model: ``ganlit stylize`` builds it itself."""
    papers = {m for m in MODULES if m.startswith("ganlit.models.") and m.rpartition(".")[2] in {
        "gan", "cgan", "pix2pix", "pan", "cyclegan", "discogan", "stargan", "paired_cyclegan"}}
    graph = import_graph()
    named = {m: sorted(graph[m] & papers) for m in graph if m.startswith(("ganlit.commands", "ganlit.cli"))}
    assert {m: p for m, p in named.items() if p} == {}


@pytest.mark.parametrize("source,expected", [
    ("import ganlit.cli\n", {"ganlit.cli"}),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ganlit.cli import main\n", set()),
    ("def f():\n    from ganlit.models.base import GANModule\n", {"ganlit.models.base"}),
    ("from ganlit.models import pix2pix\n", {"ganlit.models.pix2pix"}),
])
def test_the_import_reader_sees_function_level_imports_and_skips_type_hints(source, expected):
    visitor = _Imports("ganlit.losses", False)
    visitor.visit(ast.parse(source))
    assert visitor.found == expected


def test_a_circle_and_an_upward_import_are_caught():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert layer_of("ganlit.cli") > layer_of("ganlit.models.base") > layer_of("ganlit.networks.unet")
