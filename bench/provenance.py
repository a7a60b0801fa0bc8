"""Where, when and how a benchmark ran, in every report it writes; and the dated result files of bench/results/.

Every report of ``train_step.py``, ``data_pipeline.py`` and ``demo.py`` carries ``date`` (UTC, ISO 8601),
``machine`` (CPU, cores, GPU, OS, Python, torch) and ``command`` (the exact command line). ``--results DIR``
writes the report as ``DIR/<date>_<script>_<configuration>.json``: the files of ``bench/results/`` are the ones
the documentation's performance page reads, so every figure there names its date, machine and command.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from ganlit.utils.atomic import atomic_write_text  # each script puts the checkout on sys.path before importing this

def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "CPU"


def machine() -> dict[str, Any]:
    import torch

    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    return {"cpu": cpu_name(), "cpu_cores": os.cpu_count(), "gpu": gpu, "os": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__}


def provenance(script: str, argv: Optional[list[str]]) -> dict[str, Any]:
    """``date``, ``machine`` and ``command`` of this run of ``bench/<script>`` with arguments ``argv``."""
    args = sys.argv[1:] if argv is None else list(argv)
    return {"script": script, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine(), "command": shlex.join(["python", f"bench/{script}", *args])}


def write_report(report: dict[str, Any], json_path: Optional[Path], results: Optional[Path], slug: str) -> list[Path]:
    """Write ``report`` to ``json_path`` and/or as a dated file in the folder ``results``; the paths written."""
    paths = [json_path] if json_path else []
    if results:
        stem = Path(report["script"]).stem
        paths.append(results / f"{report['date'][:10]}_{stem}_{slug}.json")
    for path in paths:
        atomic_write_text(path, json.dumps(report, indent=1) + "\n")
    return paths
