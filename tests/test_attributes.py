"""Attribute labels (ganlit.attributes): the official StarGAN test label sets (``create_labels``) and target vectors
given by value or by name."""

import pytest
import torch

from ganlit.attributes import official_test_labels, target_vector

ATTRS5 = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]


def test_official_test_labels_hand_case():
    c_org = torch.tensor([[1.0, 0, 0, 0, 1],   # Black_Hair, female, young
                          [0.0, 0, 1, 1, 0]])  # Brown_Hair, male, old
    sets = official_test_labels(c_org, ATTRS5)
    expected = [
        [[1, 0, 0, 0, 1], [1, 0, 0, 1, 0]],  # Black_Hair: one hair colour on, the others off
        [[0, 1, 0, 0, 1], [0, 1, 0, 1, 0]],  # Blond_Hair
        [[0, 0, 1, 0, 1], [0, 0, 1, 1, 0]],  # Brown_Hair
        [[1, 0, 0, 1, 1], [0, 0, 1, 0, 0]],  # Male flipped
        [[1, 0, 0, 0, 0], [0, 0, 1, 1, 1]],  # Young flipped
    ]
    assert [s.tolist() for s in sets] == expected
    assert torch.equal(c_org, torch.tensor([[1.0, 0, 0, 0, 1], [0.0, 0, 1, 1, 0]]))  # input untouched


def test_official_test_labels_find_hair_colours_by_name():
    names = ["Male", "Gray_Hair", "Smiling", "Blond_Hair"]
    sets = official_test_labels(torch.tensor([[1.0, 1, 0, 0]]), names)
    assert [s[0].tolist() for s in sets] == [[0, 1, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 0, 0, 1]]


def test_official_test_labels_single_label_and_custom_group():
    sets = official_test_labels(torch.tensor([[0.0, 1, 0], [1.0, 0, 0]]), ["a", "b", "c"], single_label=True)
    assert [s.tolist() for s in sets] == [[[1, 0, 0]] * 2, [[0, 1, 0]] * 2, [[0, 0, 1]] * 2]
    sets = official_test_labels(torch.tensor([[1.0, 0, 0, 1]]), ["red", "green", "blue", "thick"],
                                exclusive=["red", "green", "blue"])
    assert [s[0].tolist() for s in sets] == [[1, 0, 0, 1], [0, 1, 0, 1], [0, 0, 1, 1], [1, 0, 0, 0]]
    with pytest.raises(ValueError, match=r"expected \[N, 4\]"):
        official_test_labels(torch.zeros(2, 3), ["red", "green", "blue", "thick"])


def test_target_vector_by_value_or_by_name():
    names = ["red", "thick", "inverted"]
    assert target_vector([1, 0, 1], names, 2).tolist() == [[1, 0, 1], [1, 0, 1]]  # one vector for every image
    c_org = torch.tensor([[0.0, 1, 0], [1.0, 0, 1]])
    assert target_vector({"inverted": 1}, names, 2, c_org).tolist() == [[0, 1, 1], [1, 0, 1]]  # the rest kept
    assert c_org.tolist() == [[0, 1, 0], [1, 0, 1]]  # not modified in place
    with pytest.raises(ValueError, match=r"no value for \['red', 'thick'\]"):
        target_vector({"inverted": 1}, names, 2)
    with pytest.raises(ValueError, match="unknown attribute"):
        target_vector({"blue": 1}, names, 2, c_org)
    with pytest.raises(ValueError, match=r"expected \[3\] or \[2, 3\]"):
        target_vector([1, 0], names, 2)
