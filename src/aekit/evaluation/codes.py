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

import torch

from aekit.training.internals import step_optimizer

NEAR_ZERO = 1e-2
PROBE_SEED = 0
KNN_NEIGHBOURS = 5
LBFGS_ITERATIONS = 1000  # scikit-learn's max_iter and tol for the probe
PROBE_TOLERANCE = 1e-4


def code_statistics(codes: torch.Tensor) -> dict[str, float]:
    """Mean code value and the fraction of values within ``NEAR_ZERO`` of zero."""
    return {
        "mean_activation": codes.double().mean().item(),
        "near_zero_fraction": (codes.abs() < NEAR_ZERO).double().mean().item(),
    }


def probe_accuracies(codes: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Linear-probe and k-NN test accuracy on a fixed 50/50 split of (codes, labels).

    Both probes are scikit-learn's defaults written in torch (a logistic regression with L2
    penalty C = 1 fitted by L-BFGS; 5 neighbours by Euclidean distance, ties to the smaller
    label) because importing scikit-learn takes longer than the whole evaluation
    (benchmarks/RESULTS.md, "Fixed cost"); a test holds them to scikit-learn's answers.
    """
    labels = labels.long()
    fit, held = stratified_halves(labels, PROBE_SEED)
    x = standardised(codes.double(), fit)
    classes = int(labels.max()) + 1
    weights = logistic_regression(x[fit], labels[fit], classes)
    linear = (x[held] @ weights[:-1] + weights[-1]).argmax(1)
    neighbours = nearest_neighbour_vote(x[fit], labels[fit], x[held], classes)
    return {
        "probe_accuracy": (linear == labels[held]).double().mean().item(),
        "knn_accuracy": (neighbours == labels[held]).double().mean().item(),
    }


def stratified_halves(labels: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of two halves with (up to one example) the same share of every class; a plain
    random half where some class has a single example."""
    generator = torch.Generator().manual_seed(seed)
    counts = torch.bincount(labels)
    groups = [torch.nonzero(labels == k).flatten() for k in torch.nonzero(counts).flatten()]
    if counts[counts > 0].min() < 2:
        groups = [torch.arange(len(labels))]
    fit, held = [], []
    for members in groups:
        shuffled = members[torch.randperm(len(members), generator=generator)]
        fit.append(shuffled[: len(members) // 2])
        held.append(shuffled[len(members) // 2 :])
    return torch.cat(fit), torch.cat(held)


def standardised(x: torch.Tensor, fit: torch.Tensor) -> torch.Tensor:
    """``x`` scaled to zero mean and unit variance on the ``fit`` rows (constant columns
    are only centred), as scikit-learn's ``StandardScaler``."""
    mean, std = x[fit].mean(0), x[fit].std(0, correction=0)
    return (x - mean) / torch.where(std > 0, std, torch.ones_like(std))


def logistic_regression(
    x: torch.Tensor, y: torch.Tensor, classes: int, c: float = 1.0
) -> torch.Tensor:
    """Multinomial logistic regression minimising the summed cross-entropy plus
    ``||W||^2 / (2c)`` (the intercept unpenalised); returns the (D + 1) x classes weights,
    the intercept in the last row."""
    weights = torch.zeros(x.shape[1] + 1, classes, dtype=x.dtype, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weights],
        max_iter=LBFGS_ITERATIONS,
        tolerance_grad=PROBE_TOLERANCE,
        line_search_fn="strong_wolfe",
    )

    def objective() -> torch.Tensor:
        weights.grad = None
        logits = x @ weights[:-1] + weights[-1]
        loss = torch.nn.functional.cross_entropy(logits, y, reduction="sum")
        loss = (loss + weights[:-1].square().sum() / (2 * c)) / len(x)
        loss.backward()
        return loss

    step_optimizer(optimizer, objective)
    return weights.detach()


def nearest_neighbour_vote(
    fit_x: torch.Tensor, fit_y: torch.Tensor, x: torch.Tensor, classes: int
) -> torch.Tensor:
    """The most common label among each row's ``KNN_NEIGHBOURS`` nearest ``fit_x`` rows."""
    k = min(KNN_NEIGHBOURS, len(fit_x))
    nearest = torch.cdist(x, fit_x).topk(k, largest=False).indices
    votes = torch.nn.functional.one_hot(fit_y[nearest], classes).sum(1)
    return votes.argmax(1)  # the first of equal counts: the smaller label


def code_metrics(codes: torch.Tensor, labels: torch.Tensor | None) -> dict[str, Any]:
    """Code statistics, plus the probes when there are labels of at least two classes."""
    metrics: dict[str, Any] = code_statistics(codes)
    if labels is not None and len(torch.unique(labels)) >= 2 and len(labels) >= 4:
        metrics.update(probe_accuracies(codes, labels))
    return metrics
