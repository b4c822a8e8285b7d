"""Whole runs, as ``aekit train`` does them: config -> data -> model -> trainer -> run
directory -> figures.

The data, the model (and for greedy runs every stage) and the trainer are built before the
run directory is created, so a configuration mistake (an unknown model, a bad model option, a
model that cannot be stacked) leaves no half-made run behind. ``config.yaml`` records the
training values the run used, the model's training defaults included, and the data file's
absolute path. While a run is written, its directory is locked against a second writer; a
resume first repairs what a killed process left half written (see :meth:`Run.repair`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from aekit.config import RunConfig
from aekit.data.sources import absolute_source
from aekit.data.splits import prepare_data
from aekit.errors import AekitError
from aekit.figures.kinds import figures_missing, finish_figures, write_run_figures
from aekit.io import write_yaml
from aekit.runs.directory import Run
from aekit.runs.lock import writing
from aekit.training.greedy import greedy_stack, train_greedy
from aekit.training.trainer import Callback, build_trainer

Log = Callable[[str], None] | None


def train(
    config: RunConfig,
    out: str | os.PathLike | None = None,
    *,
    overwrite: bool = False,
    log: Log = None,
    progress: bool = False,
    figures: bool = True,
    callbacks: Sequence[Callback] = (),
) -> Run:
    """Train a model as configured; with ``out``, record the run in that directory (and draw
    its figures there, unless ``figures`` is False). Returns the :class:`Run`."""
    config = config.with_overrides({"data.dataset": absolute_source(config.data.dataset)})
    data = prepare_data(config.data)
    if config.train.greedy:
        stack = greedy_stack(config, data)
        used = _with_training_defaults(config, stack[0].train_defaults)
        with _locked(out):
            run = _new_run(out, used, data, overwrite)
            train_greedy(used, run, log, progress, callbacks, stack=stack)
            _finish(run, figures)
        return run
    trainer = build_trainer(config, data, None, log, progress, callbacks)
    used = dataclasses.replace(config, train=trainer.cfg)
    with _locked(out):
        run = _new_run(out, used, data, overwrite)
        trainer.attach(run)
        trainer.fit(data.train, data.val)
        run.model = trainer.model
        _finish(run, figures)
    return run


def resume(
    path: str | os.PathLike,
    *,
    epochs: int | None = None,
    data_dir: str | None = None,
    log: Log = None,
    progress: bool = False,
    figures: bool = True,
    callbacks: Sequence[Callback] = (),
) -> Run:
    """Continue an interrupted (or finished, with more ``epochs``) run from its checkpoint; a
    run whose training ended but whose figures were not all drawn gets them drawn.
    ``data_dir`` says where the run's data set is now, when its folder has moved."""
    say = log or (lambda _message: None)
    checked = Run.open(path)  # a run directory, or a clear error before anything is locked
    with writing(checked.path):
        run = Run.open(path, data_dir=data_dir)  # read again, under the lock
        run.remove_orphans()
        repaired = run.repair()
        if repaired:
            say(f"{run.path} was interrupted while it saved an epoch: {repaired}")
        if run.config.train.greedy:
            raise AekitError(f"{run.path} is a greedy layer-wise run; those cannot be resumed")
        # A config written by an older aekit leaves some training values unset: it trained
        # with the general defaults then, so it goes on with them (not the model's own).
        overrides = {} if epochs is None else {"train.epochs": epochs}
        config = run.config.with_overrides(overrides)
        run.config = config = dataclasses.replace(config, train=config.train.with_defaults({}))
        trainer = build_trainer(config, run.data, run, log, progress, callbacks)
        if run.checkpoint_file.is_file():
            trainer.resume()
        else:
            say(f"{run.path} has no checkpoint yet: starting from epoch 1")
        if trainer.stopped_early or trainer.epoch >= config.train.epochs:
            return _finished(run, trainer, figures, say)
        if epochs is not None:  # the file's own data section: a folder it names is kept
            stored = RunConfig.load(run.config_file)
            write_yaml(run.config_file, dataclasses.replace(stored, train=trainer.cfg).to_dict())
        trainer.fit(run.data.train, run.data.val)
        run.model = trainer.model
        _finish(run, figures)
    return run


def _finished(run: Run, trainer, figures: bool, say) -> Run:
    """A run whose training is over: draw the figures it lacks (training ended before they
    were drawn), or say why there is nothing to resume."""
    if figures and figures_missing(run):
        trainer.fit(run.data.train, run.data.val)  # no epoch left: the end of training only
        run.model = trainer.model
        finish_figures(run)
        say(f"{run.path} had finished training; its figures are drawn now")
        return run
    if trainer.stopped_early:  # training on would stop again after one more epoch
        raise AekitError(
            f"{run.path} stopped early at epoch {trainer.epoch} ({trainer.patience_used}): "
            f"it is finished; its best weights are in {run.model_file}"
        )
    raise AekitError(
        f"{run.path} has already trained {trainer.epoch} epochs; "
        f"give --epochs N with N > {trainer.epoch} to train it further"
    )


def _finish(run: Run, figures: bool) -> None:
    if figures and run.path is not None:
        write_run_figures(run)


@contextlib.contextmanager
def _locked(out: str | os.PathLike | None) -> Iterator[None]:
    """The run directory's write lock, when the run has one."""
    if out is None:
        yield
        return
    with writing(Path(out)):
        yield


def _with_training_defaults(config: RunConfig, preferred: dict) -> RunConfig:
    return dataclasses.replace(config, train=config.train.with_defaults(preferred))


def _new_run(out, config: RunConfig, data, overwrite: bool) -> Run:
    """The run directory at ``out`` (created now), or a run kept in memory only."""
    if out is None:
        return Run(None, config, data=data, history=[])
    run = Run.create(out, config, overwrite=overwrite, data=data)
    run.remove_orphans()
    return run
