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
