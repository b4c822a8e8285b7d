"""Training: the single trainer, its optimizers and schedules, the compiled step, greedy
layer-wise training. Whole runs (data, model, trainer, run directory, figures) are
:func:`aekit.workflow.train` and :func:`aekit.workflow.resume`."""

from aekit.training.trainer import Trainer, TrainingDiverged, build_trainer

__all__ = ["Trainer", "TrainingDiverged", "build_trainer"]
