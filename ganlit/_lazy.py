"""Lazy re-exports: ``import ganlit`` stays cheap and one broken family never breaks the others."""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, table: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return ``__getattr__``/``__dir__`` that import ``name`` from ``package + table[name]`` on first use."""

    def __getattr__(name: str) -> Any:
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(table[name], package)
        return getattr(module, name)

    def __dir__() -> list[str]:
        return sorted(table)

    return __getattr__, __dir__
