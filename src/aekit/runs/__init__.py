"""Runs: the run directory and its files, and a trained model applied to data.

``directory`` (:class:`Run`, the one object that describes a run), ``checkpoint`` (models and
training state as safetensors) and ``inference`` (batched encode / decode / sample).
"""

from aekit.runs.directory import Run, open_run

__all__ = ["Run", "open_run"]
