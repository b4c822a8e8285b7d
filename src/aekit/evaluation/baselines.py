"""PCA, the baseline every deterministic autoencoder has to beat at the same code size.

A linear autoencoder trained with MSE can at best reach PCA's error (S6), so PCA's test
reconstruction error with as many components as the model has code units says how much the
non-linear model actually gains.
"""

from __future__ import annotations

import torch


def pca_reconstruction_mse(train_x: torch.Tensor, test_x: torch.Tensor, components: int) -> float:
    """Per-element MSE on ``test_x`` of PCA fitted on ``train_x`` with ``components`` axes.

    Reconstructions are clipped to the data range [0, 1], as the models' are in
    ``evaluate_model``. The principal axes come from the eigenvectors of the training
    covariance in float64: one D x D matrix, fast even for all of MNIST.
    """
    train = train_x.flatten(1).double()
    test = test_x.flatten(1).double()
    mean = train.mean(0)
    components = max(1, min(components, train.shape[1], len(train)))
    basis = principal_axes(train - mean, components)
    recon = ((test - mean) @ basis) @ basis.T + mean
    return (recon.clamp(0.0, 1.0) - test).square().mean().item()


def principal_axes(centered: torch.Tensor, components: int) -> torch.Tensor:
    """The ``components`` leading eigenvectors of the covariance, as columns (D x k)."""
    _, vectors = torch.linalg.eigh(centered.T @ centered)  # eigenvalues in ascending order
    return vectors[:, -components:]
