"""A whole run, as ``aekit train`` does it: config -> data -> model -> trainer -> run directory."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aekit.config import RunConfig
from aekit.data.splits import DataBundle, prepare_data
from aekit.data.transforms import parse_noise
from aekit.errors import AekitError
from aekit.models.base import Autoencoder, build_model
from aekit.training.rundir import RunDir
from aekit.training.trainer import Callback, Trainer, seed_everything


@dataclass
class RunResult:
    run: RunDir | None
    model: Autoencoder
    data: DataBundle
    history: list[dict[str, Any]]


def build_trainer(
    config: RunConfig,
    data: DataBundle,
    run: RunDir | None,
    log: Callable[[str], None] | None = None,
    progress: bool = False,
    callbacks: Sequence[Callback] = (),
) -> Trainer:
    """Seed, build the model for this data, and wrap it in a trainer."""
    seed_everything(config.train.seed)
    model = build_model(config.model, data.shape, data.num_classes)
    return Trainer(
        model,
        config.train,
        noise=parse_noise(config.data.noise) if config.data.noise else None,
        noise_once=config.data.noise_once,
        dynamic_binarize=config.data.binarize == "dynamic",
        run=run,
        log=log,
        progress=progress,
        callbacks=callbacks,
    )


def begin_callbacks(trainer: Trainer) -> None:
    """Let callbacks that draw the untrained (or just resumed) model do so: the optional
    ``on_train_begin(trainer)`` hook, e.g. frame 0 of the progress GIF."""
    for callback in trainer.callbacks:
        begin = getattr(callback, "on_train_begin", None)
        if begin is not None:
            begin(trainer)


def train(
    config: RunConfig,
    out: str | os.PathLike | None = None,
    *,
    overwrite: bool = False,
    log: Callable[[str], None] | None = None,
    progress: bool = False,
    figures: bool = True,
    callbacks: Sequence[Callback] = (),
) -> RunResult:
    """Train a model as configured; with ``out``, record the run in that directory.

    The data, the model (and for greedy runs every stage) and the trainer are built before
    the run directory is created, so a configuration mistake (an unknown model, a bad model
    option, a model that cannot be stacked) leaves no half-made run behind.
    """
    data = prepare_data(config.data)
    if config.train.greedy:
        from aekit.training.greedy import greedy_stack, train_greedy

        stack = greedy_stack(config, data)
        run = RunDir.create(out, config, overwrite=overwrite) if out is not None else None
        model, history = train_greedy(config, data, run, log, progress, callbacks, stack=stack)
    else:
        trainer = build_trainer(config, data, None, log, progress, callbacks)
        run = RunDir.create(out, config, overwrite=overwrite) if out is not None else None
        trainer.run = run  # the trainer only records into it from fit() on
        begin_callbacks(trainer)
        model, history = trainer.model, trainer.fit(data.train, data.val)
    if run is not None and figures:
        from aekit.figures.run_figures import write_run_figures

        write_run_figures(run, model, data, history)
    return RunResult(run, model, data, history)


def resume(
    path: str | os.PathLike,
    *,
    epochs: int | None = None,
    log: Callable[[str], None] | None = None,
    progress: bool = False,
    figures: bool = True,
    callbacks: Sequence[Callback] = (),
) -> RunResult:
    """Continue an interrupted (or finished, with more ``epochs``) run from its checkpoint."""
    run = RunDir.open(path)
    config = run.load_config()
    if config.train.greedy:
        raise AekitError(f"{run.path} is a greedy layer-wise run; those cannot be resumed")
    if epochs is not None:
        config = config.with_overrides({"train.epochs": epochs})
    data = prepare_data(config.data)
    trainer = build_trainer(config, data, run, log, progress, callbacks)
    if run.checkpoint.is_file():
        trainer.resume()
    elif log is not None:
        log(f"{run.path} has no checkpoint yet: starting from epoch 1")
    if trainer.stopped_early:  # training on would stop again after one more epoch
        raise AekitError(
            f"{run.path} stopped early at epoch {trainer.epoch} ({trainer.patience_used}): "
            f"it is finished; its best weights are in {run.model}"
        )
    if trainer.epoch >= config.train.epochs:
        raise AekitError(
            f"{run.path} has already trained {trainer.epoch} epochs; "
            f"give --epochs N with N > {trainer.epoch} to train it further"
        )
    if epochs is not None:
        from aekit.io import write_yaml

        write_yaml(run.config, config.to_dict())
    begin_callbacks(trainer)
    history = trainer.fit(data.train, data.val)
    if figures:
        from aekit.figures.run_figures import write_run_figures

        write_run_figures(run, trainer.model, data, history)
    return RunResult(run, trainer.model, data, history)
