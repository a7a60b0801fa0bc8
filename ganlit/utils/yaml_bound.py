"""YAML with a bound on alias expansion, for every config ganlit reads (recipes, ``--key value``, ``evaluate``).

A YAML alias (``*a``) re-uses the node its anchor (``&a``) names, so ten lines of nested aliases describe a billion
values ("billion laughs"): parsing such a recipe expanded to about 1 GB before failing. The document is composed
first (aliases stay shared nodes, so this costs its written size), its expanded size is counted with each shared
node counted once per use, and a document over :data:`MAX_VALUES` values is refused in one line before it is built.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import yaml

from ganlit.errors import ConfigError

__all__ = ["MAX_VALUES", "check_expansion", "install", "safe_load"]

MAX_VALUES = 1_000_000  # values after alias expansion; real recipes hold a few hundred


def _expanded_size(root: yaml.Node, limit: int) -> int:
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:  # an alias inside its own anchor: infinitely large
            return limit + 1
        active.add(key)
        if isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        else:
            total = 1
        active.discard(key)
        sizes[key] = min(total, limit + 1)
        return sizes[key]

    return size(root)


def check_expansion(stream: str, loader: type = yaml.SafeLoader, source: str = "config",
                    limit: Optional[int] = None) -> None:
    """Raise ``ConfigError`` when ``stream`` expands to more than ``limit`` values through its aliases."""
    limit = MAX_VALUES if limit is None else limit
    if "*" not in stream:  # no alias: the document is as large as it is written
        return
    try:
        root = yaml.compose(stream, Loader=loader)
    except yaml.YAMLError:
        return  # the loader itself reports the syntax error
    if root is not None and _expanded_size(root, limit) > limit:
        raise ConfigError(f"{source}: its YAML aliases expand to more than {limit:,} values (a document of "
                          f"{len(stream):,} characters); refused before building it")


def safe_load(text: str, source: str = "config") -> Any:
    """``yaml.safe_load`` with the expansion bound."""
    check_expansion(text, yaml.SafeLoader, source)
    return yaml.safe_load(text)


def install() -> None:
    """Put the bound in front of jsonargparse's YAML loader (used for config files and every ``--key value``)."""
    from jsonargparse import get_loader, set_loader

    current: Callable[[str], Any] = get_loader("yaml")
    if getattr(current, "_ganlit_bounded", False):
        return

    def bounded(stream: str) -> Any:
        check_expansion(stream)
        return current(stream)

    bounded._ganlit_bounded = True  # type: ignore[attr-defined]
    set_loader("yaml", bounded, (yaml.YAMLError,))
