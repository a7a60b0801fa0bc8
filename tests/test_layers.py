"""The package's layers, read from its imports with ``ast``: no circle, and every import goes down (or sideways).

The table of layers and the import reader are in ganlit/_layers.py (the documentation draws its picture from them);
a new module must be placed in that table.
"""

from __future__ import annotations

import ast

import pytest

from ganlit._layers import LAYERS, MODULES, _Imports, import_graph, layer_of

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
