"""Anomaly detection by reconstruction: what an autoencoder reconstructs badly is unusual.

Sign conventions (the one thing to get right when switching libraries):

- **anomaly score** (this module's functions, ``aekit anomaly``'s ``score`` column, PyOD's
  ``decision_function``): higher = more abnormal. It is the reconstruction error, or the
  negative ELBO for VAEs.
- **scikit-learn** (:class:`AutoencoderAnomalyDetector`, like ``IsolationForest``):
  ``score_samples`` = -anomaly score (higher = more normal), ``decision_function`` =
  ``score_samples - offset_`` (negative = outlier), ``predict`` = +1 inlier / -1 outlier.
  PyOD's ``decision_function`` is ``-score_samples`` here and its ``predict`` (1 = outlier)
  is ``predict(X) == -1``.

Thresholds come from the training data's anomaly scores by one rule (:func:`parse_threshold`):
a ``contamination`` fraction flagged, a ``percentile``, the mean + ``std`` K standard
deviations, or the training ``max``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike
from sklearn.base import OutlierMixin

from aekit.apps.estimators import AutoencoderEstimator, InvalidInput
from aekit.data.batches import map_batches
from aekit.errors import AekitError, unknown_choice
from aekit.models.base import Autoencoder
from aekit.models.vae import VariationalAutoencoder
from aekit.runs.inference import labels_for

SCORES = {
    "mse": "squared error of the reconstruction in data space, summed over the example",
    "recon": "the model's own reconstruction term (BCE or squared error), summed",
    "elbo": "negative ELBO in nats (VAEs only): reconstruction term + KL",
}

THRESHOLD_RULES = "contamination:F (0 < F <= 0.5), percentile:P (0-100), std:K, max"


@torch.no_grad()
def anomaly_scores(
    model: Autoencoder, x: torch.Tensor, y: torch.Tensor | None = None, score: str = "mse"
) -> torch.Tensor:
    """Per-example anomaly scores (higher = more abnormal), computed in batches on CPU."""
    if score not in SCORES:
        raise unknown_choice("anomaly score", score, SCORES)
    if score == "elbo" and not model.variational:
        raise AekitError(f"model {model.name!r} has no ELBO; use --score mse or recon")
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device).manual_seed(0)  # the ELBO's posterior sample

    def batch_scores(xb: torch.Tensor, yb: torch.Tensor | None) -> torch.Tensor:
        xb = xb.to(device)
        yb = None if yb is None else yb.to(device)
        if score == "elbo":
            assert isinstance(model, VariationalAutoencoder), "only a VAE has an ELBO"
            return -model.elbo(xb, xb, yb, generator=generator).cpu()
        out = model(xb, yb)
        if score == "recon":
            return model.reconstruction_error(out, xb).cpu()
        return (model.to_data(out) - xb).square().flatten(1).sum(1).cpu()

    return map_batches(batch_scores, x, labels_for(model, y))


@dataclass(frozen=True)
class ThresholdRule:
    """How a threshold on anomaly scores is chosen from the training data's scores."""

    kind: str  # contamination, percentile, std, max
    value: float = 0.0

    def threshold(self, train_scores: np.ndarray) -> float:
        """The anomaly score above which an example is an outlier."""
        scores = np.asarray(train_scores, dtype=np.float64)
        if self.kind == "contamination":
            return float(np.percentile(scores, 100.0 * (1.0 - self.value)))
        if self.kind == "percentile":
            return float(np.percentile(scores, self.value))
        if self.kind == "std":
            return float(scores.mean() + self.value * scores.std())
        return float(scores.max())

    def __str__(self) -> str:
        return self.kind if self.kind == "max" else f"{self.kind}:{self.value:g}"


def parse_threshold(spec: str) -> ThresholdRule:
    """``contamination:0.05``, ``percentile:99``, ``std:3`` or ``max``."""
    kind, _, value = str(spec).partition(":")
    if kind == "max" and not value:
        return ThresholdRule("max")
    if kind not in ("contamination", "percentile", "std") or not value:
        raise InvalidInput(f"bad threshold rule {spec!r}; use one of: {THRESHOLD_RULES}")
    try:
        amount = float(value)
    except ValueError:
        raise InvalidInput(f"bad threshold rule {spec!r}: {value!r} is not a number") from None
    if kind == "contamination":
        check_contamination(amount)
    if kind == "percentile" and not 0.0 <= amount <= 100.0:
        raise InvalidInput(f"bad threshold rule {spec!r}: a percentile is between 0 and 100")
    if not np.isfinite(amount):
        raise InvalidInput(f"bad threshold rule {spec!r}: the value must be finite")
    return ThresholdRule(kind, amount)


