"""The named data sets: the real MNIST files, and the two offline sets."""

from __future__ import annotations

import numpy as np
import pytest

from aekit.data.raw import unit_array
from aekit.data.sources import NAMED, load_source


@pytest.mark.parametrize(
    ("name", "first_label", "mean_pixel"),
    [("mnist", 5, 0.130660), ("fashion-mnist", 9, 0.286041)],
)
def test_real_idx_sets(mnist_dir, name, first_label, mean_pixel):
    raw = load_source(name, str(mnist_dir))
    assert raw.x_train.shape == (60000, 1, 28, 28) and raw.x_test.shape == (10000, 1, 28, 28)
    assert raw.x_train.dtype == np.uint8 and raw.y_train.dtype == np.int64  # kept as bytes
    for x in (raw.x_train, raw.x_test):
        assert unit_array(x).min() == 0.0 and unit_array(x).max() == 1.0
    for y in (raw.y_train, raw.y_test):
        np.testing.assert_array_equal(np.unique(y), np.arange(10))
    assert raw.y_train[0] == first_label
    assert unit_array(raw.x_train).mean(dtype=np.float64) == pytest.approx(mean_pixel, abs=1e-5)


def test_mnist_5k_the_offline_default():
    raw = load_source("mnist-5k")
    assert raw.x_train.shape == (5000, 1, 28, 28) and raw.x_test is None
    assert raw.x_train.dtype == np.float32
    assert raw.x_train.min() == 0.0 and raw.x_train.max() == 1.0
    np.testing.assert_array_equal(np.unique(raw.y_train), np.arange(10))


def test_digits():
    raw = load_source("digits")
    assert raw.x_train.shape == (1797, 1, 8, 8)
    assert raw.x_train.min() == 0.0 and raw.x_train.max() == 1.0
    np.testing.assert_array_equal(np.unique(raw.y_train), np.arange(10))


def test_every_named_set_has_a_description():
    assert {"mnist-5k", "digits", "mnist", "fashion-mnist", "kmnist"} <= set(NAMED)
    assert all(description for description, _ in NAMED.values())
