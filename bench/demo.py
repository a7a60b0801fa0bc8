"""``ganlit demo``: time from the command to a served page, and time per translation through the page's API.

    python bench/demo.py [--size 256] [--starts 3] [--translations 10] [--threads N] [--json out.json]

Protocol: a CycleGAN checkpoint with the paper's networks (ResNet 9 blocks, ngf 64; weights seeded at random, which
costs what trained ones cost) is written to a temporary folder. ``--starts`` times, ``python -m ganlit demo --model
CKPT --port P`` is started and timed from the process start to the first HTTP 200 on the page (imports, checkpoint
load, Gradio start-up), then stopped with Ctrl+C. On the last server, ``--translations`` requests go through the
page's own API (``gradio_client``, the same endpoint the Translate button calls) with one ``--size`` x ``--size`` RGB
PNG; each is timed from the request to the returned output file (upload, decode, resize, generator forward, PNG
encode, download). The first request is a warm-up and is reported apart. The load average before and after is
recorded: on a shared machine, quote it with the numbers.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
sys.path.insert(0, str(ROOT / "bench"))  # provenance.py beside this file

from provenance import provenance, write_report  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_checkpoint(path: Path) -> Path:
    import torch

    from ganlit.models import CycleGAN

    torch.manual_seed(0)
    model = CycleGAN()
    torch.save({"ganlit_class": "ganlit.models.cyclegan.CycleGAN", "hyper_parameters": dict(model.hparams),
                "state_dict": model.state_dict()}, path)
    return path


def start(ckpt: Path, env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen, str, float]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "ganlit", "demo", "--model", str(ckpt), "--port", str(port)],
                            cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"ganlit demo exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return proc, url, time.perf_counter() - t0
        except OSError:
            time.sleep(0.1)


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--starts", type=int, default=3)
    p.add_argument("--translations", type=int, default=10)
    p.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS of the server (default: unset)")
    p.add_argument("--json", type=Path, default=None, help="write the report here")
    p.add_argument("--results", type=Path, default=None,
                   help="also write it as DIR/<date>_demo_<config>.json (bench/results: the docs' figures)")
    args = p.parse_args(argv)
    run = provenance("demo.py", argv)

    import numpy as np
    from PIL import Image

    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env = {**os.environ, "PYTHONPATH": path,
           "CUDA_VISIBLE_DEVICES": ""}  # CPU, as the performance page quotes
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ganlit-bench-demo-") as tmp:
        tmp = Path(tmp)
        ckpt = write_checkpoint(tmp / "cyclegan.ckpt")
        image = tmp / "photo.png"
        Image.fromarray((np.random.default_rng(0).random((args.size, args.size, 3)) * 255).astype(np.uint8)).save(image)
        startups, proc, url = [], None, ""
        for i in range(args.starts):
            if proc is not None:
                stop(proc)
            proc, url, seconds = start(ckpt, env, tmp)
            startups.append(seconds)
            print(f"start {i + 1}: page served after {seconds:.1f} s", flush=True)
        try:
            from gradio_client import Client, handle_file

            client = Client(url, verbose=False)
            times = []
            for i in range(args.translations + 1):
                t0 = time.perf_counter()
                _, out = client.predict(handle_file(str(image)), "AtoB", False, api_name="/translate")
                times.append(time.perf_counter() - t0)
            with Image.open(out) as result:
                out_size = result.size
        finally:
            stop(proc)
    load_after = os.getloadavg()
    report = {
        **run, "startup_s": startups, "startup_median_s": statistics.median(startups),
        "translation_warmup_s": times[0], "translation_s": times[1:],
        "translation_median_s": statistics.median(times[1:]) if len(times) > 1 else None,
        "size": args.size, "output_size": out_size, "threads": args.threads, "cpu_count": os.cpu_count(),
        "loadavg_before": load_before, "loadavg_after": load_after,
    }
    print(f"startup (command -> page served): median {report['startup_median_s']:.1f} s of {args.starts} "
          f"({', '.join(f'{s:.1f}' for s in startups)})")
    if report["translation_median_s"] is not None:
        print(f"translation {args.size} px on CPU through the page API: median {report['translation_median_s']:.3f} s "
              f"of {args.translations} (warm-up {times[0]:.3f} s); output {out_size[0]}x{out_size[1]}")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} on {os.cpu_count()} CPUs")
    write_report(report, args.json, args.results, f"cyclegan{args.size}_cpu")
    return 0


if __name__ == "__main__":
    sys.exit(main())
