"""The optimizer, the learning-rate schedule and the loss-weight schedules of a run.

Schedules are functions of the optimisation step (and, for ``plateau``, of the validation
losses seen so far, kept in a small state), not stateful scheduler objects chained onto the
optimizer: the trainer sets each step's values itself, so a resumed run continues with exactly
the values of an uninterrupted one, and ``--compile`` feeds them to its compiled step as
inputs. The formulas are PyTorch's: ``StepLR`` (its decays counted from the run's first
epoch, warm-up included), ``CosineAnnealingLR`` (annealed over the steps after warm-up),
``ReduceLROnPlateau`` (relative threshold 1e-4, no cooldown) and ``LinearLR`` warm-up from 0.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.optim.optimizer import ParamsT

from aekit.config import TrainConfig
from aekit.errors import AekitError
from aekit.models.base import Autoencoder

PLATEAU_THRESHOLD = 1e-4  # ReduceLROnPlateau's default: a relative improvement smaller is none


def make_optimizer(
    params: ParamsT, cfg: TrainConfig, device: torch.device
) -> torch.optim.Optimizer:
    """Adam / AdamW / SGD / RMSprop; single-tensor-op ('fused') kernels where PyTorch has them.
    ``weight_decay`` None keeps each optimizer's own default (0; AdamW's 0.01)."""
    assert cfg.lr is not None, "TrainConfig.with_defaults() sets it"
    extra: dict[str, Any] = {} if cfg.eps is None else {"eps": cfg.eps}
    if cfg.weight_decay is not None:
        extra["weight_decay"] = cfg.weight_decay
    if cfg.optimizer in ("adam", "adamw"):
        kind = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
        return kind(params, lr=cfg.lr, fused=device.type in ("cpu", "cuda"), **extra)
    if cfg.optimizer == "rmsprop":
        # Keras' RMSprop: rho 0.9 (PyTorch's alpha defaults to 0.99).
        return torch.optim.RMSprop(params, lr=cfg.lr, alpha=0.9, momentum=cfg.momentum, **extra)
    extra.pop("eps", None)  # plain SGD has none
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, **extra)


class LearningRate:
    """The learning rate of every step of a run: warm-up, then the configured schedule."""

    def __init__(self, cfg: TrainConfig, steps_per_epoch: int) -> None:
        self.cfg = cfg
        self.steps_per_epoch = steps_per_epoch
        self.total_steps = cfg.epochs * steps_per_epoch
        self.warmup_steps = round(cfg.warmup_epochs * steps_per_epoch)
        # plateau: the best validation loss, epochs since it improved, decays so far
        self.best: float | None = None
        self.bad_epochs = 0
        self.decays = 0

    def at(self, step: int) -> float:
        """The learning rate for step ``step`` (0 = the run's first)."""
        cfg, base = self.cfg, self.cfg.lr
        assert base is not None, "TrainConfig.with_defaults() sets it"
        if step < self.warmup_steps:
            return base * (step + 1) / self.warmup_steps
        if cfg.lr_schedule == "step":
            return base * cfg.lr_gamma ** (step // (cfg.lr_step * self.steps_per_epoch))
        if cfg.lr_schedule == "cosine":
            span = max(1, self.total_steps - self.warmup_steps)
            done = min(1.0, (step - self.warmup_steps) / span)
            return cfg.lr_min + (base - cfg.lr_min) * (1 + math.cos(math.pi * done)) / 2
        if cfg.lr_schedule == "plateau":
            return max(cfg.lr_min, base * cfg.lr_gamma**self.decays)
        return base

    def end_epoch(self, val_loss: float) -> None:
        """``plateau``: decay once the validation loss has not improved for ``lr_patience``
        epochs in a row."""
        if self.cfg.lr_schedule != "plateau":
            return
        if self.best is None or val_loss < self.best * (1 - PLATEAU_THRESHOLD):
            self.best, self.bad_epochs = val_loss, 0
            return
        self.bad_epochs += 1
        if self.bad_epochs > self.cfg.lr_patience:
            self.decays += 1
            self.bad_epochs = 0

    def state(self) -> dict[str, Any]:
        return {"best": self.best, "bad_epochs": self.bad_epochs, "decays": self.decays}

    def load_state(self, state: dict[str, Any]) -> None:
        self.best, self.bad_epochs, self.decays = (
            state["best"],
            state["bad_epochs"],
            state["decays"],
        )


class LossWeights:
    """Loss weights that change over training (KL warm-up, annealing to a target beta, a
    capacity that grows): each scheduled weight goes linearly from ``start`` to ``end`` over
    ``epochs``, after ``delay`` epochs at ``start``. A model names the weights it allows to
    be scheduled (``schedulable``); ``end`` defaults to the model's own value."""

    def __init__(self, specs: dict[str, dict[str, float]], model: Autoencoder) -> None:
        allowed = getattr(model, "schedulable", ())
        unknown = sorted(set(specs) - set(allowed))
        if unknown:
            has = f"it has: {', '.join(allowed)}" if allowed else "it has none"
            raise AekitError(
                f"model {model.name!r} has no schedulable loss weight {unknown[0]!r}; {has}"
            )
        self.schedules = {}
        for name, spec in specs.items():
            end = spec.get("end", getattr(model, name))
            if end is None:
                raise AekitError(f"weight_schedules.{name}: give end (the model sets no {name})")
            self.schedules[name] = {"delay": 0.0, **spec, "end": float(end)}

    @property
    def names(self) -> list[str]:
        return list(self.schedules)

    def at(self, epochs_done: float) -> dict[str, float]:
        """Each scheduled weight after ``epochs_done`` (fractional) epochs of training."""
        values = {}
        for name, s in self.schedules.items():
            progress = min(1.0, max(0.0, (epochs_done - s["delay"]) / s["epochs"]))
            values[name] = s["start"] + (s["end"] - s["start"]) * progress
        return values

    def apply(self, model: Autoencoder, epochs_done: float) -> dict[str, float]:
        values = self.at(epochs_done)
        for name, value in values.items():
            setattr(model, name, value)
        return values
