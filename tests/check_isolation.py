"""Check that the suite does not depend on test order or on state left by other tests.

    python tests/check_isolation.py                  # every test file alone, each on its own empty GANLIT_CACHE
    python tests/check_isolation.py --shuffle 7      # the whole suite once, files in a random order (seed 7)
    python tests/check_isolation.py -m "not slow"    # either mode, passing a marker expression to pytest

Each run is a fresh ``python -m pytest`` process in a fresh temporary folder, so nothing (the digits judge,
cached real features, torch's RNG, Lightning's globals) carries over from another file. Prints one line per run
and exits 1 when any run failed. Not collected by pytest (the file name does not start with ``test_``).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def run_pytest(files: list[Path], marker: str | None) -> tuple[int, float, str]:
    """Run pytest on ``files`` (in that order) with an empty cache; (exit code, seconds, last summary line)."""
    with tempfile.TemporaryDirectory(prefix="ganlit-isolation-") as tmp:
        env = dict(os.environ, GANLIT_CACHE=str(Path(tmp) / "cache"))
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *map(str, files)]
        if marker:
            cmd += ["-m", marker]
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=TESTS.parent, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    # pytest exits 5 when a marker deselects every test of a file: nothing ran, nothing failed.
    code = 0 if proc.returncode == 5 else proc.returncode
    if code:
        sys.stdout.write(proc.stdout[-4000:] + proc.stderr[-2000:])
    return code, seconds, lines[-1] if lines else proc.stderr.strip()[-200:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shuffle", type=int, metavar="SEED", help="run the suite once, files in a random order")
    parser.add_argument("-m", dest="marker", help="pytest marker expression, e.g. 'not slow'")
    parser.add_argument("files", nargs="*", type=Path, help="test files (default: every tests/test_*.py)")
    args = parser.parse_args(argv)
    files = [f.resolve() for f in args.files] or sorted(TESTS.glob("test_*.py"))
    if args.shuffle is not None:
        random.Random(args.shuffle).shuffle(files)
        print("order:", " ".join(f.name for f in files), flush=True)
        runs = [("suite, shuffled", files)]
    else:
        runs = [(f.name, [f]) for f in files]
    failed = []
    for name, group in runs:
        code, seconds, summary = run_pytest(group, args.marker)
        print(f"{'ok  ' if code == 0 else 'FAIL'} {name:<45} {seconds:7.1f} s  {summary}", flush=True)
        if code:
            failed.append(name)
    print(f"{len(runs) - len(failed)} passed, {len(failed)} failed" + (f": {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
