"""GAN and CGAN: networks, sampling, the CLI on MNIST recipes, ganlit sample, checkpoints."""

import warnings

import pytest
import torch
from fixtures_mnist import write_mnist_tree
from recipes_util import run_recipe

from ganlit.checkpoint import load_module
from ganlit.cli import main
from ganlit.data import DigitsDataModule, MNISTDataModule
from ganlit.models import CGAN, GAN
from ganlit.models.base import num_parameters
from ganlit.networks import (ConditionalMaxoutDiscriminator, ConditionalMLPGenerator, DCGANDiscriminator,
                             DCGANGenerator, MaxoutDiscriminator, MLPGenerator)


def test_paper_mlp_sizes():
    # GAN: 100 -> 1200 -> 1200 -> 784; D: maxout 240x5 twice -> 1.
    assert num_parameters(MLPGenerator()) == (100 * 1200 + 1200) + (1200 * 1200 + 1200) + (1200 * 784 + 784)
    assert num_parameters(MaxoutDiscriminator()) == (784 * 1200 + 1200) + (240 * 1200 + 1200) + (240 + 1)
    # CGAN: z 100 -> 200, y 10 -> 1000, joint 1200 -> 1200 -> 784; D: x maxout 240x5, y maxout 50x5, joint 240x4.
    assert num_parameters(ConditionalMLPGenerator()) == (
        (100 * 200 + 200) + (10 * 1000 + 1000) + (1200 * 1200 + 1200) + (1200 * 784 + 784))
    assert num_parameters(ConditionalMaxoutDiscriminator()) == (
        (784 * 1200 + 1200) + (10 * 250 + 250) + (290 * 960 + 960) + (240 + 1))


@pytest.mark.parametrize("size", [16, 32])
def test_dcgan_shapes(size):
    g, d = DCGANGenerator(image_size=size, ngf=8, num_classes=10), DCGANDiscriminator(image_size=size, ndf=8, num_classes=10)
    labels = torch.arange(4)
    x = g(torch.randn(4, 100), labels)
    assert x.shape == (4, 1, size, size) and x.abs().max() <= 1
    assert d(x, labels).shape == (4,)


def test_dcgan_rejects_bad_size():
    with pytest.raises(ValueError, match="image_size=24"):
        DCGANGenerator(image_size=24)


def test_cgan_sample_follows_labels_and_seed():
    model = CGAN(image_size=16, ngf=8, ndf=8)
    a, labels = model.sample(6, torch.tensor([1, 2, 3, 1, 2, 3]), seed=3)
    b, _ = model.sample(6, torch.tensor([1, 2, 3, 1, 2, 3]), seed=3)
    assert torch.equal(a, b) and labels.tolist() == [1, 2, 3, 1, 2, 3]
    with pytest.raises(ValueError, match="labels must lie"):
        model.sample(2, torch.tensor([0, 10]))


def test_mnist_missing_files_error_shows_tree_and_command(tmp_path):
    dm = MNISTDataModule(root=str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError) as err:
        dm.setup()
    assert "MNIST/raw" in str(err.value) and "ganlit download mnist" in str(err.value)


def test_mnist_reads_real_idx_files(tmp_path):
    dm = MNISTDataModule(root=str(write_mnist_tree(tmp_path)), batch_size=4, num_workers=0)
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (4, 1, 32, 32) and batch["image"].min() >= -1 and batch["label"].dtype == torch.long


@pytest.mark.parametrize("recipe", ["gan_mnist.yaml", "cgan_mnist.yaml"])
def test_mnist_recipes_fast_dev_run(recipe, tmp_path):
    root = write_mnist_tree(tmp_path / "mnist")
    assert run_recipe(recipe, tmp_path, "--data.root", str(root), "--data.num_workers", "0",
                      "--data.batch_size", "4", "--trainer.logger", "false") == 0


def test_cli_links_data_facts_into_the_model(tmp_path):
    from ganlit.cli import GanlitCLI

    cli = GanlitCLI(args=["--model", "ganlit.models.CGAN", "--model.ngf", "8", "--model.ndf", "8",
                          "--data", "ganlit.data.DigitsDataModule", "--data.image_size", "16",
                          "--trainer.logger", "false"], run=False)
    assert cli.model.image_size == 16 and cli.model.num_classes == 10 and cli.model.channels == 1
    assert cli.model.generator.net[-2].out_channels == 1


