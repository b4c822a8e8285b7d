"""S11: greedy layer-wise training, stage by stage, and the stacking it relies on."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from aekit.cli import cli
from aekit.config import RunConfig
from aekit.errors import AekitError
from aekit.models import build_model
from aekit.runs import Run
from aekit.runs.checkpoint import load_model
from aekit.training.greedy import adopt_stage, greedy_model_names, stage_model
from aekit.workflow import resume, train
from tests.conftest import quick_config


def greedy_config(model: dict, finetune: int = 0, **train_options) -> RunConfig:
    return quick_config(
        model=model,
        data={"limit": 300},
        train={"epochs": 2, "greedy": True, "greedy_finetune_epochs": finetune, **train_options},
    )


@pytest.mark.parametrize("name", ["ae", "tied-ae"])
def test_adopted_stages_compose_into_the_stack(name):
    """encode = stage2.encode . stage1.encode, decode = stage1.decode . act . stage2.decode."""
    torch.manual_seed(0)
    model = build_model({"name": name, "hidden": [12], "latent_dim": 4}, (1, 6, 6))
    stages = [stage_model(model, 0), stage_model(model, 1)]
    assert [s.layer_sizes for s in stages] == [[36, 12], [12, 4]]
    assert stages[1].recon_loss == "mse" and stages[0].recon_loss == model.recon_loss
    for index, stage in enumerate(stages):
        adopt_stage(model, index, stage)
    x, z = torch.rand(5, 1, 6, 6), torch.randn(5, 4)
    with torch.no_grad():
        assert torch.allclose(model.encode(x), stages[1].encode(stages[0].encode(x)))
        inner = torch.relu(stages[1].decode(z))
        assert torch.allclose(model.decode(z), stages[0].decode(inner))


def test_greedy_run_records_each_stage(tmp_path):
    model = {"name": "tied-ae", "hidden": [32], "latent_dim": 8}
    result = train(greedy_config(model, finetune=2), out=tmp_path / "run")
    rows = result.read_metrics()
    assert [r["stage"] for r in rows] == ["layer1"] * 2 + ["layer2"] * 2 + ["finetune"] * 2
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r["stage_epoch"] for r in rows] == [1, 2] * 3
    assert rows == result.history
    for stage in ("layer1", "layer2", "finetune"):
        losses = [r["train_loss"] for r in rows if r["stage"] == stage]
        assert losses[1] < losses[0]
    saved = load_model(result.model_file)
    x = result.data.test.x[:8]
    with torch.no_grad():
        assert torch.equal(saved.encode(x), result.model.encode(x))
    assert (result.figures / "reconstructions.png").is_file()


def test_greedy_stack_reconstructs_without_finetuning(tmp_path):
    """The stacked stages already form a working autoencoder: far better than untrained, and
    nearly as good as the first stage alone (the 64 -> 16 -> 64 detour costs little)."""
    model = {"name": "ae", "hidden": [64], "latent_dim": 16}
    config = greedy_config(model, epochs=5, lr=3e-3)
    result = train(config, out=tmp_path / "run", figures=False)
    assert {r["stage"] for r in result.history} == {"layer1", "layer2"}
    first_stage = [r["val_recon"] for r in result.history if r["stage"] == "layer1"][-1]
    test = result.data.test.x[:200]
    torch.manual_seed(0)
    untrained = build_model(config.model, result.data.shape)
    with torch.no_grad():
        stacked_error = result.model.reconstruction_error(result.model(test), test).mean()
        untrained_error = untrained.reconstruction_error(untrained(test), test).mean()
    assert stacked_error < 0.6 * untrained_error
    assert stacked_error < 1.15 * first_stage


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"name": "conv-ae"}, "not available for conv-ae \\(it is not a stack of dense"),
        ({"name": "recurrent-ae"}, "not available for recurrent-ae \\(it is not a stack"),
        ({"name": "vae"}, "not available for vae \\(it is not a stack of dense layers"),
        (
            {"name": "ae", "hidden": [], "latent_dim": 8},
            "at least two layers.*single layer \\(784 -> 8\\)",
        ),
        ({"name": "linear-ae"}, "at least two layers"),
        ({"name": "sparse-ae", "latent_dim": 16}, "not available for sparse-ae \\(its sparsity"),
        ({"name": "sparse-ae", "hidden": []}, "not available for sparse-ae"),
    ],
)
def test_greedy_refuses_models_without_layers_to_stack(model, message, tmp_path):
    config = RunConfig.from_dict(
        {"model": model, "data": {"limit": 100}, "train": {"epochs": 1, "greedy": True}}
    )
    with pytest.raises(AekitError, match=message) as refusal:
        train(config, out=tmp_path / "run")
    if "not available" in message:  # every refusal names the same models, the ones that work
        assert str(refusal.value).endswith(
            f"; use ae, linear-ae or tied-ae, or train {model['name']} without --greedy"
        )


def test_greedy_trains_every_model_its_refusals_name():
    assert greedy_model_names() == ["ae", "linear-ae", "tied-ae"]
    for name in greedy_model_names():
        model = {"name": name, "hidden": [16], "latent_dim": 4}
        result = train(greedy_config(model, epochs=1, lr=3e-3), figures=False)
        assert [r["stage"] for r in result.history] == ["layer1", "layer2"], name


def test_finetune_epochs_need_greedy():
    with pytest.raises(AekitError, match="greedy_finetune_epochs needs greedy"):
        quick_config(train={"greedy_finetune_epochs": 3})


def test_greedy_runs_cannot_be_resumed(tmp_path):
    model = {"name": "ae", "hidden": [16], "latent_dim": 4}
    train(greedy_config(model), out=tmp_path / "run", figures=False)
    with pytest.raises(AekitError, match="greedy layer-wise run; those cannot be resumed"):
        resume(tmp_path / "run", epochs=4)


def test_cli_greedy_with_finetuning(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--model", "tied-ae", "--hidden", "32", "--latent-dim", "8", "--greedy"]
    args += ["--finetune-epochs", "1", "--epochs", "1", "--limit", "200", "--out", str(out)]
    result = CliRunner().invoke(cli, [*args, "--quiet"])
    assert result.exit_code == 0, result.output
    config = RunConfig.load(out / "config.yaml")
    assert config.train.greedy and config.train.greedy_finetune_epochs == 1
    stages = [row["stage"] for row in Run.open(out).read_metrics()]
    assert stages == ["layer1", "layer2", "finetune"]


def test_cli_greedy_on_a_convolutional_model_is_a_clean_error(tmp_path):
    args = ["train", "--model", "conv-ae", "--greedy", "--limit", "100", "--quiet"]
    result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert isinstance(result.exception, AekitError)
    assert "not available for conv-ae" in str(result.exception)
