"""Train / validation / test splits: deterministic, official test sets kept, binarization."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aekit.config import DataConfig
from aekit.data.raw import RawData
from aekit.data.splits import split_raw
from aekit.errors import AekitError


def raw_data(n: int = 100, n_test: int | None = None, labels: bool = True) -> RawData:
    """Examples whose first value is their index, so splits can be traced back."""
    x = np.random.default_rng(0).random((n, 1, 2, 2), dtype=np.float32)
    x[:, 0, 0, 0] = np.arange(n) / n
    y = np.arange(n) % 7 if labels else None
    if n_test is None:
        return RawData("toy", x, y)
    x_test = np.random.default_rng(1).random((n_test, 1, 2, 2), dtype=np.float32)
    return RawData("toy", x, y, x_test, np.arange(n_test) % 3 if labels else None)


def example_ids(x: torch.Tensor) -> np.ndarray:
    """Which raw example each row is (``raw_data`` stores index / 100 in its first value)."""
    return np.rint(x[:, 0, 0, 0].numpy() * 100).astype(int)


def ids(x: torch.Tensor) -> set[int]:
    return set(example_ids(x).tolist())


def test_same_seed_same_split_and_a_new_seed_another():
    first = split_raw(raw_data(), DataConfig(split_seed=3))
    again = split_raw(raw_data(), DataConfig(split_seed=3))
    other = split_raw(raw_data(), DataConfig(split_seed=4))
    for a, b in ((first.train, again.train), (first.val, again.val), (first.test, again.test)):
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(first.train.x, other.train.x)


def test_without_a_test_split_the_three_parts_partition_the_data():
    bundle = split_raw(raw_data(), DataConfig(val_fraction=0.2, test_fraction=0.1))
    train, val, test = ids(bundle.train.x), ids(bundle.val.x), ids(bundle.test.x)
    assert (len(train), len(val), len(test)) == (72, 18, 10)
    assert train | val | test == set(range(100))
    assert not (train & val or train & test or val & test)
    # Labels travel with their examples.
    for split in (bundle.train, bundle.val, bundle.test):
        assert split.y.dtype == torch.int64
        np.testing.assert_array_equal(split.y.numpy(), example_ids(split.x) % 7)
    assert bundle.num_classes == 7 and bundle.shape == (1, 2, 2)


def test_an_official_test_split_is_kept_as_is():
    raw = raw_data(n_test=30)
    for seed in (0, 1):
        bundle = split_raw(raw, DataConfig(split_seed=seed, val_fraction=0.1))
        np.testing.assert_array_equal(bundle.test.x.numpy(), raw.x_test)
        np.testing.assert_array_equal(bundle.test.y.numpy(), raw.y_test)
        assert len(bundle.train) + len(bundle.val) == 100 and len(bundle.val) == 10


def test_validation_on_the_test_set():
    raw = raw_data(n_test=30)
    bundle = split_raw(raw, DataConfig(validation="test"))
    assert bundle.val is bundle.test
    assert len(bundle.train) == 100  # nothing held out of train
    np.testing.assert_array_equal(bundle.val.x.numpy(), raw.x_test)


def test_limit_only_shrinks_train_and_unlabelled_data_has_no_classes():
    bundle = split_raw(raw_data(labels=False), DataConfig(limit=5))
    assert len(bundle.train) == 5 and len(bundle.val) == 9 and len(bundle.test) == 10
    assert bundle.train.y is None and bundle.num_classes is None


def test_empty_splits_say_which():
    with pytest.raises(AekitError, match="the validation split would be empty"):
        split_raw(raw_data(), DataConfig(val_fraction=0.0))
    with pytest.raises(AekitError, match="the validation and test split would be empty"):
        split_raw(raw_data(n=3), DataConfig())


def test_static_binarization_thresholds_every_split_at_one_half():
    raw = raw_data(n_test=30)
    raw.x_train[:, 0, 0, 1] = 0.5
    bundle = split_raw(raw, DataConfig(binarize="static"))
    for split in (bundle.train, bundle.val, bundle.test):
        assert set(split.x.unique().tolist()) <= {0.0, 1.0}
    assert (bundle.train.x[:, 0, 0, 1] == 1).all()  # 0.5 counts as on
    np.testing.assert_array_equal(bundle.test.x.numpy(), (raw.x_test >= 0.5).astype(np.float32))


def test_dynamic_binarization_fixes_evaluation_splits_and_leaves_train_to_the_trainer():
    raw = raw_data(n_test=30)
    first = split_raw(raw, DataConfig(binarize="dynamic"))
    again = split_raw(raw, DataConfig(binarize="dynamic"))
    assert len(first.train.x.unique()) > 2  # resampled per batch by the trainer
    for split in (first.val, first.test):
        assert set(split.x.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(first.test.x, again.test.x) and torch.equal(first.val.x, again.val.x)
