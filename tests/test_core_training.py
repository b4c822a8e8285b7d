"""The trainer and run directory: determinism, resume, divergence, the PCA bar."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from sklearn.decomposition import PCA

from aekit.config import RunConfig
from aekit.errors import AekitError
from aekit.evaluation import evaluate_model
from aekit.runs import Run
from aekit.runs.checkpoint import load_model
from aekit.training import TrainingDiverged
from aekit.workflow import resume, train
from tests.conftest import ScaleWeightsAfterEpoch, quick_config


def _weights(path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def test_run_directory_layout(tmp_path):
    run = train(quick_config(), tmp_path / "run")
    for path in (run.config_file, run.model_file, run.checkpoint_file, run.metrics_file):
        assert path.is_file(), path
    rows = [json.loads(line) for line in run.metrics_file.read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert {"train_loss", "val_loss", "seconds"} <= set(rows[0])
    assert (run.figures / "reconstructions.png").stat().st_size > 1000
    assert (run.figures / "curves.png").stat().st_size > 1000
    # config.yaml is the config, with the training values it left to the defaults filled in
    saved = RunConfig.load(run.config_file)
    assert (
        saved.to_dict()
        == quick_config()
        .with_overrides({"train.lr": 1e-3, "train.lr_schedule": "constant"})
        .to_dict()
    )


def test_same_seed_same_numbers(tmp_path):
    a = train(quick_config(), tmp_path / "a").history
    b = train(quick_config(), tmp_path / "b").history
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in a]
    assert strip == [{k: v for k, v in row.items() if k != "seconds"} for row in b]
    c = train(quick_config(train={"seed": 1}), tmp_path / "c").history
    assert c[-1]["val_loss"] != a[-1]["val_loss"]


@pytest.mark.parametrize(
    "sections",
    [
        {},
        {  # every source of randomness: reparameterisation, dynamic binarization, noise
            "model": {"name": "vae", "latent_dim": 4, "hidden": [32]},
            "data": {"binarize": "dynamic", "noise": "gaussian:0.3"},
        },
        # channels-last weights: the checkpoint's contiguous Adam averages must be laid out
        # like them again, or fused Adam updates the wrong elements
        {"model": {"name": "conv-ae", "channels": [4, 4]}, "data": {"limit": 200}},
    ],
    ids=["ae", "vae-dynamic-noise", "conv-ae-channels-last"],
)
def test_resume_equals_uninterrupted(tmp_path, sections):
    full = train(quick_config(**sections, train={"epochs": 4}), tmp_path / "full")
    cut = train(quick_config(**sections, train={"epochs": 2}), tmp_path / "cut")
    resumed = resume(cut.path, epochs=4)
    final_full, final_resumed = _weights(full.model_file), _weights(resumed.model_file)
    assert final_full.keys() == final_resumed.keys()
    for key in final_full:
        assert torch.equal(final_full[key], final_resumed[key]), key
    assert [r["epoch"] for r in resumed.read_metrics()] == [1, 2, 3, 4]
    assert resumed.history[-1]["val_loss"] == full.history[-1]["val_loss"]


class _PoisonAfterFirstEpoch:
    """Simulate a blow-up: weights become NaN once epoch 1 has been checkpointed."""

    def on_epoch_end(self, trainer, metrics):
        if metrics["epoch"] == 1:
            with torch.no_grad():
                next(trainer.model.parameters()).fill_(float("nan"))

    def on_train_end(self, trainer):
        pass


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    config = quick_config(train={"epochs": 3})
    with pytest.raises(TrainingDiverged, match=r"epoch 2.*last good checkpoint \(epoch 1\)"):
        train(config, tmp_path / "run", callbacks=[_PoisonAfterFirstEpoch()])
    model = load_model(tmp_path / "run" / "model.safetensors")
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert [r["epoch"] for r in Run.open(tmp_path / "run").read_metrics()] == [1]


def test_early_stopping_keeps_best_weights(tmp_path):
    config = quick_config(train={"epochs": 6, "early_stopping": 1})
    result = train(config, tmp_path / "run", callbacks=[ScaleWeightsAfterEpoch()])
    history = result.history
    assert len(history) == 2 and history[1]["val_loss"] > history[0]["val_loss"]
    reloaded = load_model(result.model_file)
    best = history[0]["val_loss"] * reloaded.input_dim  # per-element -> per-example
    assert evaluate_model(reloaded, result.data.val)["recon_bce"] * reloaded.input_dim == (
        pytest.approx(best, rel=1e-4)
    )
    for mine, saved in zip(result.model.parameters(), reloaded.parameters()):
        assert torch.equal(mine.cpu(), saved)


def test_resuming_an_early_stopped_run_says_it_is_finished(tmp_path):
    config = quick_config(train={"epochs": 6, "early_stopping": 1})
    run = train(config, tmp_path / "run", callbacks=[ScaleWeightsAfterEpoch()])
    metrics = run.metrics_file.read_text()
    with pytest.raises(AekitError, match=r"stopped early at epoch 2 .*it is finished"):
        resume(run.path, epochs=8)
    assert run.metrics_file.read_text() == metrics


def test_ae_beats_pca_on_held_out_mnist(mnist_dir):
    """A 16-d MLP autoencoder reconstructs unseen digits better than 16-component PCA."""
    config = RunConfig.from_dict(
        {
            "model": {"name": "ae", "latent_dim": 16, "hidden": [256], "recon_loss": "mse"},
            "data": {"dataset": "mnist", "data_dir": str(mnist_dir), "limit": 10000},
            "train": {"epochs": 6, "batch_size": 128, "lr": 2e-3},
        }
    )
    result = train(config, None)
    ae_mse = evaluate_model(result.model, result.data.test)["recon_mse"]
    x_train = result.data.train.x.flatten(1).numpy()
    x_test = result.data.test.x.flatten(1).numpy()
    pca = PCA(16).fit(x_train)
    pca_mse = float(np.mean((pca.inverse_transform(pca.transform(x_test)) - x_test) ** 2))
    assert len(x_test) == 10000
    assert ae_mse < 0.8 * pca_mse, (ae_mse, pca_mse)


def test_bf16_mixed_precision_trains_close_to_fp32(tmp_path):
    fp32 = train(quick_config(train={"epochs": 3}), None).history[-1]["val_loss"]
    bf16 = train(quick_config(train={"epochs": 3, "precision": "bf16"}), None).history[-1][
        "val_loss"
    ]
    assert abs(bf16 - fp32) / fp32 < 0.05


def _inputs_seen_per_epoch(config: RunConfig) -> list[dict[bytes, torch.Tensor]]:
    """For each epoch of ``fit``: clean example (as bytes) -> the input the model was given."""
    from aekit.data import prepare_data
    from aekit.training import build_trainer

    data = prepare_data(config.data)
    trainer = build_trainer(config, data)
    pairs: list[tuple[bytes, torch.Tensor]] = []
    loss_terms = trainer.model.loss_terms

    def recording(x, target, y=None):
        if trainer.model.training:  # not the validation passes
            pairs.extend((t.numpy().tobytes(), i.detach().clone()) for i, t in zip(x, target))
        return loss_terms(x, target, y)

    trainer.model.loss_terms = recording
    trainer.fit(data.train, data.val)
    n = len(data.train.x)
    assert len(pairs) == config.train.epochs * n
    return [dict(pairs[e * n : (e + 1) * n]) for e in range(config.train.epochs)]


@pytest.mark.parametrize("once", [False, True])
def test_noise_once_feeds_each_example_the_same_corrupted_input(once):
    config = quick_config(data={"noise": "gaussian:0.5", "noise_once": once, "limit": 200})
    first, second = _inputs_seen_per_epoch(config)
    assert first.keys() == second.keys()
    same = [torch.equal(first[key], second[key]) for key in first]
    assert all(same) if once else not any(same)
    clean = [torch.frombuffer(bytearray(key), dtype=torch.float32) for key in first]
    assert not any(torch.equal(first[k].flatten(), c) for k, c in zip(first, clean))


def test_noise_once_needs_noise():
    with pytest.raises(AekitError, match="noise_once needs --noise"):
        quick_config(data={"noise_once": True})
