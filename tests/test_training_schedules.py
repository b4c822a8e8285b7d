"""Learning-rate and loss-weight schedules: PyTorch's formulas, exact resumes, ``--compile``,
and the capacity objective of Burgess et al. (2018) pulling the KL to its target."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file

from aekit.config import RunConfig, TrainConfig
from aekit.data.splits import Split
from aekit.errors import AekitError
from aekit.io import CACHE_ENV
from aekit.models import build_model
from aekit.runs import Run
from aekit.training import Trainer
from aekit.training.optim import LearningRate, LossWeights
from aekit.workflow import resume, train
from tests.conftest import ScaleWeightsAfterEpoch, quick_config

STEPS_PER_EPOCH = 7


def torch_lrs(scheduler_of, steps: int, base: float = 0.1) -> list[float]:
    """The learning rate PyTorch's scheduler gives each of ``steps`` optimiser steps."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base)
    scheduler = scheduler_of(optimizer)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def ours(steps: int, **options) -> list[float]:
    schedule = LearningRate(TrainConfig(lr=0.1, **options), STEPS_PER_EPOCH)
    return [schedule.at(step) for step in range(steps)]


def test_step_schedule_is_steplr():
    steps = 10 * STEPS_PER_EPOCH
    expected = torch_lrs(
        lambda o: torch.optim.lr_scheduler.StepLR(o, 3 * STEPS_PER_EPOCH, gamma=0.5), steps
    )
    got = ours(steps, epochs=10, lr_schedule="step", lr_step=3, lr_gamma=0.5)
    assert got == pytest.approx(expected, rel=1e-12)


def test_cosine_schedule_after_warmup_is_linearlr_then_cosineannealinglr():
    epochs, warmup = 10, 2 * STEPS_PER_EPOCH
    total = epochs * STEPS_PER_EPOCH

    def warm_then_cosine(optimizer):
        scheduler = torch.optim.lr_scheduler
        return scheduler.SequentialLR(
            optimizer,
            [
                scheduler.LinearLR(optimizer, 1 / warmup, 1.0, total_iters=warmup - 1),
                scheduler.CosineAnnealingLR(optimizer, T_max=total - warmup, eta_min=0.001),
            ],
            milestones=[warmup],
        )

    expected = torch_lrs(warm_then_cosine, total)
    got = ours(total, epochs=epochs, lr_schedule="cosine", warmup_epochs=2, lr_min=0.001)
    assert got == pytest.approx(expected, rel=1e-9)
    assert got[0] == pytest.approx(0.1 / warmup) and got[-1] > 0.001


def test_plateau_schedule_is_reducelronplateau():
    losses = [1.0, 0.9, 0.9, 0.95, 0.9, 0.8, 0.8, 0.8, 0.8, 0.79999, 0.7]
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    reference = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=0.5, patience=1, min_lr=0.02
    )
    schedule = LearningRate(
        TrainConfig(lr=0.1, lr_schedule="plateau", lr_gamma=0.5, lr_patience=1, lr_min=0.02),
        STEPS_PER_EPOCH,
    )
    for loss in losses:
        reference.step(loss)
        schedule.end_epoch(loss)
        assert schedule.at(0) == pytest.approx(optimizer.param_groups[0]["lr"], rel=1e-12)
    assert schedule.decays >= 2  # the sequence did exercise the decay and the floor


def test_loss_weights_move_linearly_after_their_delay():
    model = build_model({"name": "vae", "kl_weight": 3.0}, (4,))
    weights = LossWeights({"kl_weight": {"start": 0.0, "epochs": 2.0, "delay": 1.0}}, model)
    assert [weights.at(t)["kl_weight"] for t in (0, 1, 2, 3, 9)] == [0.0, 0.0, 1.5, 3.0, 3.0]
    with pytest.raises(AekitError, match="no schedulable loss weight 'kl_weight'; it has none"):
        LossWeights({"kl_weight": {"start": 0, "epochs": 1}}, build_model({"name": "ae"}, (4,)))
    with pytest.raises(AekitError, match="give end"):
        LossWeights({"capacity": {"start": 0, "epochs": 1}}, model)


@pytest.mark.parametrize(
    ("schedules", "message"),
    [
        ({"kl_weight": {"epochs": 3}}, "give a mapping with start and epochs"),
        ({"kl_weight": {"start": 0, "epochs": 0}}, "epochs must be > 0"),
        ({"kl_weight": {"start": 0, "epochs": 2, "speed": 1}}, "unknown key"),
        ({"kl_weight": {"start": "x", "epochs": 2}}, "bad start 'x'"),
    ],
)
def test_bad_weight_schedules_are_named(schedules, message):
    with pytest.raises(AekitError, match=message):
        TrainConfig(weight_schedules=schedules)


