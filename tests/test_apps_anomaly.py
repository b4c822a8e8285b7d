"""Anomaly detection: it separates classes, thresholds follow their rule, signs are as stated."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from aekit import AutoencoderAnomalyDetector
from aekit.apps.anomaly import ThresholdRule, parse_threshold
from aekit.data.sources import load_source
from aekit.errors import AekitError

FAST = {"latent_dim": 8, "hidden": (64,), "epochs": 30, "batch_size": 32, "scale": None}


@pytest.fixture(scope="module")
def ones_and_zeros():
    """Digit 1s to train on; held-out 1s and 0s to score (bundled MNIST-5k, flattened)."""
    raw = load_source("mnist-5k")
    order = np.random.default_rng(0).permutation(len(raw.x_train))
    x, y = raw.x_train.reshape(len(order), -1)[order], raw.y_train[order]
    train = x[:3000][y[:3000] == 1]
    held_x, held_y = x[3000:], y[3000:]
    keep = (held_y == 0) | (held_y == 1)
    return train, held_x[keep], held_y[keep]


@pytest.fixture(scope="module")
def detector(ones_and_zeros):
    return AutoencoderAnomalyDetector(**FAST).fit(ones_and_zeros[0])


def test_an_obviously_different_class_scores_as_abnormal(detector, ones_and_zeros):
    _, x, y = ones_and_zeros
    normal = y == 1
    assert roc_auc_score(normal, detector.score_samples(x)) > 0.9
    flagged = detector.predict(x) == -1
    assert flagged[~normal].mean() > 0.8  # most 0s are outliers ...
    assert flagged[normal].mean() < 0.3  # ... and most unseen 1s are not


def test_contamination_is_the_fraction_flagged_on_the_training_data(detector, ones_and_zeros):
    train = ones_and_zeros[0]
    assert (detector.predict(train) == -1).mean() == pytest.approx(0.1, abs=0.01)


def test_sign_conventions(detector, ones_and_zeros):
    x = ones_and_zeros[1]
    anomaly = detector.anomaly_score(x)
    np.testing.assert_allclose(detector.score_samples(x), -anomaly)
    np.testing.assert_allclose(detector.decision_function(x), -anomaly - detector.offset_)
    assert detector.threshold_ == -detector.offset_
    np.testing.assert_array_equal(detector.predict(x) == -1, anomaly > detector.threshold_)


def test_threshold_rules():
    scores = np.arange(1, 101, dtype=float)  # 1..100
    assert ThresholdRule("contamination", 0.05).threshold(scores) == pytest.approx(95.05)
    assert parse_threshold("percentile:90").threshold(scores) == pytest.approx(90.1)
    assert parse_threshold("std:2").threshold(scores) == pytest.approx(50.5 + 2 * scores.std())
    assert parse_threshold("max").threshold(scores) == 100.0
    assert str(parse_threshold("std:3")) == "std:3"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("median", "bad threshold rule 'median'; use one of: contamination"),
        ("percentile:101", "between 0 and 100"),
        ("std:x", "'x' is not a number"),
        ("contamination:0.9", r"must be in \(0, 0.5\]"),
    ],
)
def test_bad_threshold_rules_say_what_is_valid(spec, message):
    with pytest.raises(AekitError, match=message):
        parse_threshold(spec)


def test_each_rule_sets_the_detector_threshold(ones_and_zeros):
    train = ones_and_zeros[0][:100]
    small = {**FAST, "epochs": 2}
    by_max = AutoencoderAnomalyDetector(threshold="max", **small).fit(train)
    assert (by_max.predict(train) == 1).all()
    by_percentile = AutoencoderAnomalyDetector(threshold="percentile:80", **small).fit(train)
    assert (by_percentile.predict(train) == -1).mean() == pytest.approx(0.2, abs=0.01)
    by_std = AutoencoderAnomalyDetector(threshold="std:1", **small).fit(train)
    scores = by_std.anomaly_score(train)
    assert by_std.threshold_ == pytest.approx(scores.mean() + scores.std(), rel=1e-4)


def test_scoring_data_of_another_shape_says_so(detector):
    with pytest.raises(ValueError, match=r"X has 64 features, but .* is expecting 784"):
        detector.score_samples(np.zeros((3, 64)))
    images = AutoencoderAnomalyDetector(
        model="conv-ae", latent_dim=2, model_params={"channels": [2]}, epochs=1, scale=None
    ).fit(np.zeros((8, 1, 8, 8)))
    with pytest.raises(AekitError, match=r"examples shaped \(1, 4, 16\) .* shaped \(1, 8, 8\)"):
        images.predict(np.zeros((2, 1, 4, 16)))


def test_elbo_score_needs_a_vae(ones_and_zeros):
    train = ones_and_zeros[0][:64]
    with pytest.raises(AekitError, match="has no ELBO"):
        AutoencoderAnomalyDetector(measure="elbo", epochs=1).fit(train)
    vae = AutoencoderAnomalyDetector(model="vae", measure="elbo", epochs=1, scale=None).fit(train)
    assert np.isfinite(vae.score_samples(train)).all()
