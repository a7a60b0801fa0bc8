"""The report of bench/train_step.py: speed ratios against the plain loop, bootstrap intervals, the table."""

from __future__ import annotations

import statistics
from typing import Any

import torch


def bootstrap_median_ci(values: list[float], resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of the median (resampling the iterations, seeded)."""
    g = torch.Generator().manual_seed(seed)
    data = torch.tensor(values, dtype=torch.float64)
    # quantile(0.5) averages the two middle values of an even count, as statistics.median does (Tensor.median
    # would take the lower one and bias the interval low).
    medians = torch.quantile(data[torch.randint(len(values), (resamples, len(values)), generator=g)], 0.5, dim=1)
    lo, hi = torch.quantile(medians, torch.tensor([0.025, 0.975], dtype=torch.float64)).tolist()
    return lo, hi


def add_ratios(modes: dict[str, dict[str, Any]], interleaved: bool = False) -> None:
    base = modes.get("plain")
    if interleaved and base is not None and "lightning" in modes:
        # Iteration i of both modes ran back to back, so their ratio is free of the machine's drift.
        light = modes["lightning"]
        for key, times in (("paired_overhead_pct", "times_s"), ("paired_cpu_overhead_pct", "cpu_times_s")):
            ratios = [lt / pt for lt, pt in zip(light[times], base[times])]
            light[key] = 100.0 * (statistics.median(ratios) - 1.0)
            light[key + "_ci95"] = [100.0 * (r - 1.0) for r in bootstrap_median_ci(ratios)]
    for stats in modes.values():
        if base is None:
            stats["speed_vs_plain"] = stats["overhead_pct_vs_plain"] = stats["cpu_overhead_pct_vs_plain"] = None
            continue
        stats["speed_vs_plain"] = base["median_s"] / stats["median_s"]
        stats["overhead_pct_vs_plain"] = 100.0 * (stats["median_s"] / base["median_s"] - 1.0)
        stats["cpu_overhead_pct_vs_plain"] = 100.0 * (stats["cpu_median_s"] / base["cpu_median_s"] - 1.0)


def table(report: dict[str, Any]) -> str:
    head = (f"{report['model']} {report['size']}px batch {report['batch']} on {report['device_name']}"
            f" ({report['device']}, {report['threads']} threads); median of {report['steps']} iterations"
            f" x {report['repeats']} repeat(s) after {report['warmup']} warm-up; load {report['load_start']}")
    lines = [head, f"{'mode':<10} {'img/s':>9} {'ms/iter':>10} {'vs plain':>9} {'overhead':>9} "
                   f"{'cpu ms/it':>10} {'cpu ovh':>8} {'peak MiB':>9}  precision"]
    for mode, s in report["modes"].items():
        ratio = f"{s['speed_vs_plain']:.3f}x" if s["speed_vs_plain"] is not None else "-"
        ovh = f"{s['overhead_pct_vs_plain']:+.1f}%" if s["overhead_pct_vs_plain"] is not None else "-"
        covh = f"{s['cpu_overhead_pct_vs_plain']:+.1f}%" if s["cpu_overhead_pct_vs_plain"] is not None else "-"
        mem = f"{s['peak_memory_mib']:.0f}" if s["peak_memory_mib"] is not None else "-"
        lines.append(f"{mode:<10} {s['images_per_s']:>9.3f} {1000 * s['median_s']:>10.1f} {ratio:>9} {ovh:>9} "
                     f"{1000 * s['cpu_median_s']:>10.1f} {covh:>8} {mem:>9}  {s['settings']['precision']}")
    light = report["modes"].get("lightning", {})
    if light.get("paired_overhead_pct") is not None:
        ci = lambda key: "[{:+.1f}, {:+.1f}]".format(*light[key + "_ci95"])  # noqa: E731
        lines.append("interleaved plain/lightning iterations: Lightning's overhead, median of the per-pair ratios "
                     f"(95% bootstrap interval): {light['paired_overhead_pct']:+.1f}% wall "
                     f"{ci('paired_overhead_pct')}, {light['paired_cpu_overhead_pct']:+.1f}% CPU "
                     f"{ci('paired_cpu_overhead_pct')}")
    return "\n".join(lines)
