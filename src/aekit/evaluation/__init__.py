"""Evaluation: numbers to trust about a trained model.

``metrics`` (reconstruction, PSNR, ELBO), ``likelihood`` (importance-weighted NLL, bits/dim),
``baselines`` (PCA at the same code size), ``codes`` (code statistics, linear probe, k-NN),
``compression`` (ratio and float16 distortion), ``classifier`` + ``frechet`` (sample quality),
and ``report``, which assembles them for ``aekit evaluate``.
"""

from aekit.evaluation.metrics import evaluate_model

__all__ = ["evaluate_model"]
