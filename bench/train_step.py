"""Steady-state training throughput of one ganlit model, three ways in one run.

    python bench/train_step.py --model cyclegan --size 256 --batch 1 [--steps 50 --warmup 10] \\
        [--device cuda|cpu] [--modes plain,lightning,fast] [--repeats 1] [--json out.json]

Modes, each on the same networks (same seed, same initial weights), losses, optimizers and synthetic data:

* ``plain``: a plain PyTorch loop, as the official repositories write it: the shared forward, then the D
  and G steps in the paper's order and cadence, with D frozen during the G step. It calls the module's own
  ``forward_step``/``discriminator_loss``/``generator_loss`` (plain tensor code), so the only difference to
  the next mode is the framework: no logging, no non-finite check, no hooks.
* ``lightning``: ``GANModule.training_step`` through ``lightning.Trainer`` in fp32 (``32-true``), non-fused
  Adam (as the plain loop), no channels_last, no compile, cudnn.benchmark off.
* ``fast``: the speed settings: channels_last, ``bf16-mixed`` (GPU, or a CPU with bf16 units; else fp32),
  fused Adam and ``torch.compile`` on GPU, cudnn.benchmark on.

Each iteration is timed from the start of one batch to the start of the next (CUDA synchronised at each
stamp), warm-up iterations excluded; the table shows the median, pooled over ``--repeats`` (which alternate
the order of the modes: plain, lightning, fast, then fast, lightning, plain). Wall time and process CPU time are both
recorded: on a shared CPU the CPU time is the steadier measure of work done. ``--interleave`` runs plain and
lightning iteration by iteration in one process instead (see ``run_interleaved``): the comparison to use on a
machine whose speed drifts. Data is an in-memory tensor
dataset of the right shape, so the input pipeline is not measured here (see ``bench/data_pipeline.py``).

A model is benchmarked by one entry in ``MODELS``: how to build it at a size, and one synthetic sample.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Optional

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench_* helpers beside this file

import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from bench_models import MODELS, Bench, SyntheticData  # noqa: E402
from bench_report import add_ratios, table  # noqa: E402
from provenance import cpu_name, provenance, write_report  # noqa: E402

MODES = ("plain", "lightning", "fast")


# ----------------------------------------------------------------------------- timing
class Clock:
    """Wall and process-CPU timestamps, with CUDA synchronised before each."""

    def __init__(self, device: str) -> None:
        self.cuda = device == "cuda"
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def stamp(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()
        self.wall.append(time.perf_counter())
        self.cpu.append(time.process_time())

    def intervals(self, warmup: int, steps: int) -> tuple[list[float], list[float]]:
        """Durations of iterations ``warmup .. warmup + steps - 1`` (start to next start)."""
        if len(self.wall) < warmup + steps + 1:
            raise RuntimeError(f"only {len(self.wall)} timestamps for {warmup} warm-up + {steps} timed iterations")
        sl = slice(warmup, warmup + steps + 1)
        diff = lambda xs: [b - a for a, b in zip(xs[sl][:-1], xs[sl][1:])]  # noqa: E731
        return diff(self.wall), diff(self.cpu)


def _loader(bench: Bench, size: int, batch: int, iterations: int) -> DataLoader:
    data = SyntheticData(bench.sample, size, iterations * batch)
    return DataLoader(data, batch_size=batch, shuffle=False, num_workers=0, drop_last=True)


def _to(batch: dict[str, Any], device: str) -> dict[str, Any]:
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}


class PlainLoop:
    """The plain loop's state for one model (its Adam optimizers and schedules); ``step`` is one iteration:
    forward once, then D and G steps in the module's cadence; no framework."""

    def __init__(self, model: Any, device: str) -> None:
        self.model, self.device = model.to(device).train(), device
        adam = dict(betas=model.betas, weight_decay=model.weight_decay)
        self.opt_g = torch.optim.Adam([p for p in model.g_nets.parameters() if p.requires_grad], lr=model.lr_g, **adam)
        self.opt_d = torch.optim.Adam([p for p in model.d_nets.parameters() if p.requires_grad], lr=model.lr_d, **adam)
        self.schedules = ([torch.optim.lr_scheduler.LambdaLR(o, model.lr_lambda) for o in (self.opt_g, self.opt_d)]
                          if model.schedule_unit == "iteration" else [])

    def step(self, it: int, batch: dict[str, Any]) -> None:
        model = self.model
        batch = _to(batch, self.device)
        phases = model.phases_at(it)
        with torch.set_grad_enabled("G" in phases):
            out = model.forward_step(batch)
        for phase in phases:
            if phase == "G":
                model.d_nets.requires_grad_(False)  # the official set_requires_grad(netD, False)
                loss, _ = model.generator_loss(batch, out)
                self.opt_g.zero_grad(set_to_none=True)
                loss.backward()
                self.opt_g.step()
                model.d_nets.requires_grad_(True)
            else:
                loss, _ = model.discriminator_loss(batch, out)
                self.opt_d.zero_grad(set_to_none=True)
                loss.backward()
                self.opt_d.step()
        for s in self.schedules:
            s.step()


