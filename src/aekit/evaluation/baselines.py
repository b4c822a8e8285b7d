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
    return _eigen(centered)[1][:, -components:]


def principal_components(x: torch.Tensor, components: int) -> tuple[torch.Tensor, list[float]]:
    """``x`` projected on its ``components`` leading principal axes (the first axis first,
    each signed so that its largest loading is positive, so the picture is reproducible) and
    the share of the variance each axis explains."""
    centered = x.double() - x.double().mean(0)
    values, vectors = _eigen(centered)
    axes = vectors[:, -components:].flip(1)
    largest = axes.gather(0, axes.abs().argmax(0, keepdim=True))
    axes = axes * largest.sign()
    shares = values.flip(0)[:components] / values.sum().clamp_min(torch.finfo(values.dtype).tiny)
    return centered @ axes, shares.tolist()


def _eigen(centered: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (ascending, clipped at zero) and eigenvectors of the scatter matrix."""
    values, vectors = torch.linalg.eigh(centered.T @ centered)
    return values.clamp_min(0.0), vectors
