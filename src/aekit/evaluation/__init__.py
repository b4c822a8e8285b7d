"""Evaluation: numbers to trust about a trained model."""

from aekit.evaluation.metrics import evaluate_model

__all__ = ["evaluate_model"]
