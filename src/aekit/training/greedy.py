"""Greedy layer-wise training (S11): one shallow autoencoder per layer, then the stack.

Stage ``i`` trains a one-hidden-layer autoencoder ``sizes[i] -> sizes[i + 1] -> sizes[i]``
on the codes that the stages before it produce; its weights then become layer ``i`` of the
stacked encoder and the mirror layer of the decoder. Optionally the whole stack is
fine-tuned end to end afterwards. Every stage is trained by the one :class:`Trainer`.

Any dense model (:class:`~aekit.models.mlp.DenseAutoencoder`: ``layer_sizes`` and
``layer_parameters(i)``) can be stacked, unless it says why not (``greedy_refusal``).

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
from typing import Any

import torch

from aekit.config import RunConfig, TrainConfig
from aekit.data.splits import DataBundle, Split
from aekit.data.transforms import parse_noise
from aekit.errors import AekitError
from aekit.models.base import MODELS, Autoencoder, build_model, model_options
from aekit.models.mlp import DenseAutoencoder
from aekit.runs import inference
from aekit.runs.directory import Run
from aekit.training.optim import LossWeights
from aekit.training.trainer import Callback, Trainer, resolve_device, seed_everything


def greedy_model_names() -> list[str]:
    """The registered models that greedy layer-wise training (``--greedy``) can stack."""
    return sorted(
        name
        for name, cls in MODELS.items()
        if issubclass(cls, DenseAutoencoder) and not cls.greedy_refusal
    )


def greedy_unavailable(name: str, reason: str) -> AekitError:
    """The one refusal of ``--greedy`` for a model it cannot stack, naming those it can."""
    *rest, last = greedy_model_names()
    names = f"{', '.join(rest)} or {last}" if rest else last
    return AekitError(
        f"greedy layer-wise training is not available for {name} ({reason}); "
        f"use {names}, or train {name} without --greedy"
    )


def stage_model(model: DenseAutoencoder, index: int) -> DenseAutoencoder:
    """A one-hidden-layer autoencoder of the same kind for layer ``index``:
    ``sizes[index] -> sizes[index + 1] -> sizes[index]``.

    The first stage reconstructs the data with the model's own loss. Later stages reconstruct
    the previous stage's real-valued codes, so they use MSE and a linear output (Keras' S11
    uses a SELU output there; with ReLU codes, which are never negative, the stacked decoder's
    activation then changes nothing; fine-tuning settles the rest).
    """
    sizes = model.layer_sizes
    last = index == len(sizes) - 2
    options = {
        **model.hparams,
        "hidden": [],
        "latent_dim": sizes[index + 1],
        "activation": model.hidden_activation,
        "code_activation": model.code_activation if last else model.hidden_activation,
        "recon_loss": model.recon_loss if index == 0 else "mse",
        "output": model.output if index == 0 else "linear",
    }
    accepted = model_options(type(model))  # pinned options (linear-ae's) are not passed
    options = {key: value for key, value in options.items() if key in accepted}
    shape = model.input_shape if index == 0 else (sizes[index],)
    return type(model)(shape, num_classes=model.num_classes, **options)


@torch.no_grad()
def adopt_stage(model: DenseAutoencoder, index: int, stage: DenseAutoencoder) -> None:
    """Copy a trained stage's weights into layer ``index`` of the stack."""
    for mine, theirs in zip(model.layer_parameters(index), stage.layer_parameters(0)):
        mine.copy_(theirs)


@dataclass
class StageRecorder:
    """Trainer callback: tag each epoch's metrics with its stage and a run-wide epoch, and
    record them in the run."""

    stage: str
    run: Run
    first_epoch: int = field(init=False)

    def __post_init__(self) -> None:
        self.first_epoch = len(self.run.history)

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, Any]) -> None:
        row = {
            "stage": self.stage,
            "epoch": self.first_epoch + metrics["epoch"],
            "stage_epoch": metrics["epoch"],
            **{k: v for k, v in metrics.items() if k != "epoch"},
        }
        self.run.append_metrics(row)

    def on_train_end(self, trainer: Trainer) -> None:
        """Nothing to finish: rows are written as they come."""


