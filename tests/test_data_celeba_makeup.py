"""CelebA / RaFD attribute data and MT makeup pairs on tiny trees in the real formats."""

from __future__ import annotations

import random
from pathlib import Path

import albumentations as A
import numpy as np
import pytest
import torch
from fixtures_data import (
    CELEBA_ATTRIBUTES,
    RAFD_EXPRESSIONS,
    celeba_partition,
    celeba_value,
    mt_label_map,
    write_celeba_tree,
    write_mt_tree,
    write_rafd_tree,
)
from PIL import Image

from ganlit.data.celeba import CELEBA_ATTRIBUTES as MODULE_ATTRIBUTES
from ganlit.data.celeba import CelebADataModule, RaFDDataModule, stargan_split
from ganlit.data.io import BadImageError, DatasetNotFoundError, read_label_map
from ganlit.data.makeup import MakeupDataModule, MakeupPairDataset, read_face_list, regions_from_labels
from ganlit.data.transforms import to_tensor

DEFAULT_ATTRS = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]

# --- CelebA ------------------------------------------------------------------------------------------


def celeba(root: Path, **kwargs) -> CelebADataModule:
    dm = CelebADataModule(str(root), **{"batch_size": 4, "num_workers": 0, "image_size": 16, **kwargs})
    dm.setup()
    return dm


def test_celeba_batches_and_labels_follow_the_file(tmp_path):
    root = write_celeba_tree(tmp_path / "celeba", n=12)
    dm = celeba(root, test_size=4)
    assert dm.attr_names == DEFAULT_ATTRS and dm.num_attrs == 5 and dm.single_label is False
    assert (len(dm.train_set), len(dm.test_set)) == (8, 4) and dm.val_set is not None
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (4, 3, 16, 16) and batch["label"].shape == (4, 5)
    assert batch["image"].min() >= -1 and batch["image"].max() <= 1
    columns = [CELEBA_ATTRIBUTES.index(a) for a in DEFAULT_ATTRS]
    for path, label in zip(batch["path"], batch["label"]):
        index = int(Path(path).stem) - 1
        expected = [1.0 if celeba_value(index, c) == 1 else 0.0 for c in columns]
        assert label.tolist() == expected


def test_celeba_parses_runs_of_spaces_by_hand(tmp_path):
    root = tmp_path / "celeba"
    (root / "img_align_celeba").mkdir(parents=True)
    values = {
        "000001.jpg": [-1] * 40,
        "000002.jpg": [1] * 40,
        "000003.jpg": [1 if i in (8, 20) else -1 for i in range(40)],  # Black_Hair and Male
    }
    lines = ["3", "  ".join(CELEBA_ATTRIBUTES) + " "]
    lines += [name + "".join(f"{v:3d}" for v in vals) for name, vals in values.items()]
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    dm = celeba(root, test_size=0, attrs=["Male", "Black_Hair", "Smiling"])
    labels = {Path(p).name: label.tolist() for p, label in dm.train_set.entries}
    assert labels == {"000001.jpg": [0, 0, 0], "000002.jpg": [1, 1, 1], "000003.jpg": [1, 1, 0]}


def test_stargan_split_matches_the_official_shuffle():
    lines = [f"{i:06d}.jpg" for i in range(1, 2101)]
    train, test = stargan_split(lines)
    official = list(lines)
    state = random.getstate()
    random.seed(1234)
    random.shuffle(official)
    random.setstate(state)
    assert (len(train), len(test)) == (101, 1999)  # the official (i + 1) < 2000 puts 1,999 lines in test
    assert test == official[:1999] and train == official[1999:]


def test_celeba_default_split_sizes_on_a_full_size_attribute_file(tmp_path):
    root = tmp_path / "celeba"
    (root / "img_align_celeba").mkdir(parents=True)
    lines = ["2005", " ".join(CELEBA_ATTRIBUTES)]
    lines += [f"{i:06d}.jpg" + "  1" * 40 for i in range(1, 2006)]
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    dm = celeba(root)
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (6, 1999, 1999)


def test_celeba_tiny_file_with_default_test_size_explains(tmp_path):
    root = write_celeba_tree(tmp_path / "celeba", n=12)
    with pytest.raises(ValueError, match="lower test_size"):
        celeba(root)


