"""The package's layers, lowest first, and a reader of its imports (``ast``, nothing imported).

``tests/test_layers.py`` checks with these that no import goes up a layer and none closes a circle; the
documentation draws its architecture picture from them. Every ``import`` counts, at module level or inside a
function, except those under ``if TYPE_CHECKING:`` (type hints only, never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent

# Lowest first. A module may import from its own layer and the ones before it, never from a later one.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("utilities", ("ganlit._lazy", "ganlit._layers", "ganlit._version", "ganlit.errors", "ganlit.utils", "ganlit.cache", "ganlit.quiet",
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
        raise AssertionError(f"{module} is in no layer of ganlit/_layers.py: place it in LAYERS")
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
