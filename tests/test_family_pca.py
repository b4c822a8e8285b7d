"""S6: a linear autoencoder trained with MSE spans the principal subspace of its data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA

from aekit.config import DataConfig, TrainConfig
from aekit.data.splits import DataBundle, prepare_data
from aekit.models import build_model
from aekit.training import Trainer


def principal_angles_to_pca(data: DataBundle, k: int, schedule, batch_size: int) -> np.ndarray:
    """Train ``linear-ae`` (k-d code) with each (epochs, lr) of ``schedule`` in turn; return
    the principal angles, in degrees, between its decoder's columns and PCA's components.

    A second, smaller learning rate removes most of Adam's minibatch jitter around the optimum.
    Each stage keeps its rate constant (not linear-ae's default cosine decay).
    """
    torch.manual_seed(0)
    model = build_model({"name": "linear-ae", "latent_dim": k}, data.shape)
    for epochs, lr in schedule:
        cfg = TrainConfig(
            epochs=epochs, lr=lr, batch_size=batch_size, lr_schedule="constant", device="cpu"
        )
        Trainer(model, cfg).fit(data.train, data.val)
    decoder_columns = model.decoder[0].weight.detach().numpy()  # (input_dim, k)
    pca = PCA(n_components=k).fit(data.train.x.flatten(1).numpy())
    return np.degrees(subspace_angles(decoder_columns, pca.components_.T))


def test_linear_ae_spans_the_pca_subspace_on_real_digits():
    """1,000 real MNIST digits (bundled), 3 components: all angles well under 2 degrees."""
    data = prepare_data(DataConfig(dataset="mnist-5k", limit=1000))
    angles = principal_angles_to_pca(data, 3, [(100, 1e-2), (40, 1e-3)], batch_size=64)
    assert angles.max() < 2.0


def test_an_untrained_linear_ae_does_not():
    """The check above can fail: random weights are far from the principal subspace."""
    data = prepare_data(DataConfig(dataset="mnist-5k", limit=200))
    torch.manual_seed(0)
    model = build_model({"name": "linear-ae", "latent_dim": 3}, data.shape)
    pca = PCA(n_components=3).fit(data.train.x.flatten(1).numpy())
    angles = subspace_angles(model.decoder[0].weight.detach().numpy(), pca.components_.T)
    assert np.degrees(angles).max() > 45


@pytest.mark.slow
def test_linear_ae_spans_the_pca_subspace_on_full_mnist(mnist_dir):
    """20,000 MNIST training digits, 6 components."""
    config = DataConfig(dataset="mnist", data_dir=str(mnist_dir), limit=20000)
    data = prepare_data(config)
    angles = principal_angles_to_pca(data, 6, [(30, 1e-2), (10, 1e-3)], batch_size=128)
    assert angles.max() < 2.0


def pca_recovery(run_dir) -> float:
    """R^2 of PCA's projections of the test digits predicted linearly from the run's codes
    (1: the code spans PCA's subspace; a code missing one principal axis scores ~(k-1)/k)."""
    from sklearn.linear_model import LinearRegression

    from aekit.runs import open_run

    run = open_run(run_dir)
    k = run.model.code_dim
    projections = PCA(n_components=k).fit(run.data.train.x.flatten(1).numpy())
    target = projections.transform(run.data.test.x.flatten(1).numpy())
    codes = run.encode(run.data.test).numpy()
    return LinearRegression().fit(codes, target).score(codes, target)


def test_linear_ae_learns_the_pca_subspace_at_its_defaults(tmp_path):
    """As a user runs it: no schedule, batch size or learning rate given (the model's own
    training defaults apply), 8 components of 4,050 real digits."""
    from click.testing import CliRunner

    from aekit.cli import cli

    args = ["train", "--model", "linear-ae", "--latent-dim", "8", "--epochs", "40", "--quiet"]
    result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert pca_recovery(tmp_path / "run") > 0.999
    # the same at Adam's default constant step misses a component: the defaults matter
    constant = ["--lr-schedule", "constant", "--lr", "1e-3", "--batch-size", "128"]
    result = CliRunner().invoke(cli, [*args, *constant, "--out", str(tmp_path / "constant")])
    assert result.exit_code == 0, result.output
    assert pca_recovery(tmp_path / "constant") < 0.99


def test_linear_ae_learns_the_pca_subspace_of_8000_mnist_digits(tmp_path, mnist_dir):
    """The issue's own command: 8,000 MNIST training digits, 8 components, 40 epochs."""
    from aekit.cli import main

    args = ["train", "--model", "linear-ae", "--latent-dim", "8", "--epochs", "40", "--quiet"]
    args += ["--dataset", "mnist", "--data-dir", str(mnist_dir), "--limit", "8000"]
    with pytest.raises(SystemExit) as exited:
        main([*args, "--out", str(tmp_path / "run")])
    assert exited.value.code == 0
    assert pca_recovery(tmp_path / "run") > 0.999
