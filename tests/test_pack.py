"""ganlit pack: a bundle (safetensors + JSON + Markdown card) of every family loads in a fresh process with the
checkpoint's outputs bit for bit, every command takes it, its card carries a real run's numbers with their protocol,
and its config.json can never choose the code that runs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from ganlit.bundle import CARD, CONFIG, WEIGHTS, load_model
from ganlit.card import hide_local_paths
from ganlit.checkpoint import load_module
from ganlit.cli import main as cli_main
from ganlit.models import CGAN, GAN, PAN, CycleGAN, DiscoGAN, PairedCycleGAN, Pix2Pix, StarGAN

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from pack_driver import images, outputs, size_of  # noqa: E402
from test_wandb_offline import tiny_quickstart  # noqa: E402

FAMILIES = {  # tiny networks at 16 px (the U-Net's 5 levels: 32 px); GAN and CycleGAN keep an EMA generator
    "gan": (lambda: GAN(image_size=16, channels=1, ngf=4, ndf=4, ema_decay=0.9), 1),
    "cgan": (lambda: CGAN(num_classes=4, image_size=16, channels=1, ngf=4, ndf=4), 1),
    "pix2pix": (lambda: Pix2Pix(image_size=32, num_downs=5, ngf=4, ndf=4, n_layers=1), 3),
    "pan": (lambda: PAN(image_size=32, num_downs=5, ngf=4, ndf=4), 3),
    "cyclegan": (lambda: CycleGAN(ngf=4, ndf=4, n_blocks=1, n_layers=1, ema_decay=0.5), 3),
    "discogan": (lambda: DiscoGAN(image_size=16, ngf=4, ndf=4), 3),
    "stargan": (lambda: StarGAN(image_size=16, num_attrs=3, conv_dim=4, repeat_num=1, d_repeat_num=2), 3),
    "paired_cyclegan": (lambda: PairedCycleGAN(image_size=16, ngf=4, ndf=4, n_blocks_g=1, n_blocks_f=1), 3),
}
PICKLE_OR_TORCH_ZIP = (b"\x80", b"PK\x03\x04")  # pickle protocol 2+ opcode; torch.save's zip archive


def environment(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "GANLIT_DEBUG"}
    env.update({"WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1",
                "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)]), **extra})
    return env


def ganlit(args: list, cwd: Path) -> subprocess.CompletedProcess:
    """The real command in its own process."""
    return subprocess.run([sys.executable, "-m", "ganlit", *map(str, args)], cwd=cwd, env=environment(),
                          capture_output=True, text=True, timeout=300)


def assert_one_error(proc: subprocess.CompletedProcess, command: str, *fragments: str) -> None:
    """Exit code 2 and one line ``ganlit <command>: error: ...`` holding every fragment, no traceback."""
    err = proc.stderr
    assert proc.returncode == 2 and "Traceback" not in err, err[-3000:]
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1 and lines[0].startswith(f"ganlit {command}: error: "), err[-3000:]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def save(model, path: Path, channels: int) -> Path:
    """A checkpoint in the format ``ganlit fit`` writes (class, init arguments, state, facts)."""
    torch.save({"ganlit_class": f"{type(model).__module__}.{type(model).__qualname__}",
                "hyper_parameters": dict(model.hparams), "state_dict": model.state_dict(),
                "ganlit_facts": {"image_size": size_of(model), "channels": channels}}, path)
    return path


def build(family: str):
    torch.manual_seed(0)
    make, channels = FAMILIES[family]
    model = make()
    model._ensure_ema()
    if model.generator_ema is not None:
        with torch.no_grad():  # the average unlike the raw generator: the bundle must carry the average
            for p in model.generator_ema.parameters():
                p.add_(0.05)
    for m in model.modules():  # running statistics unlike any batch's: eval and train modes differ
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.fill_(0.3), m.running_var.fill_(2.0)
    return model, channels


def pack(ckpt: Path, out: Path, *extra: str) -> int:
    return cli_main(["pack", "--model", str(ckpt), "--output", str(out), *extra])


@pytest.fixture(scope="module")
def packed(tmp_path_factory, one_thread):
    """Every family saved as a checkpoint and packed; the bundles loaded in one fresh process (no pickle loader)."""
    root = tmp_path_factory.mktemp("pack")
    for family in FAMILIES:
        model, channels = build(family)
        ckpt = save(model, root / f"{family}.ckpt", channels)
        assert pack(ckpt, root / family) == 0
    args = [f"{family}={root / family}" for family in FAMILIES]
    proc = subprocess.run([sys.executable, str(HERE / "pack_driver.py"), str(root / "fresh.safetensors"), *args],
                          env=environment(), capture_output=True, text=True, timeout=300, cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    from safetensors.torch import load_file

    return root, load_file(str(root / "fresh.safetensors"))


@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_bundle_gives_the_checkpoints_outputs_bit_for_bit_in_a_fresh_process(packed, family):
    root, fresh = packed
    expected = outputs(load_module(root / f"{family}.ckpt"), family)
    for name, value in expected.items():
        got = fresh[f"{family}/{name}"]
        assert got.dtype == value.dtype and torch.equal(got, value), f"{family}/{name} differs from the checkpoint's"
    # The EMA average, not the raw generator (which the perturbation made different).
    model = load_model(root / family)
    if model.generator_ema is not None:
        raw = load_module(root / f"{family}.ckpt")
        raw.generator_ema = None
        assert not all(torch.equal(v, outputs(raw, family)[k]) for k, v in expected.items())


@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_bundle_is_safetensors_json_and_markdown_with_the_inference_weights_only(packed, family):
    from safetensors import safe_open

    root, _ = packed
    folder = root / family
    assert sorted(p.name for p in folder.iterdir()) == sorted([CARD, CONFIG, WEIGHTS])
    for path in folder.iterdir():
        assert not path.read_bytes().startswith(PICKLE_OR_TORCH_ZIP), f"{path} looks like a pickle"
    model = load_module(root / f"{family}.ckpt")
    with safe_open(str(folder / WEIGHTS), framework="pt") as f:
        keys = set(f.keys())
        assert f.metadata()["ganlit"] == "ganlit-bundle"
    assert keys == set(model.sampling_nets().state_dict())  # the generator(s) inference runs, nothing else
    assert not any("discriminator" in k for k in keys)
    config = json.loads((folder / CONFIG).read_text())
    assert config["class_path"] == f"{type(model).__module__}.{type(model).__qualname__}"
    assert config["hyper_parameters"]["image_size" if "image_size" in config["hyper_parameters"] else "ngf"]
    assert config["facts"]["image_size"] == size_of(model) and config["facts"]["channels"] == FAMILIES[family][1]
    assert config["inference"]["mode"] == ("sample" if family in ("gan", "cgan") else "translate")
    assert config["weights"]["ema"] == (model.generator_ema is not None)
    card = (folder / CARD).read_text()
    assert card.startswith("---\nlibrary_name: ganlit\n")
    assert type(model).paper["title"] in card and "not recorded" in card and "Not measured" in card


def test_the_commands_take_a_bundle_with_the_same_outputs(packed, tmp_path):
    root, _ = packed
    for source, out in ((root / "cgan.ckpt", "a"), (root / "cgan", "b")):
        assert cli_main(["sample", "--ckpt", str(source), "--num", "5", "--seed", "3", "--output", out]) == 0
    assert sorted(p.name for p in Path("a").iterdir()) == sorted(p.name for p in Path("b").iterdir())
    assert all((Path("a") / p.name).read_bytes() == p.read_bytes() for p in Path("b").iterdir())
    photos = tmp_path / "photos"
    photos.mkdir()
    from PIL import Image

    for i, x in enumerate(images(2)):
        Image.fromarray(((x + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()).save(photos / f"{i}.png")
    for source, out in ((root / "cyclegan.ckpt", "ta"), (root / "cyclegan", "tb")):
        assert cli_main(["translate", "--model", str(source), "--input", str(photos), "--output", out,
                         "--direction", "BtoA", "--device", "cpu"]) == 0
    assert [p.read_bytes() for p in sorted(Path("ta").iterdir())] == [p.read_bytes() for p in sorted(Path("tb").iterdir())]
    for source, out in ((root / "stargan.ckpt", "a.pt"), (root / "stargan", "b.pt")):
        assert cli_main(["export", "--ckpt", str(source), "--format", "torchscript", "--output", out]) == 0
    x, c = images(2), torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    a, b = torch.jit.load("a.pt"), torch.jit.load("b.pt")
    assert torch.equal(a(x, c), b(x, c))
    from ganlit.bundle import resolve_source

    assert resolve_source(str(root / "cgan")) == root / "cgan"  # what ganlit.load (and so the demo) resolves


def test_hf_names_resolve_through_the_snapshot_cache(packed, monkeypatch):
    """``hf:owner/name`` is huggingface_hub's snapshot_download folder (replaced here: tests reach no network)."""
    huggingface_hub = pytest.importorskip("huggingface_hub")
    root, _ = packed
    asked = []

    def snapshot_download(repo_id, **kw):
        asked.append((repo_id, kw))
        return str(root / "cgan")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    import ganlit

    model = ganlit.load("hf:someone/tiny-cgan", device="cpu")
    assert torch.equal(model.sample(3, seed=1)[0], load_module(root / "cgan.ckpt").sample(3, seed=1)[0])
    assert asked[0][0] == "someone/tiny-cgan" and set(asked[0][1]["allow_patterns"]) == {CARD, CONFIG, WEIGHTS}


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    """A real tiny ``ganlit fit`` of recipes/quickstart.yaml (2 epochs of 2 batches, digits FID on 20 images each
    epoch), packed from its run folder."""
    import os

    root = tmp_path_factory.mktemp("quickstart")
    here = os.getcwd()
    os.chdir(root)
    try:
        assert tiny_quickstart(root) == 0
        run = root / "runs/quickstart/latest"
        assert pack(run, root / "bundle") == 0
    finally:
        os.chdir(here)
    return run.resolve(), root / "bundle"


