"""Output files of the commands: never overwrite a user's files without ``--overwrite``, never an input at all, and
never leave a partial file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from ganlit.errors import UsageError
from ganlit.utils.atomic import atomic_write, disk_error

if TYPE_CHECKING:
    from PIL import Image


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
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise disk_error(err, path) from None
    return path


def refuse_overwriting_inputs(outputs: Iterable[Path], inputs: Iterable[Path], what: str = "--output") -> None:
    """Refuse outputs that would replace one of the command's inputs (an image, a checkpoint), whatever
    ``--overwrite`` says: ``--overwrite`` allows replacing earlier results, never the files being read."""
    sources = {Path(p).resolve(): Path(p) for p in inputs}
    for out in outputs:
        hit = sources.get(Path(out).resolve())
        if hit is not None:
            raise OutputExistsError(f"{what} {out} would replace the input {hit}; choose another {what}")


def save_picture(picture: "Image.Image", path: Path) -> Path:
    """Save a PIL image atomically (a full disk leaves the previous file, never a partial or empty one); the format
    follows the extension."""
    from PIL import Image

    fmt = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    return atomic_write(path, lambda f: picture.save(f, format=fmt))