def test_celeba_official_partition(tmp_path):
    root = write_celeba_tree(tmp_path / "celeba", n=12)
    dm = celeba(root, split="official")
    sizes = [len(dm.train_set), len(dm.val_set), len(dm.test_set)]
    assert sizes == [sum(celeba_partition(i, 12) == s for i in range(12)) for s in range(3)] == [8, 2, 2]
    assert [Path(p).name for p, _ in dm.test_set.entries] == ["000011.jpg", "000012.jpg"]


def test_celeba_unknown_attribute_lists_the_40_names(tmp_path):
    assert list(MODULE_ATTRIBUTES) == CELEBA_ATTRIBUTES
    root = write_celeba_tree(tmp_path / "celeba", n=2)
    for where in (root, tmp_path / "absent"):
        with pytest.raises(ValueError, match="Blond_Hairr") as info:
            CelebADataModule(str(where), attrs=["Blond_Hairr"])
        assert all(name in str(info.value) for name in CELEBA_ATTRIBUTES)


def test_celeba_missing_data_and_bad_lines(tmp_path):
    root = tmp_path / "celeba"
    with pytest.raises(DatasetNotFoundError, match=f"ganlit download celeba --root {root}"):
        celeba(root)
    write_celeba_tree(root, n=3)
    attr_file = root / "list_attr_celeba.txt"
    text = attr_file.read_text().splitlines()
    attr_file.write_text("\n".join(text[:3] + [text[3][:-3]] + text[4:]) + "\n")  # one value short
    with pytest.raises(ValueError, match=r"list_attr_celeba.txt:4: expected a file name and 40 values"):
        celeba(root, test_size=0)
    (root / "list_eval_partition.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match="list_eval_partition.txt"):
        celeba(root, split="official")


def test_celeba_corrupt_image_names_file_and_can_be_skipped(tmp_path):
    root = write_celeba_tree(tmp_path / "celeba", n=3)
    (root / "img_align_celeba" / "000002.jpg").write_bytes(b"\xff\xd8\xff\xe0 broken")
    dm = celeba(root, test_size=0)
    index = next(i for i, (p, _) in enumerate(dm.train_set.entries) if p.name == "000002.jpg")
    with pytest.raises(BadImageError, match="000002.jpg"):
        dm.train_set[index]
    dm = celeba(root, test_size=0, skip_bad_images=True)
    with pytest.warns(UserWarning, match="000002.jpg"):
        assert not dm.train_set[index]["path"].endswith("000002.jpg")
    assert [Path(p).name for p in dm.train_set.bad_files] == ["000002.jpg"]


# --- RaFD --------------------------------------------------------------------------------------------


def test_rafd_one_hot_over_sorted_expression_folders(tmp_path):
    root = write_rafd_tree(tmp_path / "rafd", n_train=2, n_test=1, size=40)
    dm = RaFDDataModule(str(root), batch_size=4, num_workers=0, image_size=16, crop_size=32)
    assert dm.attr_names == sorted(RAFD_EXPRESSIONS) and dm.num_attrs == 8 and dm.single_label is True
    dm.setup()
    assert (len(dm.train_set), len(dm.test_set)) == (16, 8)
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (4, 3, 16, 16)
    assert torch.equal(batch["label"].sum(dim=1), torch.ones(4))
    for path, label in zip(batch["path"], batch["label"]):
        assert dm.attr_names[int(label.argmax())] == Path(path).parent.name


def test_rafd_missing_explains_how_to_get_it(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="rafd.socsci.ru.nl"):
        RaFDDataModule(str(tmp_path / "rafd")).setup()


# --- MT makeup ---------------------------------------------------------------------------------------


def test_regions_from_labels_by_hand():
    labels = np.zeros((8, 8), np.uint8)
    labels[1:7, 1:7] = 1  # face skin
    labels[2, 2] = 4  # one eye pixel
    labels[5, 3:5] = 7  # upper lip
    labels[6, 3:5] = 9  # lower lip
    labels[4, 5] = 6  # nose
    labels[7, 3] = 13  # neck
    labels[0, 0] = 10  # hair
    lips, skin, eyes = regions_from_labels(labels, eye_margin=1)
    assert lips.sum() == 4 and lips[5:7, 3:5].all()
    assert skin.sum() == (labels == 1).sum() + 2 and skin[4, 5] == 1 and skin[7, 3] == 1 and skin[0, 0] == 0
    expected_eyes = np.zeros((8, 8), bool)
    expected_eyes[1:4, 1:4] = True  # the 3x3 box around (2, 2) ...
    expected_eyes[2, 2] = False  # ... minus the eyeball itself (not face skin)
    assert np.array_equal(eyes.astype(bool), expected_eyes)
    assert regions_from_labels(labels).dtype == np.float32


def test_regions_eye_margin_scales_with_size():
    for size, margin in ((256, 10), (128, 5)):
        labels = np.ones((size, size), np.uint8)
        labels[size // 2, size // 2] = 5
        eyes = regions_from_labels(labels)[2]
        assert eyes.sum() == (2 * margin + 1) ** 2 - 1


def test_makeup_batch_keys_shapes_and_regions(tmp_path):
    root = write_mt_tree(tmp_path / "mt", n_makeup=3, n_plain=2, size=64)
    dm = MakeupDataModule(str(root), num_workers=0, image_size=32)
    dm.setup()
    assert len(dm.train_set) == 3 and len(dm.test_set) == 2
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"x", "y", "x_regions", "y_regions", "x_path", "y_path"}
    assert batch["x"].shape == batch["x_regions"].shape == (1, 3, 32, 32)
    assert set(torch.unique(batch["y_regions"]).tolist()) == {0.0, 1.0}
    assert "non-makeup" in batch["x_path"][0] and "/makeup/" in batch["y_path"][0]
    assert all(batch["x_regions"][0, c].sum() > 0 for c in range(3))
    test_item = dm.test_set[1]
    expected = regions_from_labels(mt_label_map(64, shift=1)[::2, ::2])  # nearest halving of the map
    assert torch.equal(test_item["x_regions"], torch.from_numpy(expected))


def test_makeup_masks_stay_aligned_under_crop_and_flip(tmp_path):
    # The fixture's red channel is 15 * label id: read the labels back from the augmented image.
    root = write_mt_tree(tmp_path / "mt", n_makeup=2, n_plain=2, size=64)
    faces = read_face_list(root / "makeup.txt", root, "makeup")
    pipeline = A.Compose([A.RandomCrop(40, 40), A.HorizontalFlip(p=0.5), *to_tensor(normalize=False)])
    dataset = MakeupPairDataset(faces, faces, pipeline, pipeline)
    torch.manual_seed(0)
    seen = set()
    for _ in range(6):
        item = dataset[0]
        labels = torch.round(item["x"][0] * 255 / 15).to(torch.uint8).numpy()
        assert torch.equal(item["x_regions"], torch.from_numpy(regions_from_labels(labels)))
        seen.add(item["x_regions"].numpy().tobytes())
    assert len(seen) > 1  # the crops really moved


def test_makeup_default_augmentation_keeps_lips_on_lip_colour(tmp_path):
    root = write_mt_tree(tmp_path / "mt", n_makeup=2, n_plain=2, size=64)
    dm = MakeupDataModule(str(root), num_workers=0, image_size=64, load_size=72, normalize=False)
    dm.setup("fit")
    torch.manual_seed(1)
    for _ in range(4):
        item = dm.train_set[0]
        red = item["y"][0] * 255
        lips = item["y_regions"][0].bool()
        assert abs(red[lips].mean().item() - 15 * 8) < 15  # lip ids 7 and 9 -> red 105..135


def test_makeup_missing_or_misfit_masks_name_the_file(tmp_path):
    root = write_mt_tree(tmp_path / "mt", n_makeup=2, n_plain=2, size=64)
    seg = root / "segs" / "makeup" / "vFG101.png"
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(seg)
    dm = MakeupDataModule(str(root), num_workers=0, image_size=32)
    dm.setup()
    with pytest.raises(BadImageError, match=r"vFG101.png: label map is 32x32 but vFG101.png is 64x64"):
        dm.test_set[1]
    seg.unlink()
    with pytest.raises(FileNotFoundError, match=str(seg)):
        MakeupDataModule(str(root)).setup()


def test_makeup_missing_data_says_where_it_comes_from(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        MakeupDataModule(str(tmp_path / "mt")).setup()
    message = str(info.value)
    assert "BeautyGAN" in message and "images/non-makeup" in message and "nomakeup_test.txt" in message


def test_label_map_must_be_single_channel(tmp_path):
    path = tmp_path / "seg.png"
    Image.fromarray(np.dstack([np.zeros((4, 4)), np.ones((4, 4)), np.zeros((4, 4))]).astype(np.uint8)).save(path)
    with pytest.raises(BadImageError, match="seg.png.*single-channel"):
        read_label_map(path)