def test_the_card_of_a_real_run_holds_its_numbers_data_recipe_and_protocol(quickstart):
    run, bundle = quickstart
    ckpt = torch.load(run / "checkpoints/last.ckpt", weights_only=True, map_location="cpu")
    card = (bundle / CARD).read_text()
    _, front, body = card.split("---\n", 2)
    meta = yaml.safe_load(front)
    assert meta["library_name"] == "ganlit" and meta["license"] == "mit"
    assert {"ganlit", "cgan", "gan"} <= set(meta["tags"]) and meta["datasets"] == ["DigitsDataModule"]
    assert set(meta["metrics"]) == {"fid", "kid", "inception_score"}
    (history,) = [s["history"] for k, s in ckpt["callbacks"].items() if k.startswith("Evaluation")]
    assert len(history) == 2  # one evaluation per epoch
    fids = [h["metrics"]["digits_fid"] for h in history]
    reported = {m["name"]: m["value"] for m in meta["model-index"][0]["results"][0]["metrics"]}
    assert reported["digits_fid (best)"] == min(fids) and reported["digits_fid (last)"] == fids[-1]
    assert reported["digits_is_mean (last)"] == history[-1]["metrics"]["digits_is_mean"]
    assert meta["model-index"][0]["results"][0]["dataset"]["split"] == "test"
    for section in ("## How to use", "## Paper and citation", "## Training data", "## Training recipe",
                    "## Training length", "## Metrics", "## Software and hardware", "## Intended use and limits"):
        assert section in body, section
    assert "arxiv.org/abs/1411.1784" in body and "@article{mirza2014cgan" in body
    data = ckpt["ganlit_record"]["data"]
    assert data["splits"]["train"]["count"] == 1500 and data["splits"]["train"]["hash"]["sha256"] in body
    assert "| train | 1500 |" in body
    recipe = (run / "config.yaml").read_text().rstrip()
    assert hide_local_paths(recipe) in body  # the full recipe, verbatim but for the packer's own folders
    root = str(run.parents[2])
    assert root in str(ckpt) and root not in card  # the packer's folders stay private
    assert '"root": "<local>/data"' in body and "absolute paths shown as `<local>/<last folder>`." in body
    assert "- iterations (batches): 4\n" in body and "- epochs completed: 2\n" in body
    assert "- real_count: 20\n" in body and "- fake_count: 20\n" in body and "- features: digits judge" in body
    assert f"{fids[-1]:.6g} (epoch 1, iteration 4)" in body
    record = ckpt["ganlit_record"]
    assert f"commit {record['ganlit']['commit']}" in body and record["hardware"]["device"] in body
    assert "Best checkpoint of the run by `val/digits_fid`" in body