def run_plain(model: Any, loader: DataLoader, device: str, last: int) -> Clock:
    """The plain loop over ``loader``, a time stamp at the start of every batch."""
    loop = PlainLoop(model, device)
    clock = Clock(device)
    for it, batch in enumerate(loader):
        clock.stamp()
        if it == last:
            break
        loop.step(it, batch)
    return clock


def _fit(model: Any, loader: DataLoader, device: str, precision: str, benchmark: bool, root: Path, logger: str,
         progress_bar: bool, on_batch_start: Callable[[int], None]) -> None:
    """``GANModule`` through ``lightning.Trainer`` (one epoch over ``loader``), calling ``on_batch_start(i)`` at
    the start of every batch."""
    import lightning as L
    from lightning.pytorch.callbacks import Callback

    class Hook(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            on_batch_start(batch_idx)

    log: Any = False
    if logger == "csv":
        from lightning.pytorch.loggers import CSVLogger

        log = CSVLogger(str(root), name="bench")
    trainer = L.Trainer(
        accelerator="gpu" if device == "cuda" else "cpu", devices=1, precision=precision, benchmark=benchmark,
        max_epochs=1, limit_val_batches=0, num_sanity_val_steps=0, logger=log, enable_checkpointing=False,
        enable_progress_bar=progress_bar, enable_model_summary=False, default_root_dir=str(root), callbacks=[Hook()],
    )
    trainer.fit(model, train_dataloaders=loader)


def run_lightning(model: Any, loader: DataLoader, device: str, precision: str, benchmark: bool,
                  root: Path, logger: str, progress_bar: bool) -> Clock:
    """``GANModule.training_step`` through ``lightning.Trainer``, a time stamp at the start of every batch."""
    clock = Clock(device)
    _fit(model, loader, device, precision, benchmark, root, logger, progress_bar, lambda i: clock.stamp())
    return clock


def run_interleaved(plain_model: Any, plain_loader: DataLoader, model: Any, loader: DataLoader, device: str,
                    root: Path, logger: str, progress_bar: bool) -> tuple[Clock, Clock]:
    """Plain and Lightning iterations alternate in one process: at the start of each Lightning batch, one
    plain iteration runs (its own copy of the model, its own optimizers and loader), then the Lightning
    iteration. A slow spell of a shared machine (other tenants' cache and memory traffic) then hits both
    modes alike, which sequential blocks of iterations cannot promise.

    Returns two clocks: ``before`` stamps the start of each plain iteration, ``after`` its end (the start of
    the Lightning iteration). Plain iteration i takes ``after[i] - before[i]``; Lightning iteration i takes
    ``before[i + 1] - after[i]`` (its data fetch, step and every hook)."""
    loop = PlainLoop(plain_model, device)
    batches = iter(plain_loader)
    before, after = Clock(device), Clock(device)

    def plain_then_lightning(i: int) -> None:
        before.stamp()
        loop.step(i, next(batches))
        after.stamp()

    _fit(model, loader, device, "32-true", False, root, logger, progress_bar, plain_then_lightning)
    return before, after


def interleaved_intervals(before: Clock, after: Clock, warmup: int, steps: int) -> dict[str, tuple[list, list]]:
    """Per-iteration (wall, CPU) durations of both modes of an interleaved run, warm-up excluded."""
    if len(before.wall) < warmup + steps + 1:
        raise RuntimeError(f"only {len(before.wall)} interleaved iterations for {warmup} warm-up + {steps} timed")
    timed = range(warmup, warmup + steps)
    return {
        "plain": ([after.wall[i] - before.wall[i] for i in timed], [after.cpu[i] - before.cpu[i] for i in timed]),
        "lightning": ([before.wall[i + 1] - after.wall[i] for i in timed],
                      [before.cpu[i + 1] - after.cpu[i] for i in timed]),
    }


# ----------------------------------------------------------------------------- settings and reporting
def cpu_has_bf16() -> bool:
    """True when the CPU has native bf16 arithmetic (AMX or AVX512-BF16), where bf16 autocast pays off."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def device_name(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name()
    return f"{cpu_name()} ({os.cpu_count()} cores)"


def mode_settings(mode: str, device: str, compile_flag: str, fast_precision: Optional[str]) -> dict[str, Any]:
    """The module init arguments and trainer settings of a mode."""
    if mode in ("plain", "lightning"):
        return {"module": {"fused_adam": False, "channels_last": False, "compile": False},
                "precision": "32-true", "cudnn_benchmark": False}
    cuda = device == "cuda"
    compile_on = compile_flag == "on" or (compile_flag == "auto" and cuda)
    precision = fast_precision or ("bf16-mixed" if cuda or cpu_has_bf16() else "32-true")
    return {"module": {"fused_adam": cuda, "channels_last": True, "compile": compile_on},
            "precision": precision, "cudnn_benchmark": cuda}


def load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def summarize(times: list[float], cpu: list[float], batch: int) -> dict[str, Any]:
    med = statistics.median(times)
    return {"median_s": med, "images_per_s": batch / med, "cpu_median_s": statistics.median(cpu),
            "min_s": min(times), "max_s": max(times)}


def _model_and_loader(args: argparse.Namespace, bench: Bench, settings: dict[str, Any]) -> tuple[Any, DataLoader]:
    """A fresh module from seed 0 (the same initial weights in every mode) and the synthetic batches."""
    torch.manual_seed(0)
    model = bench.build(args.size, **settings["module"])
    return model, _loader(bench, args.size, args.batch, args.warmup + args.steps + 1)


def run_mode(mode: str, args: argparse.Namespace, bench: Bench, root: Path) -> dict[str, Any]:
    settings = mode_settings(mode, args.device, args.compile, args.fast_precision)
    model, loader = _model_and_loader(args, bench, settings)
    iterations = len(loader)
    if args.device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    torch.backends.cudnn.benchmark = settings["cudnn_benchmark"]
    load_before = load()
    if mode == "plain":
        clock = run_plain(model, loader, args.device, last=iterations - 1)
    else:
        clock = run_lightning(model, loader, args.device, settings["precision"], settings["cudnn_benchmark"],
                              root / mode, args.logger, args.progress_bar)
    wall, cpu = clock.intervals(args.warmup, args.steps)
    result = {"times_s": wall, "cpu_times_s": cpu, "load_before": load_before, "load_after": load(),
              "peak_memory_mib": (torch.cuda.max_memory_allocated() / 2**20) if args.device == "cuda" else None,
              "settings": settings}
    del model, loader
    gc.collect()
    if settings["module"]["compile"]:
        torch._dynamo.reset()
    return result


def run_pair(args: argparse.Namespace, bench: Bench, root: Path) -> dict[str, dict[str, Any]]:
    """``plain`` and ``lightning`` interleaved iteration by iteration (``--interleave``); same seed, same
    initial weights and the same batches for both."""
    settings = mode_settings("plain", args.device, args.compile, args.fast_precision)
    models, loaders = zip(*(_model_and_loader(args, bench, settings) for _ in range(2)))
    torch.backends.cudnn.benchmark = settings["cudnn_benchmark"]
    load_before = load()
    before, after = run_interleaved(models[0], loaders[0], models[1], loaders[1], args.device, root / "pair",
                                    args.logger, args.progress_bar)
    load_after = load()
    del models, loaders
    gc.collect()
    # Peak memory cannot be told apart when both models live at once: measure it without --interleave.
    return {mode: {"times_s": wall, "cpu_times_s": cpu, "load_before": load_before, "load_after": load_after,
                   "peak_memory_mib": None, "settings": settings}
            for mode, (wall, cpu) in interleaved_intervals(before, after, args.warmup, args.steps).items()}


def combine(runs: list[dict[str, Any]], batch: int) -> dict[str, Any]:
    """Pool the timed iterations of every repeat of one mode."""
    wall = [t for r in runs for t in r["times_s"]]
    cpu = [t for r in runs for t in r["cpu_times_s"]]
    out = summarize(wall, cpu, batch)
    peaks = [r["peak_memory_mib"] for r in runs if r["peak_memory_mib"] is not None]
    out |= {"peak_memory_mib": max(peaks) if peaks else None,
            "per_repeat_median_s": [statistics.median(r["times_s"]) for r in runs],
            "load": [[r["load_before"], r["load_after"]] for r in runs],
            "settings": runs[0]["settings"], "times_s": wall, "cpu_times_s": cpu}
    return out


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/train_step.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, choices=sorted(MODELS))
    p.add_argument("--size", type=int, default=256, help="image side (default 256)")
    p.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    p.add_argument("--steps", type=int, default=50, help="timed iterations per mode and repeat (default 50)")
    p.add_argument("--warmup", type=int, default=10, help="untimed iterations first (default 10)")
    p.add_argument("--repeats", type=int, default=1,
                   help="run the modes this many times, in alternating order (ABBA), and pool the iterations")
    p.add_argument("--interleave", action="store_true",
                   help="run plain and lightning iteration by iteration in one process (drift-free comparison on a "
                        "shared machine) instead of one after the other")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--modes", default=",".join(MODES), help=f"comma-separated subset of {','.join(MODES)}")
    p.add_argument("--compile", choices=("auto", "on", "off"), default="auto",
                   help="torch.compile in the fast mode (auto: on GPU only; compiling on a small CPU takes minutes)")
    p.add_argument("--fast-precision", default=None,
                   help="precision of the fast mode (default bf16-mixed on GPU or a bf16 CPU, else 32-true)")
    p.add_argument("--logger", choices=("csv", "none"), default="csv",
                   help="Lightning modes: a CSVLogger (default, like a recipe's logger) or none")
    p.add_argument("--progress-bar", action="store_true", help="Lightning modes: keep the progress bar on")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--json", type=Path, default=None, help="write the report here")
    p.add_argument("--results", type=Path, default=None,
                   help="also write it as DIR/<date>_train_step_<config>.json (bench/results: the docs' figures)")
    args = p.parse_args(argv)
    args.mode_list = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in args.mode_list if m not in MODES]
    if bad or not args.mode_list:
        p.error(f"--modes {args.modes!r}: expected a comma-separated subset of {','.join(MODES)}")
    if args.interleave and not {"plain", "lightning"} <= set(args.mode_list):
        p.error(f"--interleave runs plain and lightning side by side: --modes {args.modes!r} lacks one of them")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device is available")
    if args.steps < 1 or args.warmup < 0 or args.batch < 1 or args.repeats < 1:
        p.error("--steps, --batch and --repeats must be >= 1 and --warmup >= 0")
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", module="lightning")
    bench = MODELS[args.model]
    report: dict[str, Any] = {
        **provenance("train_step.py", argv), "model": args.model, "note": bench.note, "size": args.size, "batch": args.batch, "steps": args.steps,
        "warmup": args.warmup, "repeats": args.repeats, "device": args.device, "device_name": device_name(args.device),
        "threads": torch.get_num_threads(), "torch": torch.__version__, "logger": args.logger,
        "progress_bar": args.progress_bar, "statistic": "median of per-iteration times (batch start to next start)",
        "load_start": load(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        # fp32 on a GPU: convolutions may use TF32 (cudnn's default), matmuls follow this setting.
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
    }
    import lightning

    report["lightning"] = lightning.__version__
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in args.mode_list}
    report["interleaved"] = args.interleave
    with tempfile.TemporaryDirectory(prefix="ganlit-bench-") as tmp:
        for r in range(args.repeats):
            # Odd repeats run the modes in reverse (ABBA), so a load that drifts during the run favours none.
            for mode in args.mode_list if r % 2 == 0 else args.mode_list[::-1]:
                if len(runs[mode]) > r:  # plain or lightning, already run with its partner
                    continue
                pair = args.interleave and mode in ("plain", "lightning")
                label = "plain and lightning interleaved" if pair else mode
                print(f"[{time.strftime('%H:%M:%S')}] repeat {r + 1}/{args.repeats}: {label} ...", file=sys.stderr)
                results = (run_pair(args, bench, Path(tmp) / f"r{r}") if pair
                           else {mode: run_mode(mode, args, bench, Path(tmp) / f"r{r}")})
                for m, result in results.items():
                    runs[m].append(result)
                report["modes"] = {m: combine(rs, args.batch) for m, rs in runs.items() if rs}
                add_ratios(report["modes"], interleaved=args.interleave)
                report["load_end"] = load()
                slug = f"{args.model}{args.size}_b{args.batch}_{args.device}" + ("_interleaved" * args.interleave)
                write_report(report, args.json, args.results, slug)
    print(table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
