"""Smoke runs of bench/train_step.py and bench/data_pipeline.py (their reports, not their timings)."""

import importlib.util
import json
import os
import sys
from datetime import datetime
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parent.parent / "bench"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def train_step():
    return load("train_step")


@pytest.fixture(autouse=True)
def keep_thread_counts():
    # The scripts' --threads sets process-wide thread pools; the tests after these keep theirs.
    import cv2

    torch_threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    yield
    torch.set_num_threads(torch_threads)
    cv2.setNumThreads(cv2_threads)


def assert_provenance(report: dict, script: str, argv: list[str]) -> None:
    """The date, machine and command that the documentation's performance page prints beside each figure."""
    assert report["script"] == script and report["command"] == " ".join(["python", f"bench/{script}", *argv])
    assert datetime.fromisoformat(report["date"]).tzinfo is not None  # an unambiguous date: UTC, ISO 8601
    machine = report["machine"]
    assert machine["cpu"] and machine["cpu_cores"] == os.cpu_count() and machine["torch"] == torch.__version__
    assert machine["gpu"] == (torch.cuda.get_device_name() if torch.cuda.is_available() else None)


def test_train_step_reports_three_modes(tmp_path, capsys, train_step):
    out = tmp_path / "gan.json"
    argv = ["--model", "gan", "--size", "16", "--steps", "3", "--warmup", "1", "--device", "cpu", "--threads", "1",
            "--json", str(out), "--results", str(tmp_path / "results")]
    assert train_step.main(argv) == 0
    report = json.loads(out.read_text())
    assert_provenance(report, "train_step.py", argv)
    # --results: the same report under a dated name (the documentation reads bench/results/*.json)
    dated = tmp_path / "results" / f"{report['date'][:10]}_train_step_gan16_b1_cpu.json"
    assert json.loads(dated.read_text()) == report
    assert (report["model"], report["size"], report["batch"], report["device"]) == ("gan", 16, 1, "cpu")
    assert list(report["modes"]) == ["plain", "lightning", "fast"]
    for mode, stats in report["modes"].items():
        assert len(stats["times_s"]) == 3 and all(t > 0 for t in stats["times_s"]), mode
        assert stats["median_s"] > 0 and stats["images_per_s"] > 0 and stats["cpu_median_s"] >= 0
        assert stats["speed_vs_plain"] > 0 and stats["peak_memory_mib"] is None  # no GPU memory on CPU
    assert report["modes"]["plain"]["speed_vs_plain"] == 1.0
    assert report["modes"]["lightning"]["settings"]["precision"] == "32-true"
    assert report["modes"]["fast"]["settings"]["module"]["channels_last"] is True
    assert report["load_start"] and report["threads"] == 1
    table = capsys.readouterr().out
    assert "img/s" in table and "lightning" in table and "fast" in table


def test_plain_loop_is_the_same_computation_as_the_lightning_module(tmp_path, train_step):
    # The baseline is honest only if it does the same work: same seed and data, same weights after 3 iterations.
    bench = train_step.MODELS["gan"]
    weights = []
    for mode in ("plain", "lightning"):
        torch.manual_seed(0)
        model = bench.build(16, ngf=8, ndf=8, **train_step.mode_settings(mode, "cpu", "off", None)["module"])
        loader = train_step._loader(bench, 16, 2, 4)
        torch.manual_seed(1)
        if mode == "plain":
            clock = train_step.run_plain(model, loader, "cpu", last=4)
        else:
            clock = train_step.run_lightning(model, loader, "cpu", "32-true", False, tmp_path, "none", False)
        assert len(clock.wall) == 4  # one stamp per batch; all 4 batches trained in both modes
        weights.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(*weights))
    torch.manual_seed(0)
    initial = [p.detach() for p in bench.build(16, ngf=8, ndf=8).parameters()]
    assert not any(torch.equal(a, b) for a, b in zip(weights[0], initial))  # every parameter was trained


