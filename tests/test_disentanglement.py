"""dSprites drawn from its factors, and the disentanglement metrics on codes with a known
answer: the true factors score (near) 1, a random rotation of them much less."""

from __future__ import annotations

import numpy as np
import pytest

from aekit.data.dsprites import SIZES, load_dsprites, render, sample_factors
from aekit.evaluation.disentanglement import METRICS

ROTATION = np.linalg.qr(np.random.default_rng(0).normal(size=(5, 5)))[0]


def true_factors(factors: np.ndarray) -> np.ndarray:
    return factors / (np.array(SIZES) - 1.0)


def rotated(factors: np.ndarray) -> np.ndarray:
    return true_factors(factors) @ ROTATION


def with_noise_dimensions(factors: np.ndarray) -> np.ndarray:
    noise = np.random.default_rng(len(factors)).normal(size=(len(factors), 3))
    return np.concatenate([true_factors(factors), 0.3 * noise], 1)


SMALL = {
    "mig": {"n": 4000},
    "dci_disentanglement": {"n": 3000},
    "factor_vae_score": {"votes": 200},
    "beta_vae_score": {"votes": 200},
}
# the true factors' score: MIG is held below 1 by 20-bin discretisation of the 32- and
# 40-valued factors
EXPECTED = {
    "mig": 0.85,
    "factor_vae_score": 0.99,
    "dci_disentanglement": 0.95,
    "beta_vae_score": 0.99,
}


@pytest.mark.parametrize("name", sorted(METRICS))
def test_true_factors_score_high_and_a_rotation_of_them_low(name):
    metric = METRICS[name]
    score = metric(true_factors, SIZES, np.random.default_rng(1), **SMALL[name])
    mixed = metric(rotated, SIZES, np.random.default_rng(1), **SMALL[name])
    assert score >= EXPECTED[name]
    assert mixed < score - 0.1
    padded = metric(with_noise_dimensions, SIZES, np.random.default_rng(1), **SMALL[name])
    assert padded >= EXPECTED[name] - 0.1  # dimensions that encode nothing barely count


def test_sprites_are_binary_and_every_factor_changes_them():
    base = np.array([[1, 3, 7, 10, 20]])
    image = render(base)
    assert image.shape == (1, 1, 64, 64) and set(np.unique(image)) == {0.0, 1.0}
    for k, size in enumerate(SIZES):  # a quarter turn, not a half: an ellipse is symmetric
        other = base.copy()
        other[0, k] = (base[0, k] + max(1, size // 4)) % size
        assert not np.array_equal(render(other), image), k


def test_position_factors_move_the_sprite_and_scale_grows_it():
    def centre_and_area(factors):
        image = render(np.array([factors]))[0, 0]
        rows, cols = np.nonzero(image)
        return cols.mean(), rows.mean(), image.sum()

    left, right = centre_and_area([0, 5, 0, 0, 16]), centre_and_area([0, 5, 0, 31, 16])
    top, bottom = centre_and_area([0, 5, 0, 16, 0]), centre_and_area([0, 5, 0, 16, 31])
    assert right[0] - left[0] > 30 and bottom[1] - top[1] > 30
    assert centre_and_area([1, 5, 0, 16, 16])[2] > 3 * centre_and_area([1, 0, 0, 16, 16])[2] / 2


def test_the_named_data_set_is_the_same_every_time_and_labelled_by_shape():
    factors = sample_factors(5, np.random.default_rng(0))
    assert factors.shape == (5, 5) and (factors < np.array(SIZES)).all()
    raw = load_dsprites(None)
    assert raw.x_train.shape == (50_000, 1, 64, 64) and raw.x_test.shape == (10_000, 1, 64, 64)
    assert set(np.unique(raw.y_train)) == {0, 1, 2}
    again = render(sample_factors(50_000, np.random.default_rng(0))[:3])
    assert np.array_equal(raw.x_train[:3], again)