def check_contamination(value: float) -> float:
    """scikit-learn's range for the expected fraction of outliers: (0, 0.5]."""
    if not 0.0 < value <= 0.5:
        raise InvalidInput(f"contamination {value!r} must be in (0, 0.5]")
    return value


# sklearn ships no types: its classes are Any, which mypy will not let a class extend
class AutoencoderAnomalyDetector(OutlierMixin, AutoencoderEstimator):  # type: ignore[misc]
    """Outlier detection by reconstruction error, with scikit-learn's outlier interface.

    Fit on (mostly) normal data; examples the autoencoder reconstructs worse than the
    threshold are outliers. scikit-learn's sign convention, as ``IsolationForest``:

    - ``score_samples(X)``: the *negative* anomaly score, higher = more normal;
    - ``decision_function(X)`` = ``score_samples(X) - offset_``: negative = outlier;
    - ``predict(X)``: +1 inlier, -1 outlier; ``fit_predict`` on the training data.

    PyOD's convention is the opposite sign: its ``decision_function`` is
    ``anomaly_score(X)`` here (``= -score_samples``), ``threshold_`` its threshold, and its
    ``predict`` (1 = outlier) is ``predict(X) == -1``.

    Parameters (besides those of :class:`~aekit.apps.estimators.AutoencoderEstimator`)
    ----------
    contamination : expected fraction of outliers in the training data, in (0, 0.5]: the
        threshold flags that fraction of it.
    threshold : another rule instead of ``contamination``: ``"percentile:99"``, ``"std:3"``
        (mean + 3 standard deviations of the training scores) or ``"max"`` (the training
        maximum), or ``"contamination:F"``.
    measure : the anomaly score: ``"mse"`` (squared reconstruction error, default),
        ``"recon"`` (the model's loss term) or ``"elbo"`` (negative ELBO, VAEs).
    """

    def __init__(
        self,
        model: str = "ae",
        latent_dim: int = 16,
        hidden: tuple[int, ...] | None = None,
        model_params: dict[str, Any] | None = None,
        input_shape: tuple[int, ...] | None = None,
        scale: str | None = "minmax",
        epochs: int = 20,
        batch_size: int = 128,
        lr: float = 1e-3,
        device: str = "auto",
        random_state: int | np.random.RandomState | None = 0,
        verbose: bool = False,
        contamination: float = 0.1,
        threshold: str | None = None,
        measure: str = "mse",
    ) -> None:
        super().__init__(
            model=model,
            latent_dim=latent_dim,
            hidden=hidden,
            model_params=model_params,
            input_shape=input_shape,
            scale=scale,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            device=device,
            random_state=random_state,
            verbose=verbose,
        )
        self.contamination = contamination
        self.threshold = threshold
        self.measure = measure

    def fit(self, X: ArrayLike, y: object = None) -> AutoencoderAnomalyDetector:
        """Train on ``X`` and set the threshold from its scores (``y`` is ignored)."""
        rule = self._rule()
        if self.measure not in SCORES:
            raise InvalidInput(f"bad measure {self.measure!r}; choose one of: {', '.join(SCORES)}")
        inputs = self._fit_autoencoder(X)
        train_scores = anomaly_scores(self.model_, inputs, score=self.measure).numpy()
        self.threshold_ = rule.threshold(train_scores)
        self.offset_ = -self.threshold_
        return self

    def _rule(self) -> ThresholdRule:
        if self.threshold is not None:
            return parse_threshold(self.threshold)
        return ThresholdRule("contamination", check_contamination(self.contamination))

    def anomaly_score(self, X: ArrayLike) -> np.ndarray:
        """Anomaly scores (float64), higher = more abnormal (PyOD's ``decision_function``)."""
        inputs = self._inputs(X)
        return anomaly_scores(self.model_, inputs, score=self.measure).numpy().astype(np.float64)

    def score_samples(self, X: ArrayLike) -> np.ndarray:
        """Negative anomaly scores: higher = more normal (scikit-learn's convention)."""
        return -self.anomaly_score(X)

    def decision_function(self, X: ArrayLike) -> np.ndarray:
        """``score_samples(X) - offset_``: negative for outliers, positive for inliers."""
        return self.score_samples(X) - self.offset_

    def predict(self, X: ArrayLike) -> np.ndarray:
        """+1 for inliers, -1 for outliers."""
        return np.where(self.decision_function(X) < 0, -1, 1)