def test_recipe_typo_fails_at_parse_time_naming_the_key(tmp_path, capsys):
    assert run_recipe("quickstart.yaml", tmp_path, "--model.init_args.ngff", "8") == 2
    assert capsys.readouterr().err.strip() == (
        "ganlit fit: error: unknown key model.init_args.ngff: ganlit.models.CGAN takes no argument 'ngff' "
        "(did you mean ngf?)")


def test_a_recipe_without_a_seed_is_seeded_with_0_quietly(tmp_path):
    """Lightning's own default seeds 0 with a "No seed found" warning; ganlit seeds 0 and says nothing."""
    recipe = tmp_path / "no_seed.yaml"
    recipe.write_text("model:\n  class_path: ganlit.models.CGAN\n  init_args: {ngf: 8, ndf: 8}\n"
                      "data:\n  class_path: ganlit.data.DigitsDataModule\n  init_args: {image_size: 16}\n")
    torch.manual_seed(123)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["fit", "--config", str(recipe), "--trainer.fast_dev_run=true", "--trainer.logger=false",
                     f"--trainer.default_root_dir={tmp_path}"]) == 0
    assert not [str(w.message) for w in caught if "No seed found" in str(w.message)]
    assert torch.initial_seed() == 0


@pytest.mark.parametrize(("typed", "hint"), [
    ("sampel", " (did you mean sample?)"),  # a misspelling: the closest command
    ("tr", " (did you mean translate?)"),  # a prefix of one command
    ("t", " (did you mean test or translate?)"),  # a prefix of several: all of them, none run
    ("xyz", ""),
])
def test_unknown_command_suggests_but_never_runs_a_guess(capsys, typed, hint):
    from ganlit.cli import main

    assert main([typed]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"ganlit: error: unknown command {typed!r}{hint}; the commands are fit, validate,"), err


def test_quickstart_runs_get_a_folder_each(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ("--trainer.fast_dev_run=false", "--trainer.max_epochs=1", "--trainer.limit_train_batches=2")
    assert run_recipe("quickstart.yaml", tmp_path, *args) == 0
    first = tmp_path / "version_0"
    assert (first / "checkpoints/last.ckpt").exists() and (first / "config.yaml").exists()
    assert list((first / "samples").glob("*.png"))
    before = {p: p.stat().st_mtime_ns for p in first.rglob("*")}
    # A second run in the same folder gets its own folder and leaves the first one's files alone.
    assert run_recipe("quickstart.yaml", tmp_path, *args) == 0
    second = tmp_path / "version_1"
    assert (second / "checkpoints/last.ckpt").exists() and (second / "config.yaml").exists()
    assert list((second / "samples").glob("*.png"))
    assert {p: p.stat().st_mtime_ns for p in first.rglob("*")} == before
    assert (tmp_path / "latest").resolve() == second.resolve()


def _fit_briefly(model, tmp_path, task="generate"):
    import lightning as L

    dm = DigitsDataModule(task=task, image_size=16, batch_size=16)
    trainer = L.Trainer(max_epochs=1, limit_train_batches=3, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path, enable_checkpointing=False)
    trainer.fit(model, dm)
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    return path


def test_checkpoint_round_trip_gives_identical_samples(tmp_path):
    model = CGAN(image_size=16, ngf=8, ndf=8)
    path = _fit_briefly(model, tmp_path)
    restored = load_module(path)
    assert type(restored) is CGAN and int(restored.iteration) == 3
    a, _ = model.eval().sample(8, seed=5)
    b, _ = restored.sample(8, seed=5)
    assert torch.allclose(a, b)


def test_sample_command_names_files_by_class(tmp_path):
    path = _fit_briefly(CGAN(image_size=16, ngf=8, ndf=8), tmp_path)
    out = tmp_path / "generated"
    assert main(["sample", "--ckpt", str(path), "--num", "12", "--output", str(out), "--seed", "1"]) == 0
    names = sorted(p.name for p in out.glob("*.png"))
    assert len(names) == 12 and "0_0.png" in names and "9_0.png" in names and "0_1.png" in names
    # An output folder that holds files is never overwritten without --overwrite.
    assert main(["sample", "--ckpt", str(path), "--num", "2", "--output", str(out)]) == 2
    assert main(["sample", "--ckpt", str(path), "--num", "2", "--output", str(out), "--overwrite"]) == 0


def test_sample_command_unconditional_names(tmp_path):
    path = _fit_briefly(GAN(image_size=16, ngf=8, ndf=8), tmp_path)
    out = tmp_path / "s"
    assert main(["sample", "--ckpt", str(path), "--num", "3", "--output", str(out)]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["0.png", "1.png", "2.png"]
