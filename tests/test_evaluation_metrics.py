"""Reconstruction, baseline, code, compression and Frechet measures on data with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aekit.data.splits import Split
from aekit.evaluation import evaluate_model
from aekit.evaluation.baselines import pca_reconstruction_mse, principal_components
from aekit.evaluation.codes import (
    NEAR_ZERO,
    code_metrics,
    code_statistics,
    logistic_regression,
    nearest_neighbour_vote,
    probe_accuracies,
    standardised,
    stratified_halves,
)
from aekit.evaluation.compression import compression_metrics
from aekit.evaluation.frechet import frechet_distance
from aekit.evaluation.metrics import PSNR_CAP_DB, psnr
from aekit.io import CACHE_ENV
from aekit.models.base import build_model


def test_psnr_is_ten_log10_of_one_over_mse_per_image():
    target = torch.zeros(2, 1, 2, 2)
    recon = torch.stack([torch.full((1, 2, 2), 0.1), torch.zeros(1, 2, 2)])
    values = psnr(recon, target)
    assert values[0].item() == pytest.approx(10 * math.log10(1 / 0.01), rel=1e-5)  # 20 dB
    assert values[1].item() == PSNR_CAP_DB  # perfect: capped, not infinite


def test_evaluate_model_reports_the_mean_psnr_over_images():
    model = build_model({"name": "ae", "latent_dim": 2, "hidden": [8]}, (1, 4, 4))
    x = torch.rand(30, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    metrics = evaluate_model(model, Split(x, None), batch_size=7)
    expected = psnr(model.reconstruct(x).clamp(0, 1), x).mean().item()
    assert metrics["psnr"] == pytest.approx(expected, rel=1e-5)


def test_pca_baseline_matches_scikit_learn():
    from sklearn.decomposition import PCA

    generator = torch.Generator().manual_seed(0)
    mixing = torch.rand(5, 20, generator=generator)
    train = (torch.rand(300, 5, generator=generator) @ mixing / 5).clamp(0, 1)
    test = (torch.rand(100, 5, generator=generator) @ mixing / 5).clamp(0, 1)
    train, test = train.reshape(300, 1, 4, 5), test.reshape(100, 1, 4, 5)
    for k in (1, 3, 20):
        pca = PCA(n_components=k).fit(train.flatten(1).numpy())
        recon = pca.inverse_transform(pca.transform(test.flatten(1).numpy())).clip(0, 1)
        expected = float(np.mean((recon - test.flatten(1).numpy()) ** 2))
        assert pca_reconstruction_mse(train, test, k) == pytest.approx(expected, rel=1e-4, abs=1e-9)
    assert pca_reconstruction_mse(train, test, 500) < 1e-10  # more axes than dimensions: exact


def test_code_statistics_count_near_zero_values():
    codes = torch.tensor([[0.0, 0.5], [NEAR_ZERO / 2, 1.5], [-NEAR_ZERO * 2, 0.0]])
    stats = code_statistics(codes)
    assert stats["near_zero_fraction"] == pytest.approx(3 / 6)
    assert stats["mean_activation"] == pytest.approx(codes.mean().item())


def test_probes_read_informative_codes_and_not_random_ones():
    rng = np.random.default_rng(0)
    labels = torch.from_numpy(rng.integers(0, 4, 400))
    informative = torch.eye(4)[labels] * 3 + torch.from_numpy(rng.normal(0, 0.1, (400, 4)))
    perfect = probe_accuracies(informative, labels)
    assert perfect["probe_accuracy"] > 0.99 and perfect["knn_accuracy"] > 0.99
    random = probe_accuracies(torch.from_numpy(rng.normal(size=(400, 4))), labels)
    assert random["probe_accuracy"] < 0.4 and random["knn_accuracy"] < 0.4  # chance: 0.25


@pytest.mark.parametrize("loader", ["load_digits", "load_wine", "load_iris"])
def test_probes_give_scikit_learns_answers(loader):
    """The torch probes predict what scikit-learn's StandardScaler + LogisticRegression /
    KNeighborsClassifier(5) predict on the same split (which they replace for speed)."""
    from sklearn import datasets
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler

    features, labels = getattr(datasets, loader)(return_X_y=True)
    x, y = torch.from_numpy(features), torch.from_numpy(labels)
    fit, held = stratified_halves(y, 0)
    assert torch.equal(torch.bincount(y[fit]), torch.bincount(y) // 2)  # each class halved
    scaler = StandardScaler().fit(features[fit])
    fit_x, held_x = scaler.transform(features[fit]), scaler.transform(features[held])
    z = standardised(x, fit)
    assert np.allclose(z[held].numpy(), held_x)
    theirs = LogisticRegression(max_iter=1000).fit(fit_x, labels[fit])
    weights = logistic_regression(z[fit], y[fit], int(y.max()) + 1)
    ours = (z[held] @ weights[:-1] + weights[-1]).argmax(1).numpy()
    assert (ours == theirs.predict(held_x)).mean() >= 0.99
    assert np.abs(weights[:-1].numpy().T - theirs.coef_).max() < 0.05
    neighbours = KNeighborsClassifier(5).fit(fit_x, labels[fit]).predict(held_x)
    voted = nearest_neighbour_vote(z[fit], y[fit], z[held], int(y.max()) + 1).numpy()
    assert (voted == neighbours).mean() >= 0.99


def test_probes_need_labels_of_two_classes():
    codes = torch.randn(20, 3)
    assert "probe_accuracy" not in code_metrics(codes, None)
    assert "probe_accuracy" not in code_metrics(codes, torch.zeros(20, dtype=torch.long))
    assert "knn_accuracy" in code_metrics(codes, torch.arange(20) % 2)


def test_compression_ratio_and_float16_distortion():
    torch.manual_seed(0)
    model = build_model({"name": "ae", "latent_dim": 4, "hidden": [8]}, (1, 8, 8)).eval()
    x = torch.rand(16, 1, 8, 8)
    codes = model.encode(x).detach()
    metrics = compression_metrics(model, Split(x, None), codes)
    assert metrics["compression_ratio"] == 64 / (4 * 4)  # 64 one-byte pixels, 4 float32 values
    assert metrics["float16_compression_ratio"] == 64 / (4 * 2)
    exact = evaluate_model(model, Split(x, None))["recon_mse"]
    assert metrics["float16_recon_mse"] == pytest.approx(exact, rel=1e-2)
    assert metrics["float16_recon_mse"] != exact  # the rounding is really applied


def test_frechet_distance_matches_the_matrix_square_root_formula():
    from scipy import linalg

    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(size=(500, 6)) * 2 + 1
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = np.square(a.mean(0) - b.mean(0)).sum() + np.trace(
        cov_a + cov_b - 2 * linalg.sqrtm(cov_a @ cov_b).real
    )
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_is_finite_with_dead_features():
    rng = np.random.default_rng(0)
    a = np.maximum(rng.normal(size=(50, 128)), 0)
    a[:, :40] = 0.0  # dead ReLU units and fewer samples than features: singular covariances
    b = np.maximum(rng.normal(size=(50, 128)), 0)
    distance = frechet_distance(a, b)
    assert np.isfinite(distance) and distance > 0


def test_feature_classifier_is_cached_and_a_damaged_cache_is_replaced(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    from aekit.evaluation import classifier

    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    generator = torch.Generator().manual_seed(0)
    data = Split(torch.rand(64, 1, 8, 8, generator=generator), torch.arange(64) % 3)
    recipe = classifier.ClassifierRecipe("toy", (1, 8, 8), 3, 64, "abc", epochs=1)
    first = classifier.load_or_train(recipe, data)
    path = recipe.cache_path()
    assert path.parent == tmp_path / "classifiers" and path.name.startswith("toy-")
    again = classifier.load_or_train(recipe, data)
    torch.testing.assert_close(again.state_dict(), first.state_dict())
    path.write_bytes(b"not a safetensors file")
    retrained = classifier.load_or_train(recipe, data)
    torch.testing.assert_close(retrained.state_dict(), first.state_dict())  # same recipe, seed
    assert set(load_file(str(path))) == set(first.state_dict())


def test_principal_components_are_scikit_learns_pca():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6)) + 2.0
    points, shares = principal_components(torch.from_numpy(x), 2)
    theirs = PCA(2).fit(x)
    assert np.allclose(np.abs(points.numpy()), np.abs(theirs.transform(x)))
    assert np.allclose(shares, theirs.explained_variance_ratio_)
    flipped, _ = principal_components(torch.from_numpy(-x), 2)  # the sign is the data's
    assert torch.allclose(flipped, -points)
