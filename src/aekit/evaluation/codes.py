"""What the codes look like and what they are good for.

Statistics (every model): ``mean_activation``, the mean code value over units and examples (a
sparse autoencoder's target rho), and ``near_zero_fraction``, the share of code values with
``|c| < NEAR_ZERO``, so sparsity is a number for any model.

Probes (labelled data): a fixed 50/50 split of the test codes (seed 0, stratified by label);
on standardised codes, a logistic-regression ``probe_accuracy`` and a 5-nearest-neighbour
``knn_accuracy`` on the held-out half. High accuracy means the classes are linearly separable
or locally clustered in code space: how useful the code is without the decoder.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

NEAR_ZERO = 1e-2
PROBE_SEED = 0
KNN_NEIGHBOURS = 5


def code_statistics(codes: torch.Tensor) -> dict[str, float]:
    """Mean code value and the fraction of values within ``NEAR_ZERO`` of zero."""
    return {
        "mean_activation": codes.double().mean().item(),
        "near_zero_fraction": (codes.abs() < NEAR_ZERO).double().mean().item(),
    }


def probe_accuracies(codes: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Linear-probe and k-NN test accuracy on a fixed 50/50 split of (codes, labels)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    counts = np.bincount(labels)
    stratify = labels if counts[counts > 0].min() >= 2 else None
    fit_x, test_x, fit_y, test_y = train_test_split(
        codes, labels, test_size=0.5, random_state=PROBE_SEED, stratify=stratify
    )
    linear = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    neighbours = make_pipeline(
        StandardScaler(), KNeighborsClassifier(min(KNN_NEIGHBOURS, len(fit_x)))
    )
    return {
        "probe_accuracy": float(linear.fit(fit_x, fit_y).score(test_x, test_y)),
        "knn_accuracy": float(neighbours.fit(fit_x, fit_y).score(test_x, test_y)),
    }


def code_metrics(codes: torch.Tensor, labels: torch.Tensor | None) -> dict[str, Any]:
    """Code statistics, plus the probes when there are labels of at least two classes."""
    metrics: dict[str, Any] = code_statistics(codes)
    if labels is not None and len(torch.unique(labels)) >= 2 and len(labels) >= 4:
        metrics.update(probe_accuracies(codes.double().numpy(), labels.numpy()))
    return metrics
