"""The one error type for user mistakes, and how the command line reports it.

Code raises ``UsageError`` (or a subclass) where it finds a mistake in what the user gave (a file, a key, a value,
a size); ``ganlit.cli.main`` catches it once and prints ``ganlit <command>: error: <message>`` with exit code 2.
Any other exception is a bug and keeps its traceback. ``GANLIT_DEBUG=1`` shows the traceback of user errors too.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import sys
from typing import Callable, Iterable, Optional

__all__ = ["UsageError", "ConfigError", "InputError", "command", "debug", "closest", "did_you_mean", "describe_config_error", "report"]


class UsageError(Exception):
    """A mistake in the user's input: reported as one or two lines and exit code 2, never as a traceback."""


class ConfigError(UsageError):
    """A recipe or ``--key value`` that the parser rejects (misspelled key, wrong type)."""


class InputError(UsageError):
    """A problem with a command's input (a file, a folder, an option's value), reported as one line and exit code 2."""


def debug() -> bool:
    """``GANLIT_DEBUG=1``: let user errors raise with their traceback."""
    return os.environ.get("GANLIT_DEBUG", "").strip() not in ("", "0", "false", "no")


def closest(word: str, choices: Iterable[str]) -> Optional[str]:
    """The choice ``word`` most likely misspells, or None when nothing is close."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``" (did you mean X?)"`` (``X or Y`` when ``word`` starts several choices) or ``""``. A shortened name
    is only suggested, never run: ``ganlit tr`` does not guess between commands added later."""
    choices = list(choices)
    starts = [c for c in choices if word and c.startswith(word) and c != word]
    match = " or ".join(starts) if starts else closest(word, choices)
    return f" (did you mean {match}?)" if match else ""


def _init_arg_names(class_path: str) -> list[str]:
    """The ``__init__`` parameter names of ``class_path`` (empty unless the parser already imported it: a hint
    never imports anything)."""
    import inspect

    module, _, name = class_path.rpartition(".")
    cls = getattr(sys.modules.get(module), name, None)
    if not isinstance(cls, type):
        return []
    names: list[str] = []
    for klass in cls.__mro__:  # a subclass passing **kwargs up accepts its bases' arguments too
        if "__init__" not in vars(klass) or klass is object:
            continue
        params = inspect.signature(klass.__init__).parameters.values()
        names += [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"]
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return list(dict.fromkeys(names))


def _type_names(text: str) -> str:
    names = re.findall(r"<class '(?:[\w.]*\.)?(\w+)'>", text)
    names = ["None" if n == "NoneType" else n for n in dict.fromkeys(names)]
    return " or ".join(names)


def describe_config_error(message: str, known_keys: Iterable[str] = ()) -> str:
    """jsonargparse's multi-line error as one line: the key at fault, the value, what was expected, and a
    "did you mean" among ``known_keys`` (the subcommand's keys) or the named class's init arguments."""
    text = str(message)
    m = re.search(r"(?i)unrecognized arguments: (\S+)", text) or re.search(r"does not accept [\w ]*?['\"]([\w.]+)['\"]", text)
    if m:
        key = m.group(1).lstrip("-").split("=")[0]
        return f"unknown key {key!r}{did_you_mean(key, known_keys)}"
    section = re.search(r"^(?:Parser key|Key) ['\"]([\w.]+)['\"]", text.strip())
    where = section.group(1) if section else None
    given = re.findall(r"Given value: (.+)", text) or re.findall(r"Got value: (.+)", text)
    cls = re.search(r"Problem with given class_path '([\w.]+)'", text)
    if cls:
        inner = text[cls.end():]
        # the outer union's other branches ("- Expected a <class 'NoneType'>") are not about this class
        inner = re.split(r"\n {0,4}- |\n {0,2}Given value type", inner)[0]
        names = _init_arg_names(cls.group(1))
        bad = re.search(r"(?:Option|Key|No action for key) ['\"]([\w.]+)['\"] (?:is not accepted|is not expected|to check)",
                        inner)
        if bad:
            key = bad.group(1).rsplit(".", 1)[-1]
            return (f"unknown key {where + '.init_args.' if where else ''}{key}: {cls.group(1)} takes no "
                    f"argument {key!r}{did_you_mean(key, names)}")
        arg = re.search(r"(?:Parser key|Key) ['\"]([\w.]+)['\"]", inner)
        if arg:
            key = f"{where + '.init_args.' if where else ''}{arg.group(1)}"
            value = re.search(r"(?:Given|Got) value: ([^\n]+)", inner[arg.end():])
            expected = _type_names(inner[arg.end():].split("Given value")[0])
            return (f"bad value {value.group(1).strip() if value else ''} for {key}: expected "
                    f"{expected or 'another type'}").replace("value  for", "value for")
        return f"{where or 'config'}: {cls.group(1)}: {' '.join(inner.split())[:200]}"
    if where:
        expected = _type_names(text.split("Given value")[0])
        value = f" {given[-1].strip()}" if given else ""
        detail = f"expected {expected}" if expected else " ".join(text.split())[:200]
        return f"bad value{value} for {where}: {detail}"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[0] if len(lines) <= 2 else f"{lines[0]} ... {lines[-1]}"


def report(command: str, error: BaseException) -> int:
    """Print ``ganlit <command>: error: <message>`` on stderr; return exit code 2."""
    print(f"ganlit {command}: error: {str(error).strip() or type(error).__name__}", file=sys.stderr)
    return 2


def command(name: str) -> Callable[[Callable[..., Optional[int]]], Callable[..., int]]:
    """Decorate a subcommand's ``main(argv)``: a ``UsageError`` raised anywhere below is reported by ``report``."""

    def wrap(main: Callable[..., Optional[int]]) -> Callable[..., int]:
        @functools.wraps(main)
        def run(argv: Optional[list[str]] = None) -> int:
            try:
                return int(main(argv) or 0)
            except UsageError as err:
                if debug():
                    raise
                return report(name, err)

        return run

    return wrap
