"""Runs many ganlit commands in one process, each in a fresh folder, and reports what each did (JSON on stdout).

``python tests/safety_driver.py CASES.json``: CASES is a list of ``{"id", "argv"}``. Each command goes through
``ganlit.cli.main`` (what the ``ganlit`` script and ``python -m ganlit`` run) with its stderr captured; torch and
Lightning are imported once for all of them, which is what makes a matrix of ~40 refusals affordable. The report
says, per case, the exit code, stderr and whether the payload's marker file ``pwned`` appeared anywhere.
"""

import contextlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path


def run_case(argv: list[str], folder: Path) -> dict:
    from ganlit.cli import main

    os.chdir(folder)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(list(argv))
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
        except BaseException as exc:  # noqa: BLE001 - reported, the matrix goes on
            code = f"raised {type(exc).__name__}: {exc}"
    return {"code": code, "stderr": err.getvalue(), "pwned": [str(p) for p in folder.rglob("pwned*")]}


def main() -> None:
    cases = json.loads(Path(sys.argv[1]).read_text())
    results = {}
    for case in cases:
        folder = Path(tempfile.mkdtemp(prefix=f"{case['id']}-", dir=os.environ.get("SAFETY_WORKDIR")))
        results[case["id"]] = run_case(case["argv"], folder)
    sys.stdout.write(json.dumps(results))


if __name__ == "__main__":
    main()
