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


def test_mnist_5k_the_offline_default(tmp_path):
    raw = load_source("mnist-5k", str(tmp_path))
    assert raw.x_train.shape == (5000, 1, 28, 28) and raw.x_test is None
    assert raw.x_train.dtype == np.uint8  # kept as the CSV's bytes
    assert unit_array(raw.x_train).min() == 0.0 and unit_array(raw.x_train).max() == 1.0
    np.testing.assert_array_equal(np.unique(raw.y_train), np.arange(10))


def test_mnist_5k_is_parsed_once_then_read_from_the_data_directory(tmp_path):
    first = load_source("mnist-5k", str(tmp_path))
    (parsed,) = (tmp_path / "mnist-5k").glob("mnist_5k-*.npz")
    blank = np.zeros_like(first.x_train.reshape(5000, -1))
    np.savez(parsed, pixels=blank, labels=first.y_train)
    assert load_source("mnist-5k", str(tmp_path)).x_train.max() == 0  # the saved arrays
    parsed.write_bytes(b"")  # a damaged file is parsed anew and replaced
    again = load_source("mnist-5k", str(tmp_path))
    np.testing.assert_array_equal(first.x_train, again.x_train)
    np.testing.assert_array_equal(first.y_train, again.y_train)
    assert parsed.stat().st_size > 0


def test_mnist_5k_loads_where_the_data_directory_cannot_be_written(tmp_path):
    (tmp_path / "a-file").write_text("")
    raw = load_source("mnist-5k", str(tmp_path / "a-file" / "data"))
    assert raw.x_train.shape == (5000, 1, 28, 28)


def test_digits():
    raw = load_source("digits")
    assert raw.x_train.shape == (1797, 1, 8, 8)
    assert raw.x_train.min() == 0.0 and raw.x_train.max() == 1.0
    np.testing.assert_array_equal(np.unique(raw.y_train), np.arange(10))


def test_every_named_set_has_a_description():
    assert {"mnist-5k", "digits", "mnist", "fashion-mnist", "kmnist"} <= set(NAMED)
    assert all(description for description, _ in NAMED.values())
