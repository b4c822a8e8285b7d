"""Training: the single trainer, checkpoints, run directories."""

from aekit.training.run import RunResult, resume, train
from aekit.training.trainer import Trainer, TrainingDiverged

__all__ = ["RunResult", "Trainer", "TrainingDiverged", "resume", "train"]