def test_interleaved_plain_and_lightning_iterations_alternate(tmp_path, capsys, train_step):
    out = tmp_path / "pair.json"
    assert train_step.main(["--model", "gan", "--size", "16", "--steps", "3", "--warmup", "1", "--device", "cpu",
                            "--threads", "1", "--modes", "plain,lightning", "--interleave", "--repeats", "2",
                            "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["interleaved"] is True and list(report["modes"]) == ["plain", "lightning"]
    plain, light = report["modes"]["plain"], report["modes"]["lightning"]
    assert len(plain["times_s"]) == len(light["times_s"]) == 6  # 3 timed iterations x 2 repeats, per mode
    assert all(t > 0 for t in plain["times_s"] + light["times_s"])
    ratios = sorted(lt / pt for lt, pt in zip(light["times_s"], plain["times_s"]))
    assert light["paired_overhead_pct"] == pytest.approx(100 * ((ratios[2] + ratios[3]) / 2 - 1))
    lo, hi = light["paired_overhead_pct_ci95"]
    assert 100 * (ratios[0] - 1) <= lo <= light["paired_overhead_pct"] <= hi <= 100 * (ratios[-1] - 1)
    assert "per-pair ratios" in capsys.readouterr().out


def test_interleaved_clocks_stamp_plain_then_lightning(tmp_path, train_step):
    bench = train_step.MODELS["gan"]
    models = []
    for _ in range(2):
        torch.manual_seed(0)
        models.append(bench.build(16, ngf=8, ndf=8))
    loaders = [train_step._loader(bench, 16, 2, 5) for _ in range(2)]
    before, after = train_step.run_interleaved(models[0], loaders[0], models[1], loaders[1], "cpu", tmp_path,
                                               "none", False)
    assert len(before.wall) == len(after.wall) == 5  # one plain iteration before each of the 5 Lightning batches
    order = [t for pair in zip(before.wall, after.wall) for t in pair]
    assert order == sorted(order)  # plain i starts, ends (Lightning i starts), then plain i + 1 starts ...
    spans = train_step.interleaved_intervals(before, after, warmup=1, steps=3)
    assert spans["plain"][0] == [after.wall[i] - before.wall[i] for i in (1, 2, 3)]
    assert spans["lightning"][0] == [before.wall[i + 1] - after.wall[i] for i in (1, 2, 3)]
    torch.manual_seed(0)
    initial = bench.build(16, ngf=8, ndf=8)
    for model in models:  # both were trained: every parameter moved from the shared initial weights
        assert not any(torch.equal(a, b) for a, b in zip(model.parameters(), initial.parameters()))
    with pytest.raises(RuntimeError, match="interleaved iterations"):
        train_step.interleaved_intervals(before, after, warmup=2, steps=3)


def test_bootstrap_interval_of_the_median():
    report = load("bench_report")
    assert report.bootstrap_median_ci([1.02] * 9) == pytest.approx((1.02, 1.02))
    values = [0.9, 0.95, 1.0, 1.0, 1.0, 1.05, 1.1, 1.3, 0.7, 1.0, 0.98]
    lo, hi = report.bootstrap_median_ci(values)
    assert min(values) <= lo < 1.0 < hi <= max(values)  # the median, 1.0, lies inside; the interval has width
    assert report.bootstrap_median_ci(values) == (lo, hi)  # seeded


def test_train_step_rejects_unknown_modes(train_step):
    with pytest.raises(SystemExit):
        train_step.parse_args(["--model", "gan", "--modes", "plain,turbo"])
    with pytest.raises(SystemExit):  # --interleave needs both partners
        train_step.parse_args(["--model", "gan", "--modes", "lightning,fast", "--interleave"])


def test_data_pipeline_reports_images_per_second(tmp_path, capsys):
    data_pipeline = load("data_pipeline")
    out = tmp_path / "data.json"
    argv = ["--module", "paired,unpaired,celeba", "--workers", "0", "--size", "32", "--images", "4", "--threads", "1",
            "--json", str(out)]
    assert data_pipeline.main(argv) == 0
    report = json.loads(out.read_text())
    assert_provenance(report, "data_pipeline.py", argv)
    assert report["main_threads"] == {"torch": 1, "opencv": 1} and report["load_start"]
    modules = {m["module"]: m for m in report["modules"]}
    assert list(modules) == ["paired", "unpaired", "celeba"]
    # paired: 4 training files; unpaired: max(|A|, |B|) = 4; celeba: 4 listed, 2 held out as test by test_size.
    assert [modules[m]["results"][0]["images"] for m in modules] == [4, 4, 2]
    for m in modules.values():
        r = m["results"][0]
        assert r["workers"] == 0 and r["images_per_s"] > 0 and r["first_batch_s"] > 0 and r["epoch_s"] > 0
    assert "img/s" in capsys.readouterr().out