def stackable_model(config: RunConfig, data: DataBundle) -> DenseAutoencoder:
    """Build the configured model, refusing one that cannot be trained layer by layer."""
    model = build_model(config.model, data.shape, data.num_classes)
    if not isinstance(model, DenseAutoencoder):
        raise greedy_unavailable(
            model.name, "it is not a stack of dense layers that can be trained one at a time"
        )
    if model.greedy_refusal:  # e.g. sparse-ae's penalty on the code
        raise greedy_unavailable(model.name, model.greedy_refusal)
    if len(model.layer_sizes) < 3:
        raise AekitError(
            f"--greedy needs at least two layers to stack, but this {model.name!r} has a single "
            f"layer ({model.layer_sizes[0]} -> {model.layer_sizes[-1]}); give hidden sizes, "
            "e.g. --hidden 100"
        )
    return model


def greedy_stack(
    config: RunConfig, data: DataBundle
) -> tuple[DenseAutoencoder, list[DenseAutoencoder]]:
    """Seed, then build the model and one shallow autoencoder per layer (its stages).

    Everything a greedy run can refuse is checked here, before any training: the model, its
    stacking, the stages and the device.
    """
    seed_everything(config.train.seed)
    model = stackable_model(config, data)
    stages = [stage_model(model, i) for i in range(len(model.layer_sizes) - 1)]
    resolve_device(config.train.device)
    LossWeights(config.train.weight_schedules, model)  # a schedule the model cannot follow
    return model, stages


def train_greedy(
    config: RunConfig,
    run: Run,
    log: Callable[[str], None] | None = None,
    progress: bool = False,
    callbacks: Sequence[Callback] = (),
    *,
    stack: tuple[DenseAutoencoder, list[DenseAutoencoder]] | None = None,
) -> Autoencoder:
    """Train each layer in turn, stack them, optionally fine-tune; return the stacked model.

    ``run`` holds the data (and the directory, if any) and receives every epoch's row;
    ``stack`` is what :func:`greedy_stack` built (built here when not given). ``callbacks``
    follow the fine-tuning only: they expect the whole model on data inputs.
    """
    data = run.data
    model, stages = stack if stack is not None else greedy_stack(config, data)
    say = log or (lambda _msg: None)
    train, val = Split(data.train.x, None), Split(data.val.x, None)
    for index, stage in enumerate(stages):
        sizes = model.layer_sizes[index : index + 2]
        say(f"stage layer{index + 1}: {sizes[0]} -> {sizes[1]} -> {sizes[0]}")
        recorder = StageRecorder(f"layer{index + 1}", run)
        _trainer(stage, config, config.train, index == 0, [recorder], log, progress).fit(train, val)
        adopt_stage(model, index, stage)
        train = Split(inference.encode(stage, train.x), None)
        val = Split(inference.encode(stage, val.x), None)
    if config.train.greedy_finetune_epochs:
        say(f"fine-tuning the whole stack for {config.train.greedy_finetune_epochs} epochs")
        cfg = dataclasses.replace(config.train, epochs=config.train.greedy_finetune_epochs)
        recorder = StageRecorder("finetune", run)
        trainer = _trainer(model, config, cfg, True, [recorder, *callbacks], log, progress, run)
        trainer.fit(data.train, data.val)
    run.save_model(model)
    return model


def _trainer(
    model: Autoencoder,
    config: RunConfig,
    cfg: TrainConfig,
    data_space: bool,
    callbacks: Sequence[Callback],
    log: Callable[[str], None] | None,
    progress: bool,
    run: Run | None = None,
) -> Trainer:
    """A trainer for one stage; corruption applies only where inputs are the data itself.
    The stages' rows are recorded by their :class:`StageRecorder`, not by the trainer; the
    fine-tuning shows its callbacks the run (to draw from its data) without recording."""
    noise = parse_noise(config.data.noise) if config.data.noise and data_space else None
    return Trainer(
        model,
        cfg,
        noise=noise,
        noise_once=noise is not None and config.data.noise_once,
        dynamic_binarize=data_space and config.data.binarize == "dynamic",
        run=run,
        record=False,
        callbacks=callbacks,
        log=log,
        progress=progress,
    )
