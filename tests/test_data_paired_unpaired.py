"""Paired (pix2pix), unpaired (CycleGAN/DiscoGAN) and image-folder data modules on tiny real-format trees."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures_data import write_paired_tree, write_unpaired_tree
from PIL import Image

from ganlit.data.folder import ImageFolderDataModule
from ganlit.data.io import BadImageError, DatasetNotFoundError
from ganlit.data.paired import PairedImageDataModule
from ganlit.data.unpaired import UnpairedImageDataModule

SMALL = dict(batch_size=2, num_workers=0, image_size=16, load_size=20)


def paired(root: Path, **kwargs) -> PairedImageDataModule:
    dm = PairedImageDataModule(str(root), **{**SMALL, **kwargs})
    dm.setup()
    return dm


def unpaired(root: Path, **kwargs) -> UnpairedImageDataModule:
    dm = UnpairedImageDataModule(str(root), **{**SMALL, **kwargs})
    dm.setup()
    return dm


# --- paired ------------------------------------------------------------------------------------------


def test_paired_batch_shapes_ranges_and_paths(tmp_path):
    root = write_paired_tree(tmp_path / "facades", n=4, size=32)
    dm = paired(root)
    batch = next(iter(dm.train_dataloader()))
    assert batch["A"].shape == batch["B"].shape == (2, 3, 16, 16)
    assert batch["A"].dtype == torch.float32
    assert batch["A"].min() >= -1 and batch["B"].max() <= 1
    assert all(Path(p).parent.name == "train" for p in batch["A_path"])
    val = next(iter(dm.val_dataloader()))
    assert val["A"].shape == (2, 3, 16, 16)
    assert [Path(p).name for p in val["A_path"]] == ["1.jpg", "2.jpg"]  # sorted, not shuffled


def test_paired_unnormalized_range_is_0_1(tmp_path):
    root = write_paired_tree(tmp_path / "facades", n=2, size=32)
    item = paired(root, normalize=False).train_set[0]
    assert item["A"].min() >= 0 and item["A"].max() <= 1
    assert item["B"].min() > 0.5  # the bright half stays bright: no [-1, 1] shift


def test_paired_direction_swaps_halves(tmp_path):
    # The fixture's A half is dark noise (< 100), B bright (>= 156): in [-1, 1], A < 0 and B > 0.
    root = write_paired_tree(tmp_path / "facades", n=2, size=32)
    a2b = paired(root, direction="AtoB").val_set[0]
    b2a = paired(root, direction="BtoA").val_set[0]
    assert a2b["A"].mean() < -0.3 and a2b["B"].mean() > 0.3
    assert torch.equal(b2a["A"], a2b["B"]) and torch.equal(b2a["B"], a2b["A"])
    assert b2a["A_path"] == a2b["A_path"]


def test_paired_halves_get_the_same_crop_and_flip(tmp_path):
    root = write_paired_tree(tmp_path / "facades", n=2, size=32, ext="png", same_halves=True)
    dataset = paired(root).train_set
    torch.manual_seed(0)
    outputs = [dataset[0] for _ in range(12)]
    for item in outputs:
        assert torch.equal(item["A"], item["B"])
    distinct = {item["A"].numpy().tobytes() for item in outputs}
    assert len(distinct) > 3  # crops and flips really are random


def test_paired_eval_is_resize_only_and_deterministic(tmp_path):
    root = write_paired_tree(tmp_path / "facades", n=2, size=32, ext="png")
    dm = paired(root)
    first, second = dm.val_set[1], dm.val_set[1]
    assert torch.equal(first["A"], second["A"])
    # Resize of the full left half (no crop, no flip): the mean colour is the source's mean colour.
    source = np.asarray(Image.open(root / "val" / "2.png"))[:, :32].astype(np.float32)
    expected = torch.tensor(source.mean(axis=(0, 1)) / 127.5 - 1)
    assert torch.allclose(first["A"].mean(dim=(1, 2)), expected, atol=0.02)


def test_paired_missing_test_split_uses_val(tmp_path):
    root = write_paired_tree(tmp_path / "edges2shoes", n=3, size=32, splits=("train", "val"))
    dm = paired(root)
    assert [p.parent.name for p in dm.test_set.files] == ["val"] * 3


def test_paired_missing_root_names_tree_and_download_command(tmp_path):
    root = tmp_path / "facades"
    with pytest.raises(DatasetNotFoundError) as info:
        paired(root)
    message = str(info.value)
    assert f"ganlit download facades --root {root}" in message
    assert f"{root}/\n" in message and "train/*.jpg" in message


def test_paired_missing_train_folder_is_named(tmp_path):
    root = write_paired_tree(tmp_path / "mine", n=2, size=32, splits=("val",))
    with pytest.raises(FileNotFoundError, match="train") as info:
        paired(root)
    assert "ganlit download <name>" in str(info.value) and "edges2shoes" in str(info.value)


def test_paired_odd_width_names_the_file(tmp_path):
    root = write_paired_tree(tmp_path / "facades", n=2, size=32)
    Image.fromarray(np.zeros((32, 63, 3), np.uint8)).save(root / "train" / "1.jpg")
    dm = paired(root)
    with pytest.raises(BadImageError, match=r"1\.jpg.*width 63 is odd"):
        dm.train_set[0]


def test_paired_truncated_image_raises_or_is_skipped_and_counted(tmp_path):
    root = write_paired_tree(tmp_path / "facades", n=3, size=32)
    bad = root / "train" / "2.jpg"
    bad.write_bytes(bad.read_bytes()[:200])  # a truncated JPEG
    with pytest.raises(BadImageError, match=str(bad)):
        paired(root).train_set[1]
    dataset = paired(root, skip_bad_images=True).train_set
    with pytest.warns(UserWarning, match="2.jpg"):
        item = dataset[1]
    assert item["A_path"].endswith("3.jpg")  # replaced by the next item
    assert dataset.bad_files == [str(bad)]


def test_garbage_file_names_the_file(tmp_path):
    root = write_paired_tree(tmp_path / "facades", n=2, size=32)
    (root / "train" / "1.jpg").write_bytes(b"not an image at all")
    with pytest.raises(BadImageError, match=r"1\.jpg.*UnidentifiedImageError"):
        paired(root).train_set[0]


def test_download_true_needs_a_known_name(tmp_path):
    dm = PairedImageDataModule(str(tmp_path / "mine"), download=True)
    with pytest.raises(ValueError, match="dataset=<name>"):
        dm.prepare_data()


def test_load_size_smaller_than_image_size_is_refused(tmp_path):
    with pytest.raises(ValueError, match="load_size"):
        PairedImageDataModule(str(tmp_path), image_size=256, load_size=128)


def test_workers_are_reseeded(tmp_path):
    # All files identical: two workers starting from the same augmentation state would crop alike.
    root = write_paired_tree(tmp_path / "facades", n=4, size=32, ext="png")
    for i in (2, 3, 4):
        shutil.copy(root / "train" / "1.png", root / "train" / f"{i}.png")
    dm = paired(root, batch_size=1, num_workers=2)
    loader = dm.train_dataloader()
    crops = [batch["A"][0] for batch in loader]
    worker0, worker1 = crops[0::2], crops[1::2]  # batches alternate between the two workers
    assert not all(torch.equal(a, b) for a, b in zip(worker0, worker1))


def test_same_seed_same_augmentations(tmp_path):
    root = write_paired_tree(tmp_path / "facades", n=2, size=32)
    dataset = paired(root).train_set
    torch.manual_seed(3)
    first = [dataset[0]["A"] for _ in range(4)]
    dataset._seeded_with = None
    torch.manual_seed(3)
    second = [dataset[0]["A"] for _ in range(4)]
    assert all(torch.equal(a, b) for a, b in zip(first, second))


# --- unpaired ----------------------------------------------------------------------------------------


def test_unpaired_length_is_larger_domain_and_a_is_by_index(tmp_path):
    root = write_unpaired_tree(tmp_path / "horse2zebra", n_a=3, n_b=5, size=32)
    dm = unpaired(root)
    assert len(dm.train_set) == 5
    names = [Path(dm.train_set[i]["A_path"]).name for i in range(5)]
    assert names == ["a_000.jpg", "a_001.jpg", "a_002.jpg", "a_000.jpg", "a_001.jpg"]
    batch = next(iter(dm.train_dataloader()))
    assert batch["A"].shape == batch["B"].shape == (2, 3, 16, 16)
    assert batch["A"].mean() < 0 < batch["B"].mean()


def test_unpaired_b_is_random_unless_serial(tmp_path):
    root = write_unpaired_tree(tmp_path / "horse2zebra", n_a=3, n_b=5, size=32)
    torch.manual_seed(0)
    dataset = unpaired(root).train_set
    random_b = {Path(dataset[0]["B_path"]).name for _ in range(20)}
    assert len(random_b) > 1
    serial = unpaired(root, serial_batches=True).train_set
    for _ in range(2):  # the same B every time
        assert [Path(serial[i]["B_path"]).name for i in range(5)] == [f"b_{i:03d}.jpg" for i in range(5)]


def test_unpaired_eval_pairs_are_deterministic(tmp_path):
    root = write_unpaired_tree(tmp_path / "horse2zebra", n_a=3, n_b=5, size=32)
    dm = unpaired(root)
    for dataset in (dm.val_set, dm.test_set):
        assert len(dataset) == 5
        pairs = [(Path(dataset[i]["A_path"]).name, Path(dataset[i]["B_path"]).name) for i in range(5)]
        assert pairs == [(f"a_{i % 3:03d}.jpg", f"b_{i:03d}.jpg") for i in range(5)]
        assert Path(dataset[0]["A_path"]).parent.name == "testA"


def test_unpaired_domains_get_independent_augmentations(tmp_path):
    root = write_unpaired_tree(tmp_path / "x", n_a=1, n_b=1, size=32, ext="png")
    shutil.copy(root / "trainA" / "a_000.png", root / "trainB" / "b_000.png")
    dataset = unpaired(root).train_set
    torch.manual_seed(0)
    items = [dataset[0] for _ in range(8)]
    assert not all(torch.equal(item["A"], item["B"]) for item in items)


def test_unpaired_empty_domain_folder_is_named(tmp_path):
    root = write_unpaired_tree(tmp_path / "horse2zebra", n_a=2, n_b=2, size=32)
    for f in (root / "trainB").iterdir():
        f.unlink()
    with pytest.raises(DatasetNotFoundError, match=f"images in {root / 'trainB'}"):
        unpaired(root)


def test_unpaired_missing_data_shows_download_command(tmp_path):
    root = tmp_path / "horse2zebra"
    with pytest.raises(DatasetNotFoundError, match=f"ganlit download horse2zebra --root {root}"):
        unpaired(root)
    with pytest.raises(DatasetNotFoundError, match="ganlit download cyclegan/facades"):
        unpaired(tmp_path / "facades")  # the unpaired module asks for the CycleGAN copy of facades


def test_discogan_paired_split_takes_halves_of_the_training_files(tmp_path):
    root = write_paired_tree(tmp_path / "edges2shoes", n=4, size=32, splits=("train", "val"))
    dm = unpaired(root, paired_split=True, normalize=False, flip=False, load_size=16)
    train = dm.train_set
    assert len(train) == 2
    assert {Path(s[0]).name for s in train.sources_a} == {"1.jpg", "2.jpg"}
    assert {Path(s[0]).name for s in train.sources_b} == {"3.jpg", "4.jpg"}
    item = train[0]
    assert item["A"].mean() < 0.4 < item["B"].mean()  # A from the dark left halves, B from the bright right
    val = dm.val_set[1]
    assert val["A_path"] == val["B_path"] and Path(val["A_path"]).parent.name == "val"


def test_discogan_paired_split_needs_two_files(tmp_path):
    root = write_paired_tree(tmp_path / "edges2shoes", n=1, size=32, splits=("train", "val"))
    with pytest.raises(ValueError, match="at least 2"):
        unpaired(root, paired_split=True)


# --- image folder ------------------------------------------------------------------------------------


def test_image_folder_sorted_skips_non_images_with_warning(tmp_path):
    root = write_unpaired_tree(tmp_path / "x", n_a=3, n_b=1, size=24) / "trainA"
    (root / "notes.txt").write_text("not an image")
    dm = ImageFolderDataModule(str(root), batch_size=8, num_workers=0, image_size=16)
    with pytest.warns(UserWarning, match="notes.txt"):
        dm.setup("predict")
    batch = next(iter(dm.predict_dataloader()))
    assert batch["image"].shape == (3, 3, 16, 16)
    assert [Path(p).name for p in batch["path"]] == ["a_000.jpg", "a_001.jpg", "a_002.jpg"]


def test_image_folder_single_file_without_resize(tmp_path):
    path = tmp_path / "one.png"
    Image.fromarray(np.full((20, 28, 3), 255, np.uint8)).save(path)
    dm = ImageFolderDataModule(str(path), batch_size=1, num_workers=0, resize=False)
    dm.setup("predict")
    item = dm.predict_set[0]
    assert item["image"].shape == (3, 20, 28) and torch.allclose(item["image"], torch.ones(3, 20, 28))
    with pytest.raises(DatasetNotFoundError, match="missing"):
        ImageFolderDataModule(str(tmp_path / "absent")).setup("predict")