def test_a_real_runs_bundle_scores_like_its_checkpoint(quickstart):
    run, bundle = quickstart
    reports = []
    for source, name in ((run / "checkpoints/last.ckpt", "a.json"), (bundle, "b.json")):
        assert cli_main(["evaluate", "--ckpt", str(source), "--data", "ganlit.data.DigitsDataModule",
                         "--num", "20", "--num-real", "20", "--device", "cpu", "--json", name]) == 0
        reports.append(json.loads(Path(name).read_text()))
    assert reports[0]["metrics"] == reports[1]["metrics"]


@pytest.mark.parametrize("class_path", ["subprocess.run", "os.system"])
def test_a_config_naming_other_code_is_refused_in_one_line_and_nothing_runs(packed, tmp_path, class_path):
    root, _ = packed
    folder = tmp_path / "evil"
    folder.mkdir()
    for name in (WEIGHTS, CARD):
        (folder / name).write_bytes((root / "cgan" / name).read_bytes())
    config = json.loads((root / "cgan" / CONFIG).read_text())
    config["class_path"] = class_path
    config["hyper_parameters"] = {"args": ["touch", str(tmp_path / "pwned")], "command": f"touch {tmp_path}/pwned"}
    (folder / CONFIG).write_text(json.dumps(config))
    proc = ganlit(["sample", "--ckpt", str(folder), "--output", "out", "--num", "2"], tmp_path)
    assert_one_error(proc, "sample", "config.json: class_path", class_path, "refused")
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "out").exists()


