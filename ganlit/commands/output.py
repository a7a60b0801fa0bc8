"""Output folders of the commands: never overwrite a user's files without ``--overwrite``."""

from __future__ import annotations

from pathlib import Path

from ganlit.errors import UsageError


class OutputExistsError(UsageError, FileExistsError):
    """The output path holds files the user has not allowed ganlit to replace."""


def prepare_output_dir(path: Path, overwrite: bool) -> Path:
    """Create ``path``; refuse a folder that already holds files unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputExistsError(f"--output {path} is a file, expected a folder")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise OutputExistsError(
            f"--output {path} already holds files; choose an empty folder or pass --overwrite to replace them"
        )
    path.mkdir(parents=True, exist_ok=True)
    return path
