"""Translation sample grids name their rows (CycleGAN, DiscoGAN, PairedCycleGAN) or columns (pix2pix, PAN,
StarGAN: the input, then one column per attribute)."""

import torch
import torchvision.utils as vutils

from ganlit.grids import labelled_grid
from ganlit.models import CycleGAN, Pix2Pix, StarGAN


def test_rows_are_named_in_a_left_margin_and_the_images_are_untouched():
    torch.manual_seed(0)
    images = torch.rand(12, 3, 16, 16)
    plain = vutils.make_grid(images, nrow=2, padding=2)  # 6 rows of 2: 6 * 18 + 2 = 110 high, 2 * 18 + 2 = 38 wide
    grid = labelled_grid(images, 2, rows=CycleGAN.sample_rows)
    margin = grid.size(2) - 38
    assert grid.shape[:2] == (3, 110) and margin > 10
    assert (grid[:, :, margin:] - plain).abs().max() <= 1 / 255  # only rounded to 8 bits
    assert grid[:, :, :margin].min() < 0.05 and grid[:, :, :margin].max() == 1.0  # dark text on white


def test_columns_are_named_in_a_top_margin():
    images = torch.rand(6, 1, 32, 32)
    grid = labelled_grid(images, 3, columns=Pix2Pix.sample_columns)
    assert grid.shape == (3, 14 + 2 * 34 + 2, 3 * 34 + 2)


def test_labels_that_do_not_fit_the_grid_are_left_out():
    images = torch.rand(4, 3, 8, 8)
    assert torch.equal(labelled_grid(images, 2, rows=("only one",)), vutils.make_grid(images, nrow=2, padding=2))


def test_stargan_columns_name_the_attributes_each_cut_to_its_cell():
    names = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]
    model = StarGAN(image_size=32, num_attrs=5, attr_names=names, conv_dim=4, repeat_num=1, d_repeat_num=2)
    assert model.sample_columns == ("input", *names)
    images = torch.zeros(2 * 6, 3, 32, 32)  # black tiles: only the labels are dark in the white top margin
    grid = labelled_grid(images, 6, columns=model.sample_columns)
    assert grid.shape == (3, 14 + 2 * 34 + 2, 6 * 34 + 2)
    margin = grid[:, :14].min(0).values < 0.5  # [14, W]: where label text is
    for j in range(6):  # each label starts in its cell and stops before the next cell's first pixel
        cell = margin[:, 2 + j * 34: 2 + (j + 1) * 34]
        assert cell.any(), j
        if j < 5:
            assert not margin[:, 2 + (j + 1) * 34].any(), j
