"""Checks on the real MNIST files (slow: run with ``-m slow``)."""

from __future__ import annotations

import pytest

from aekit.config import DataConfig
from aekit.evaluation import classifier
from aekit.evaluation.report import classifier_data, fingerprint
from aekit.io import CACHE_ENV


@pytest.mark.slow
def test_default_feature_classifier_is_a_good_mnist_judge(mnist_dir, tmp_path, monkeypatch):
    """The judge behind --fid must itself recognise digits well, or its features mean little."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    data = classifier_data(DataConfig(dataset="mnist", data_dir=str(mnist_dir)))
    assert len(data.train) == 60_000 and len(data.test) == 10_000
    recipe = classifier.ClassifierRecipe(
        dataset="mnist",
        shape=data.shape,
        num_classes=10,
        train_examples=len(data.train),
        fingerprint=fingerprint(data.train),
    )
    judge = classifier.load_or_train(recipe, data.train)
    assert classifier.accuracy(judge, data.test) > 0.97
