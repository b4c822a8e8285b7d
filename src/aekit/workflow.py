"""Whole runs, as ``aekit train`` does them: config -> data -> model -> trainer -> run
directory -> figures.

The data, the model (and for greedy runs every stage) and the trainer are built before the
run directory is created, so a configuration mistake (an unknown model, a bad model option, a
model that cannot be stacked) leaves no half-made run behind. ``config.yaml`` records the
training values the run used, the model's training defaults included, and the data file's
absolute path. While a run is written, its directory is locked against a second writer; a
resume first repairs what a killed process left half written (see :meth:`Run.repair`).

Under torchrun every process runs these functions: each reads the data and builds the model,
rank 0 alone writes the run directory, and every process checks that it sees the folder rank
0 writes (a resume reads the checkpoint on every machine). See ``training/distributed.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aekit.config import RunConfig
from aekit.data.sources import absolute_source
from aekit.data.splits import prepare_data
from aekit.errors import AekitError
from aekit.figures.kinds import figures_missing, finish_figures, write_run_figures
from aekit.io import write_yaml
from aekit.runs.directory import Run
from aekit.runs.lock import lock_text, writing
from aekit.training.distributed import World, joined, together
from aekit.training.greedy import greedy_stack, train_greedy
from aekit.training.trainer import Callback, build_trainer

if TYPE_CHECKING:
    from aekit.data.splits import DataBundle
    from aekit.training.trainer import Trainer

Log = Callable[[str], None] | None


def train(
    config: RunConfig,
    out: str | os.PathLike[str] | None = None,
    *,
    overwrite: bool = False,
    log: Log = None,
    progress: bool = False,
    figures: bool = True,
    callbacks: Sequence[Callback] = (),
) -> Run:
    """Train a model as configured; with ``out``, record the run in that directory (and draw
    its figures there, unless ``figures`` is False). Returns the :class:`Run`. Under torchrun
    the processes train it together; the others return a :class:`Run` without a folder."""
    config = config.with_overrides({"data.dataset": absolute_source(config.data.dataset)})
    with contextlib.ExitStack() as held:  # the lock outlives the process group: figures
        with joined(config.train.device, config.train.dist_timeout) as world:
            data = together(world, lambda: prepare_data(config.data))
            if config.train.greedy:
                together(world, _single_process("--greedy", world))
                return _train_greedy(
                    config, data, out, overwrite, log, progress, figures, callbacks
                )
            writes = out
            if world is not None and not world.main:
                log, progress, callbacks, writes = None, False, (), None
            trainer = together(
                world, lambda: build_trainer(config, data, None, log, progress, callbacks, world)
            )
            used = dataclasses.replace(config, train=trainer.cfg)
            held.enter_context(_locked(writes, world, shared=out))
            run = together(world, lambda: _new_run(writes, used, data, overwrite))
            trainer.attach(run)
            trainer.fit(data.train, data.val)
            run.model = trainer.model
        _finish(run, figures)  # by rank 0 alone (the others' runs have no folder)
    return run


def _train_greedy(
    config: RunConfig,
    data: DataBundle,
    out: str | os.PathLike[str] | None,
    overwrite: bool,
    log: Log,
    progress: bool,
    figures: bool,
    callbacks: Sequence[Callback],
) -> Run:
    stack = greedy_stack(config, data)
    used = _with_training_defaults(config, stack[0].train_defaults)
    with _locked(out):
        run = _new_run(out, used, data, overwrite)
        train_greedy(used, run, log, progress, callbacks, stack=stack)
        _finish(run, figures)
    return run


def _single_process(what: str, world: World | None) -> Callable[[], None]:
    def refuse() -> None:
        if world is not None:
            raise AekitError(f"{what} trains in one process; run it without torchrun")

    return refuse


def resume(
    path: str | os.PathLike[str],
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
    checked = Run.open(path)  # a run directory, or a clear error before anything is locked
    train_cfg = checked.config.train
    with contextlib.ExitStack() as held:  # the lock outlives the process group: figures
        with joined(train_cfg.device, train_cfg.dist_timeout) as world:
            main = world is None or world.main
            if not main:
                log, progress, callbacks, figures = None, False, (), False
            say = log or (lambda _message: None)
            held.enter_context(_locked(checked.path if main else None, world, checked.path))
            run = together(world, lambda: _reopened(path, data_dir, main, say))
            # A config written by an older aekit leaves some training values unset: it
            # trained with the general defaults then, so it goes on with them.
            overrides = {} if epochs is None else {"train.epochs": epochs}
            config = run.config.with_overrides(overrides)
            run.config = config = dataclasses.replace(config, train=config.train.with_defaults({}))
            recorded = run if main else None
            trainer = together(
                world,
                lambda: build_trainer(config, run.data, recorded, log, progress, callbacks, world),
            )
            if _decided_by_rank_0(world, run.checkpoint_file.is_file()):
                together(world, lambda: trainer.resume(run))
            else:
                say(f"{run.path} has no checkpoint yet: starting from epoch 1")
            if trainer.stopped_early or trainer.epoch >= config.train.epochs:
                return _finished(run, trainer, figures, say)
            if epochs is not None and main:  # the file's own data section is kept
                stored = RunConfig.load(run.config_file)
                stored = dataclasses.replace(stored, train=trainer.cfg)
                write_yaml(run.config_file, stored.to_dict())
            trainer.fit(run.data.train, run.data.val)
            run.model = trainer.model
        _finish(run, figures)
    return run


def _decided_by_rank_0(world: World | None, answer: bool) -> bool:
    """Rank 0's answer on every rank (two machines' file caches may disagree a moment)."""
    if world is None:
        return answer
    return world.gather_text("yes" if answer else "")[0] == "yes"


def _reopened(
    path: str | os.PathLike[str], data_dir: str | None, main: bool, say: Callable[[str], None]
) -> Run:
    """The run, read again under its lock; rank 0 first rebuilds what a kill left half
    written (the others read it after: :func:`together` waits for every rank)."""
    run = Run.open(path, data_dir=data_dir)
    if main:
        run.remove_orphans()
        repaired = run.repair()
        if repaired:
            say(f"{run.path} was interrupted while it saved an epoch: {repaired}")
    if run.config.train.greedy:
        raise AekitError(f"{run.path} is a greedy layer-wise run; those cannot be resumed")
    return run


def _finished(run: Run, trainer: Trainer, figures: bool, say: Callable[[str], None]) -> Run:
    """A run whose training is over: draw the figures it lacks (training ended before they
    were drawn), or say why there is nothing to resume."""
    world = trainer.world  # rank 0 decides, the others follow it through the end of training
    draw = _decided_by_rank_0(world, figures and bool(figures_missing(run)))
    if draw:
        trainer.fit(run.data.train, run.data.val)  # no epoch left: the end of training only
        run.model = trainer.model
        if world is None or world.main:
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
def _locked(
    out: str | os.PathLike[str] | None,
    world: World | None = None,
    shared: str | os.PathLike[str] | None = None,
) -> Iterator[None]:
    """The run directory's write lock, when the run has one. Under torchrun rank 0 takes it
    (``out`` is None on the other ranks), and every rank must then see rank 0's lock file in
    ``shared`` (default: ``out``): a folder on one machine's own disk is refused before any
    training, and one this refusal created is removed again."""
    if world is None:
        if out is None:
            yield
            return
        with writing(Path(out)):
            yield
        return
    with contextlib.ExitStack() as stack:
        given = shared or out
        folder = Path(given) if given is not None else None
        created = world.main and folder is not None and not folder.exists()
        target = None if out is None else Path(out)
        together(world, lambda: target is not None and stack.enter_context(writing(target)))
        try:
            together(world, _sees_lock(world, folder))
        except AekitError:
            stack.close()
            if created and folder is not None:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # empty again once the lock is released
            raise
        yield


def _sees_lock(world: World, folder: Path | None) -> Callable[[], None]:
    """An action that fails on a rank that does not see rank 0's lock file in ``folder``."""

    def check() -> None:
        text = world.gather_text(lock_text(folder) if world.main and folder else "")[0]
        if folder is not None and text and lock_text(folder) != text:
            raise AekitError(
                f"{folder} is not shared with this machine ({socket.gethostname()}): rank 0 "
                "writes the run directory and every process reads it; put it on a file "
                "system all machines mount"
            )

    return check


def _with_training_defaults(config: RunConfig, preferred: dict[str, Any]) -> RunConfig:
    return dataclasses.replace(config, train=config.train.with_defaults(preferred))


def _new_run(
    out: str | os.PathLike[str] | None, config: RunConfig, data: DataBundle, overwrite: bool
) -> Run:
    """The run directory at ``out`` (created now), or a run kept in memory only."""
    if out is None:
        return Run(None, config, data=data, history=[])
    run = Run.create(out, config, overwrite=overwrite, data=data)
    run.remove_orphans()
    return run