class _StopAfter:
    """Ctrl-C right after epoch ``epoch`` was recorded (checkpoint, model, metrics)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, trainer, metrics):
        if metrics["epoch"] == self.epoch:
            raise KeyboardInterrupt

    def on_train_end(self, trainer):
        pass


def _rows(run) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in run.read_metrics()]


@pytest.mark.parametrize(
    "train_options",
    [
        {"lr_schedule": "cosine", "warmup_epochs": 1.5, "lr": 3e-3},
        {"lr_schedule": "plateau", "lr_patience": 1, "lr_gamma": 0.5},
        {"lr_schedule": "step", "lr_step": 2, "optimizer": "adamw"},
    ],
    ids=["cosine-warmup", "plateau", "step-adamw"],
)
def test_an_interrupted_scheduled_run_resumes_to_the_uninterrupted_one(tmp_path, train_options):
    """Every value a schedule depends on (the step count, the plateau's state, each step's
    KL weight) is in the checkpoint: the resumed run ends with the same weights and rows."""
    config = quick_config(
        model={"name": "vae", "latent_dim": 4, "hidden": [32]},
        train={
            "epochs": 4,
            "weight_schedules": {"kl_weight": {"start": 0.0, "epochs": 3}},
            **train_options,
        },
    )
    full = train(config, tmp_path / "full", figures=False, callbacks=[ScaleWeightsAfterEpoch(4.0)])
    with pytest.raises(KeyboardInterrupt):
        train(
            config,
            tmp_path / "cut",
            figures=False,
            callbacks=[ScaleWeightsAfterEpoch(4.0), _StopAfter(3)],
        )
    resumed = resume(tmp_path / "cut", figures=False, callbacks=[ScaleWeightsAfterEpoch(4.0)])
    a, b = load_file(str(full.model_file)), load_file(str(resumed.model_file))
    assert all(torch.equal(a[key], b[key]) for key in a)
    assert _rows(resumed) == _rows(full)
    lrs = [row["lr"] for row in _rows(full)]
    assert len(set(lrs)) > 1 and [row["kl_weight"] for row in _rows(full)][-1] == 1.0
    if train_options["lr_schedule"] == "plateau":
        assert lrs[-1] < lrs[0]  # the worse epochs did decay it


def test_adamw_decays_the_weights_apart_from_the_gradient():
    """AdamW's decay (the optimizer's own default, 0.01) shrinks weights that get no gradient;
    Adam without weight decay leaves them alone."""
    data = torch.zeros(64, 6)

    def unused_weights_after(optimizer: str) -> torch.Tensor:
        torch.manual_seed(0)
        model = build_model({"name": "ae", "latent_dim": 2, "hidden": [4]}, (6,))
        weights = model.encoder[0].weight.detach().clone()
        cfg = TrainConfig(epochs=3, batch_size=16, lr=0.1, optimizer=optimizer, device="cpu")
        Trainer(model, cfg).fit(Split(data, None), Split(data, None))
        return model.encoder[0].weight.detach() / weights

    # zero inputs: the first layer's weights get zero gradients
    assert torch.allclose(unused_weights_after("adam"), torch.ones(4, 6))
    assert torch.allclose(unused_weights_after("adamw"), torch.full((4, 6), (1 - 0.1 * 0.01) ** 12))


@pytest.mark.slow  # builds a compiled step of its own (about 16 s)
def test_compiled_step_follows_schedules_and_adamw(monkeypatch, tmp_path):
    """The learning rate and the scheduled loss weights are inputs of the compiled graph."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    options = {
        "optimizer": "adamw",
        "lr_schedule": "cosine",
        "warmup_epochs": 0.5,
        "weight_schedules": {"kl_weight": {"start": 0.0, "epochs": 2}},
    }
    model = {"name": "vae", "latent_dim": 4, "hidden": [32]}
    eager = train(quick_config(model=model, train=options), None).history
    compiled = train(quick_config(model=model, train={**options, "compile": True}), None).history
    assert [r["lr"] for r in compiled] == [r["lr"] for r in eager]
    assert [r["kl_weight"] for r in compiled] == [r["kl_weight"] for r in eager]
    # random numbers drawn inside the graph differ from eager's: close, not equal
    assert compiled[-1]["val_loss"] == pytest.approx(eager[-1]["val_loss"], rel=0.03)


def test_capacity_pulls_the_kl_to_its_target():
    """Burgess et al. (2018): with loss recon + gamma |KL - C| and a large gamma, the KL
    follows C, also while C rises (a capacity schedule)."""

    def val_kl(capacity, schedules=None) -> list[float]:
        config = RunConfig.from_dict(
            {
                "model": {"name": "vae", "latent_dim": 8, "hidden": [128], "kl_weight": 30.0}
                | ({} if capacity is None else {"capacity": capacity}),
                "data": {"limit": 2000},
                "train": {"epochs": 4, "weight_schedules": schedules or {}},
            }
        )
        return [row["val_kl"] for row in train(config, None).history]

    fixed = val_kl(5.0)
    assert fixed[-1] == pytest.approx(5.0, abs=1.0)
    rising = val_kl(None, {"capacity": {"start": 0.0, "end": 8.0, "epochs": 4}})
    assert rising == sorted(rising) and rising[0] < 3.0
    assert rising[-1] == pytest.approx(8.0, abs=1.0)
    plain = val_kl(None)  # no capacity: the weight pulls the KL towards 0 instead
    assert plain[-1] < fixed[-1] - 2.0


def test_schedules_reach_the_cli(tmp_path):
    from click.testing import CliRunner

    from aekit.cli import cli

    out = tmp_path / "run"
    args = ["train", "--model", "vae", "--hidden", "32", "--latent-dim", "2", "--limit", "200"]
    args += ["--epochs", "2", "--lr-schedule", "cosine", "--warmup", "0.5", "--kl-warmup", "2"]
    result = CliRunner().invoke(cli, [*args, "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    config = RunConfig.load(out / "config.yaml")
    assert config.train.lr_schedule == "cosine" and config.train.warmup_epochs == 0.5
    assert config.train.weight_schedules == {"kl_weight": {"start": 0.0, "epochs": 2.0}}
    rows = Run.open(out).read_metrics()
    assert [row["kl_weight"] for row in rows] == [0.5, 1.0]
    assert math.isclose(rows[-1]["lr"], LearningRate(config.train, 2).at(4))  # as epoch 2 ends
