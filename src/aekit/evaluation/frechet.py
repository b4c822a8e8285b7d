"""Sample quality: the Frechet distance between generated and real images, and for
conditional models whether the samples show the requested label.

The Frechet distance fits a Gaussian to the features of each image set and measures
``|mu_1 - mu_2|^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2))`` (FID, Heusel et al. 2017), here in
the feature space of aekit's own small classifier of the data set (``classifier.py``) rather
than Inception, so it runs offline on any data set; values compare between models on the same
data set and classifier, not with published FIDs. Lower is better; 0 means equal statistics.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from aekit.data.splits import Split
from aekit.data.transforms import binarize_dynamic
from aekit.evaluation import classifier as clf
from aekit.models.base import Autoencoder
from aekit.runs import inference

Generate = Callable[[int, torch.Tensor | None, torch.Generator], torch.Tensor]


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to the rows of ``a`` and of ``b``.

    ``Tr((S_a S_b)^(1/2))`` is computed as ``Tr((S_a^(1/2) S_b S_a^(1/2))^(1/2))``, a symmetric
    positive semi-definite matrix with the same eigenvalues, so two eigendecompositions
    replace a general matrix square root and stay exact when the covariances are singular
    (dead ReLU features, fewer samples than features).
    """
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(values.clip(min=0.0))) @ vectors.T
    cross = np.sqrt(np.linalg.eigvalsh(root_a @ cov_b @ root_a).clip(min=0.0)).sum()
    trace = np.trace(cov_a) + np.trace(cov_b) - 2.0 * cross
    return float(np.square(mu_a - mu_b).sum() + trace)


@torch.no_grad()
def sample_quality(
    model: Autoencoder,
    judge: clf.FeatureClassifier,
    reference: Split,
    *,
    binarized: bool,
    seed: int = 0,
    generate: Generate | None = None,
) -> dict[str, Any]:
    """Frechet distance between ``len(reference)`` samples and the reference images.

    Conditional models are asked for exactly the reference images' labels, so both sets
    have the same classes, and ``label_accuracy`` is how often the judge recognises the
    requested label. On binarized data a sample is a Bernoulli draw from the decoder's
    probabilities, like the binary test images it is compared with. ``generate(n, labels,
    generator)`` makes the samples (default: the model's own sampler).
    """
    generator = torch.Generator().manual_seed(seed)
    labels = inference.labels_for(model, reference.y)
    if generate is None:
        samples = inference.sample(model, len(reference), labels, generator)
    else:
        samples = generate(len(reference), labels, generator)
    if binarized:
        samples = binarize_dynamic(samples.clamp(0.0, 1.0), generator)
    metrics: dict[str, Any] = {
        "fid_samples": len(reference),
        "fid": frechet_distance(
            clf.features(judge, samples).double().numpy(),
            clf.features(judge, reference.x).double().numpy(),
        ),
    }
    if labels is not None:
        metrics["label_accuracy"] = (clf.predict(judge, samples) == labels).double().mean().item()
    return metrics
