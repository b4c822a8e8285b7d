"""Greedy layer-wise training (S11): one shallow autoencoder per layer, then the stack.

Stage ``i`` trains a one-hidden-layer autoencoder ``sizes[i] -> sizes[i + 1] -> sizes[i]``
on the codes that the stages before it produce; its weights then become layer ``i`` of the
stacked encoder and the mirror layer of the decoder. Optionally the whole stack is
fine-tuned end to end afterwards. Every stage is trained by the one :class:`Trainer`.

``metrics.jsonl`` gets one row per epoch of every stage, with a ``stage`` field (``layer1``,
``layer2``, ..., ``finetune``), the epoch within the stage (``stage_epoch``) and a run-wide
``epoch`` that keeps counting across stages. Noise and dynamic binarization act on data-space
inputs only, i.e. in the first stage and the fine-tuning. Greedy runs keep no resumable
checkpoint; each stage ends with its last epoch's weights.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch

from aekit.config import RunConfig, TrainConfig
from aekit.data.splits import DataBundle, Split
from aekit.data.transforms import parse_noise
from aekit.errors import AekitError
from aekit.models.base import Autoencoder, build_model
from aekit.models.mlp import greedy_unavailable
from aekit.runs import map_batches
from aekit.training.checkpoint import save_model
from aekit.training.rundir import RunDir
from aekit.training.trainer import Callback, Trainer, resolve_device, seed_everything


@runtime_checkable
class Stackable(Protocol):
    """What a model offers to be trained layer by layer (see ``models.mlp.LayerwiseStacking``).

    ``layer_sizes`` are the widths from the input to the code; ``stage_model(i)`` is a fresh
    shallow autoencoder for layer ``i``; ``adopt_stage(i, stage)`` copies its trained weights
    into this model.
    """

    layer_sizes: list[int]

    def stage_model(self, index: int) -> Autoencoder: ...

    def adopt_stage(self, index: int, stage: Autoencoder) -> None: ...


@dataclass
class StageRecorder:
    """Trainer callback: tag each epoch's metrics with its stage and a run-wide epoch."""

    stage: str
    first_epoch: int
    run: RunDir | None
    rows: list[dict[str, Any]] = field(default_factory=list)

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, Any]) -> None:
        row = {
            "stage": self.stage,
            "epoch": self.first_epoch + metrics["epoch"],
            "stage_epoch": metrics["epoch"],
            **{k: v for k, v in metrics.items() if k != "epoch"},
        }
        self.rows.append(row)
        if self.run is not None:
            self.run.append_metrics(row)

    def on_train_end(self, trainer: Trainer) -> None:
        """Nothing to finish: rows are written as they come."""


def stackable_model(config: RunConfig, data: DataBundle) -> Autoencoder:
    """Build the configured model, refusing one that cannot be trained layer by layer."""
    model = build_model(config.model, data.shape, data.num_classes)
    if not isinstance(model, Stackable):
        raise greedy_unavailable(
            model.name, "it is not a stack of dense layers that can be trained one at a time"
        )
    refusal = getattr(model, "greedy_refusal", "")  # e.g. sparse-ae's penalty on the code
    if refusal:
        raise greedy_unavailable(model.name, refusal)
    if len(model.layer_sizes) < 3:
        raise AekitError(
            f"--greedy needs at least two layers to stack, but this {model.name!r} has a single "
            f"layer ({model.layer_sizes[0]} -> {model.layer_sizes[-1]}); give hidden sizes, "
            "e.g. --hidden 100"
        )
    return model


def greedy_stack(config: RunConfig, data: DataBundle) -> tuple[Autoencoder, list[Autoencoder]]:
    """Seed, then build the model and one shallow autoencoder per layer (its stages).

    Everything a greedy run can refuse is checked here, before any training: the model, its
    stacking, the stages and the device.
    """
    seed_everything(config.train.seed)
    model = stackable_model(config, data)
    stages = [model.stage_model(i) for i in range(len(model.layer_sizes) - 1)]
    resolve_device(config.train.device)
    return model, stages


def train_greedy(
    config: RunConfig,
    data: DataBundle,
    run: RunDir | None,
    log: Callable[[str], None] | None = None,
    progress: bool = False,
    callbacks: Sequence[Callback] = (),
    *,
    stack: tuple[Autoencoder, list[Autoencoder]] | None = None,
) -> tuple[Autoencoder, list[dict[str, Any]]]:
    """Train each layer in turn, stack them, optionally fine-tune; return model and history.

    ``stack`` is what :func:`greedy_stack` built (built here when not given). ``callbacks``
    follow the fine-tuning only: they expect the whole model on data inputs.
    """
    model, stages = stack if stack is not None else greedy_stack(config, data)
    say = log or (lambda _msg: None)
    history: list[dict[str, Any]] = []
    train, val = Split(data.train.x, None), Split(data.val.x, None)
    for index, stage in enumerate(stages):
        sizes = model.layer_sizes[index : index + 2]
        say(f"stage layer{index + 1}: {sizes[0]} -> {sizes[1]} -> {sizes[0]}")
        recorder = StageRecorder(f"layer{index + 1}", len(history), run)
        trainer = _trainer(stage, config, config.train, index == 0, recorder, log, progress)
        trainer.fit(train, val)
        history += recorder.rows
        model.adopt_stage(index, stage)
        train, val = _codes(stage, train, trainer.device), _codes(stage, val, trainer.device)
    if config.train.greedy_finetune_epochs:
        say(f"fine-tuning the whole stack for {config.train.greedy_finetune_epochs} epochs")
        recorder = StageRecorder("finetune", len(history), run)
        cfg = dataclasses.replace(config.train, epochs=config.train.greedy_finetune_epochs)
        trainer = _trainer(model, config, cfg, True, recorder, log, progress, callbacks)
        trainer.fit(data.train, data.val)
        history += recorder.rows
    if run is not None:
        save_model(model, run.model)
    return model, history


def _trainer(
    model: Autoencoder,
    config: RunConfig,
    cfg: TrainConfig,
    data_space: bool,
    recorder: StageRecorder,
    log: Callable[[str], None] | None,
    progress: bool,
    callbacks: Sequence[Callback] = (),
) -> Trainer:
    """A trainer for one stage; corruption applies only where inputs are the data itself."""
    noise = parse_noise(config.data.noise) if config.data.noise and data_space else None
    return Trainer(
        model,
        cfg,
        noise=noise,
        noise_once=noise is not None and config.data.noise_once,
        dynamic_binarize=data_space and config.data.binarize == "dynamic",
        callbacks=[recorder, *callbacks],
        log=log,
        progress=progress,
    )


@torch.no_grad()
def _codes(stage: Autoencoder, split: Split, device: torch.device) -> Split:
    """The next stage's data: this stage's codes of every example."""
    stage.eval()
    codes = map_batches(lambda xb, _yb: stage.encode(xb.to(device)).cpu(), split.x)
    return Split(codes, None)