def test_nested_class_paths_and_bad_files_are_refused_in_one_line(packed, tmp_path):
    from ganlit.bundle import BundleError
    from ganlit.utils.imports import UntrustedClassError

    root, _ = packed
    folder = tmp_path / "b"
    folder.mkdir()
    (folder / WEIGHTS).write_bytes((root / "cgan" / WEIGHTS).read_bytes())
    config = json.loads((root / "cgan" / CONFIG).read_text())
    (folder / CONFIG).write_text(json.dumps({**config, "hyper_parameters": {
        **config["hyper_parameters"], "betas": {"class_path": "os.system", "init_args": {"command": "touch pwned"}}}}))
    with pytest.raises(UntrustedClassError, match=r"hyper_parameters\.betas\.class_path 'os.system'"):
        load_model(folder)
    (folder / CONFIG).write_text(json.dumps({**config, "hyper_parameters": {**config["hyper_parameters"], "ngf": 8}}))
    with pytest.raises(BundleError, match="its weights do not fit the CGAN of config.json: size mismatch"):
        load_model(folder)
    (folder / WEIGHTS).write_bytes(b"\x80\x04not safetensors")
    (folder / CONFIG).write_text(json.dumps(config))
    with pytest.raises(BundleError, match="model.safetensors: not a readable safetensors file"):
        load_model(folder)
    assert not Path("pwned").exists()


def test_pack_refuses_to_overwrite_and_replaces_a_bundle_only_when_asked(packed, tmp_path):
    root, _ = packed
    ckpt, out = root / "gan.ckpt", tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    proc = ganlit(["pack", "--model", str(ckpt), "--output", str(out)], tmp_path)
    assert_one_error(proc, "pack", f"--output {out} is not empty", "--overwrite")
    proc = ganlit(["pack", "--model", str(ckpt), "--output", str(out), "--overwrite"], tmp_path)
    assert_one_error(proc, "pack", "not a ganlit bundle")
    assert [p.name for p in out.iterdir()] == ["notes.txt"]  # untouched
    bundle = tmp_path / "bundle"
    assert pack(ckpt, bundle) == 0
    before = (bundle / WEIGHTS).read_bytes()
    assert pack(root / "cgan.ckpt", bundle, "--overwrite") == 0
    assert (bundle / WEIGHTS).read_bytes() != before and json.loads((bundle / CONFIG).read_text())["class_path"].endswith("CGAN")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "out"]  # no staging folder left
    proc = ganlit(["pack", "--model", "official:cyclegan", "--output", str(tmp_path / "o")], tmp_path)
    assert_one_error(proc, "pack", "official:cyclegan needs --weights", "ganlit download")  # tests/test_pack_official.py
    proc = ganlit(["pack", "--model", str(root / "cgan"), "--output", str(tmp_path / "o")], tmp_path)
    assert_one_error(proc, "pack", "is already a bundle")
