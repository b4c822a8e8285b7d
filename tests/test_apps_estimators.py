"""The scikit-learn estimators: scikit-learn's own checks, pipelines, clone, params, imports."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from aekit import AutoencoderAnomalyDetector, AutoencoderTransformer
from aekit.errors import AekitError

from .conftest import REPO

TINY = {"latent_dim": 2, "hidden": (8,), "epochs": 2}

FLOAT32_ORDER = (
    "float32 network: BLAS may sum a row differently depending on its place in the batch, so "
    "outputs sometimes differ by ~1e-8, beyond the check's rtol=1e-7, atol=1e-9"
)


def expected_failures(estimator) -> dict[str, str]:
    return {
        "check_methods_sample_order_invariance": FLOAT32_ORDER,
        "check_methods_subset_invariance": FLOAT32_ORDER,
    }


@parametrize_with_checks(
    [AutoencoderTransformer(**TINY), AutoencoderAnomalyDetector(**TINY)],
    expected_failed_checks=expected_failures,
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return x[:1000], y[:1000], x[1000:1400], y[1000:1400]


def test_transformer_replaces_pca_in_a_pipeline(digits):
    x_train, y_train, x_test, y_test = digits
    pipe = make_pipeline(
        AutoencoderTransformer(latent_dim=16, hidden=(64,), epochs=30, batch_size=32),
        LogisticRegression(max_iter=2000),
    )
    accuracy = pipe.fit(x_train, y_train).score(x_test, y_test)
    assert accuracy > 0.85


def test_inverse_transform_returns_data_in_the_original_scale(digits):
    x_train = digits[0]
    ae = AutoencoderTransformer(latent_dim=16, hidden=(64,), epochs=30, batch_size=32)
    codes = ae.fit(x_train).transform(x_train)
    assert codes.shape == (len(x_train), 16)
    back = ae.inverse_transform(codes)
    assert back.shape == x_train.shape
    assert back.max() > 10  # digits' pixels go up to 16: the [0, 1] scaling was undone
    mean_baseline = np.square(x_train - x_train.mean(0)).mean()
    assert np.square(back - x_train).mean() < 0.5 * mean_baseline


def test_clone_and_params_round_trip():
    ae = AutoencoderTransformer(latent_dim=3, model_params={"activation": "tanh"})
    copy = clone(ae)
    assert copy.get_params() == ae.get_params()
    assert copy is not ae and not hasattr(copy, "model_")
    copy.set_params(latent_dim=5, epochs=1)
    assert copy.latent_dim == 5 and ae.latent_dim == 3


def test_images_and_input_shape_for_convolutional_models():
    rng = np.random.default_rng(0)
    images = rng.random((40, 1, 8, 8), dtype=np.float32)
    flat = images.reshape(40, -1)
    conv = dict(model="conv-ae", latent_dim=4, model_params={"channels": [4]}, epochs=1)
    codes = AutoencoderTransformer(scale=None, **conv).fit(images).transform(images)
    assert codes.shape == (40, 4)
    reshaping = AutoencoderTransformer(scale=None, input_shape=(1, 8, 8), **conv).fit(flat)
    assert reshaping.inverse_transform(reshaping.transform(flat)).shape == flat.shape
    with pytest.raises(ValueError, match="input_shape"):
        AutoencoderTransformer(input_shape=(1, 9, 9), **conv).fit(flat)


def test_bad_parameters_are_clear_errors():
    x = np.random.default_rng(0).random((20, 4))
    with pytest.raises(AekitError, match=r"unknown model 'nope'; choose one of: .*ae"):
        AutoencoderTransformer(model="nope").fit(x)
    with pytest.raises(ValueError, match="conditional"):
        AutoencoderTransformer(model="cvae").fit(x)
    with pytest.raises(ValueError, match="bad scale"):
        AutoencoderTransformer(scale="zscore").fit(x)


def test_import_aekit_stays_light_and_exports_the_estimators():
    code = (
        "import sys, aekit; heavy = [m for m in ('torch', 'sklearn') if m in sys.modules]; "
        "print(heavy); from aekit import AutoencoderTransformer, AutoencoderAnomalyDetector, "
        "train, load_model; print(AutoencoderAnomalyDetector.__module__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(REPO / "src")},
    ).stdout.split("\n")
    assert out[0] == "[]"
    assert out[1] == "aekit.apps.anomaly"


def test_fit_leaves_the_process_as_it_found_it():
    """Training flushes subnormal floats to zero for speed, but only while it trains: a
    scikit-learn user's numpy arithmetic on subnormal numbers is the same after ``fit``."""
    tiny = np.float32(1e-39)  # subnormal in float32

    def subnormal_arithmetic():
        return float(tiny * np.float32(1.0)), float(np.array([tiny] * 64).sum())

    before = subnormal_arithmetic()
    assert before[0] != 0.0  # the check below can fail: the product is a subnormal
    x = np.random.default_rng(0).random((64, 6))
    AutoencoderTransformer(**TINY).fit(x)
    assert subnormal_arithmetic() == before
    script = (
        "import numpy as np; from aekit import AutoencoderTransformer; t = np.float32(1e-39); "
        "AutoencoderTransformer(latent_dim=2, hidden=(8,), epochs=1).fit(np.random.rand(40, 6)); "
        "import torch; print(float(t * np.float32(1.0)) != 0.0, "
        "int(torch.count_nonzero(torch.full((1 << 20,), 1e-20) * 1e-20)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["True", str(1 << 20)]  # numpy and torch's own threads: no flushing left


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"epochs": 0}, "epochs must be a whole number >= 1, got 0"),
        ({"batch_size": 2.5}, "batch_size must be a whole number >= 1"),
        ({"lr": -1.0}, "lr must be a positive number"),
        ({"latent_dim": 0}, "bad latent_dim 0"),
    ],
)
def test_bad_hyper_parameters_are_value_errors_naming_the_parameter(params, message):
    x = np.random.default_rng(0).random((20, 4))
    with pytest.raises(ValueError, match=message):
        AutoencoderTransformer(**params).fit(x)


def test_a_diverging_fit_warns():
    from aekit.errors import AekitWarning

    x = np.random.default_rng(0).random((64, 6))
    with pytest.warns(AekitWarning, match="try a lower --lr"):
        AutoencoderTransformer(
            lr=1e6, epochs=3, **{k: v for k, v in TINY.items() if k != "epochs"}
        ).fit(x)
