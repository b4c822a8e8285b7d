"""Disentanglement metrics: how well single code dimensions capture single ground-truth
factors, on data whose factors can be drawn at will (``dsprites``).

Each metric takes ``represent(factors) -> codes``, factor index combinations (n, K) to codes
(n, D) as numpy arrays, so the same code scores a trained model (render, then encode) and, in
the tests, codes with a known answer.

- ``mig``: mutual information gap (Chen et al. 2018): per factor, the gap between the two code
  dimensions with the most mutual information with it, over the factor's entropy, averaged.
  Codes are discretised into 20 equal bins per dimension, as disentanglement_lib (Locatello
  et al. 2019) does; Chen et al. estimate the information from q(z|x) instead.
- ``factor_vae_score`` (Kim & Mnih 2018): with one factor fixed across a batch, the code
  dimension of least (normalised) variance votes for that factor; the score is the accuracy of
  the majority-vote classifier from dimension to factor on held-out votes. Dimensions whose
  spread is below 5% of the largest are left out (collapsed; disentanglement_lib uses an
  absolute 0.05).
- ``dci_disentanglement`` (Eastwood & Williams 2018): from the importance of each dimension for
  predicting each factor (random-forest importances here; the paper uses lasso or random
  forests), one minus the entropy of each dimension's importances over the factors, weighted
  by the dimension's share of all importance.
- ``beta_vae_score`` (Higgins et al. 2017): for pairs sharing one factor, the mean absolute code
  difference; the score is the held-out accuracy of a linear classifier naming that factor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from aekit.runs.directory import Run

Represent = Callable[[np.ndarray], np.ndarray]


def _sample(sizes: tuple[int, ...], n: int, rng: np.random.Generator) -> np.ndarray:
    return np.stack([rng.integers(size, size=n) for size in sizes], axis=1)


def _discretised(codes: np.ndarray, bins: int) -> np.ndarray:
    out = np.empty(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        edges = np.histogram_bin_edges(codes[:, j], bins)
        out[:, j] = np.digitize(codes[:, j], edges[1:-1])
    return out


def mig(
    represent: Represent,
    sizes: tuple[int, ...],
    rng: np.random.Generator,
    n: int = 10_000,
    bins: int = 20,
) -> float:
    from sklearn.metrics import mutual_info_score

    factors = _sample(sizes, n, rng)
    codes = _discretised(represent(factors), bins)
    gaps = []
    for k in range(len(sizes)):
        informations = sorted(
            (mutual_info_score(factors[:, k], codes[:, j]) for j in range(codes.shape[1])),
            reverse=True,
        )
        entropy = mutual_info_score(factors[:, k], factors[:, k])
        second = informations[1] if len(informations) > 1 else 0.0
        gaps.append((informations[0] - second) / entropy)
    return float(np.mean(gaps))


def _fixed_factor_batch(
    sizes: tuple[int, ...], k: int, batch: int, rng: np.random.Generator
) -> np.ndarray:
    factors = _sample(sizes, batch, rng)
    factors[:, k] = rng.integers(sizes[k])
    return factors


def factor_vae_score(
    represent: Represent,
    sizes: tuple[int, ...],
    rng: np.random.Generator,
    votes: int = 500,
    batch: int = 64,
) -> float:
    scale = represent(_sample(sizes, 10_000, rng)).std(0)
    active = scale > 0.05 * scale.max()  # collapsed dimensions never vote (Kim & Mnih)
    if not active.any():
        return 0.0
    dims, wanted = [], []
    for _ in range(2 * votes):
        k = int(rng.integers(len(sizes)))
        codes = represent(_fixed_factor_batch(sizes, k, batch, rng))[:, active] / scale[active]
        dims.append(int(np.argmin(codes.var(0))))
        wanted.append(k)
    dim, factor = np.array(dims), np.array(wanted)
    table = np.zeros((active.sum(), len(sizes)), dtype=np.int64)
    np.add.at(table, (dim[:votes], factor[:votes]), 1)
    prediction = table.argmax(1)
    return float(np.mean(prediction[dim[votes:]] == factor[votes:]))


def dci_disentanglement(
    represent: Represent, sizes: tuple[int, ...], rng: np.random.Generator, n: int = 10_000
) -> float:
    from sklearn.ensemble import RandomForestClassifier

    factors = _sample(sizes, n, rng)
    codes = represent(factors)
    importance = np.zeros((codes.shape[1], len(sizes)))
    for k in range(len(sizes)):
        forest = RandomForestClassifier(
            n_estimators=30, max_depth=8, max_features=None, random_state=0, n_jobs=1
        )
        forest.fit(codes, factors[:, k])
        importance[:, k] = forest.feature_importances_
    total = importance.sum(1)
    share = importance / np.maximum(total[:, None], 1e-12)
    entropy = -(share * np.log(np.maximum(share, 1e-12))).sum(1) / np.log(len(sizes))
    weights = total / total.sum()
    return float((weights * (1 - entropy)).sum())


def beta_vae_score(
    represent: Represent,
    sizes: tuple[int, ...],
    rng: np.random.Generator,
    votes: int = 500,
    pairs: int = 32,
) -> float:
    from sklearn.linear_model import LogisticRegression

    features, wanted = [], []
    for _ in range(2 * votes):
        k = int(rng.integers(len(sizes)))
        first, second = _sample(sizes, pairs, rng), _sample(sizes, pairs, rng)
        second[:, k] = first[:, k]
        features.append(np.abs(represent(first) - represent(second)).mean(0))
        wanted.append(k)
    inputs, factor = np.array(features), np.array(wanted)
    classifier = LogisticRegression(max_iter=2000).fit(inputs[:votes], factor[:votes])
    return float(classifier.score(inputs[votes:], factor[votes:]))


METRICS: dict[str, Callable[[Represent, tuple[int, ...], np.random.Generator], float]] = {
    "mig": mig,
    "factor_vae_score": factor_vae_score,
    "dci_disentanglement": dci_disentanglement,
    "beta_vae_score": beta_vae_score,
}


def disentanglement_metrics(
    represent: Represent, sizes: tuple[int, ...], seed: int = 0
) -> dict[str, float]:
    """Every metric, each from its own seeded draws."""
    return {
        name: metric(represent, sizes, np.random.default_rng([seed, i]))
        for i, (name, metric) in enumerate(METRICS.items())
    }


def run_disentanglement(run: Run, seed: int = 0) -> dict[str, float]:
    """Every metric for a run trained on ``dsprites``: sprites drawn from the factors, then
    encoded by the run's model."""
    import torch

    from aekit.data.dsprites import SIZES, render
    from aekit.data.splits import Split

    def represent(factors: np.ndarray) -> np.ndarray:
        return run.encode(Split(torch.from_numpy(render(factors)), None)).double().numpy()

    return disentanglement_metrics(represent, SIZES, seed)
