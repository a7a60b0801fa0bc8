"""The one place a dotted class path is turned into a class, and the rule for paths read from files.

A checkpoint, a run folder or a bundle names its model class (``ganlit_class``, ``_class_path``). Such a file may
come from anyone, so the name is data: :func:`import_class` resolves it and checks that it is a class deriving
from the expected base (``ganlit.GANModule`` for models) before anything is called. Standard-library and built-in
modules are refused without being imported (they hold no ganlit model, and some run code on import), as are names
that are not dotted identifiers. A user's own paper in their own module (``my_papers.WGANGP``) resolves like a
shipped one.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from typing import Any, Optional

from ganlit.errors import UsageError

__all__ = ["UntrustedClassError", "import_class", "import_object", "check_class_path"]

_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")
_REFUSED_TOPS = frozenset(sys.stdlib_module_names) | frozenset(sys.builtin_module_names)


class UntrustedClassError(UsageError, ValueError):
    """A class path read from a file does not name a class of the expected kind; nothing was called."""


def _where(source: str, key: str) -> str:
    return f"{source}: {key}" if source else key


def check_class_path(path: Any, key: str = "class path", source: str = "") -> str:
    """Refuse, without importing anything, a value that cannot name a ganlit class: not a dotted identifier, or
    in a standard-library or built-in module."""
    if not isinstance(path, str) or not _DOTTED.match(path):
        raise UntrustedClassError(f"{_where(source, key)} {path!r}: expected a dotted class path such as "
                                  "ganlit.models.CycleGAN; refused")
    top = path.split(".", 1)[0]
    if top in _REFUSED_TOPS:
        raise UntrustedClassError(f"{_where(source, key)} {path!r} names the standard-library module {top!r}, "
                                  "which holds no ganlit model; refused without importing or calling it")
    return path


def import_object(path: str, key: str = "class path", source: str = "") -> Any:
    """Import the object a dotted path names: the longest importable module prefix, then attributes (a nested
    class's ``__qualname__`` works). Raises :class:`UntrustedClassError` when it cannot be found."""
    check_class_path(path, key, source)
    parts = path.split(".")
    if importlib.util.find_spec(parts[0]) is None:
        raise UntrustedClassError(f"{_where(source, key)} {path!r} cannot be imported: no module {parts[0]!r} "
                                  "is on the Python path (is the file that defines it in this folder or on PYTHONPATH?)")
    module, attrs = None, parts
    for i in range(len(parts) - 1, 0, -1):
        try:
            module = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError as err:
            if err.name and ".".join(parts[:i]).startswith(err.name):
                continue  # this prefix is no module: try a shorter one
            raise
        attrs = parts[i:]
        break
    obj = module
    for name in attrs:
        obj = getattr(obj, name, None)
        if obj is None:
            raise UntrustedClassError(f"{_where(source, key)} {path!r} cannot be imported: {'.'.join(parts[:-len(attrs)])!r} has no "
                                      f"attribute {name!r}")
    return obj


def import_class(path: str, base: Optional[type] = None, key: str = "class path", source: str = "",
                 kind: str = "") -> type:
    """The class ``path`` names, checked to be a subclass of ``base`` before it is returned (nothing is called).

    ``key``/``source`` name where the path was read (``ganlit_class`` in ``runs/x/last.ckpt``), ``kind`` what was
    expected (default: the base's name), for the one-line refusal.
    """
    obj = import_object(path, key, source)
    expected = kind or (f"a subclass of {base.__module__}.{base.__qualname__}" if base is not None else "a class")
    if not isinstance(obj, type) or (base is not None and not issubclass(obj, base)):
        what = "a class" if isinstance(obj, type) else f"a {type(obj).__name__}"
        raise UntrustedClassError(f"{_where(source, key)} {path!r} is {what}, not {expected}; refused without "
                                  "calling it")
    return obj

