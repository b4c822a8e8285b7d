"""The new family members through the command line, as a user would run them."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from aekit.cli import cli
from aekit.errors import AekitError
from aekit.runs.checkpoint import load_model


def aekit(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_recurrent_ae_trains_and_encodes_mnist_rows(tmp_path):
    run = tmp_path / "run"
    result = aekit(
        "train",
        "--model",
        "recurrent-ae",
        "--limit",
        200,
        "--epochs",
        1,
        "--quiet",
        "--noise",
        "dropout:0.5",
        "--out",
        run,
    )
    assert result.exit_code == 0, result.output
    model = load_model(run / "model.safetensors")
    assert model.name == "recurrent-ae" and (model.steps, model.features) == (28, 28)
    assert model.code_dim == 30  # the article's 100/30 layout by default
    assert (run / "figures" / "reconstructions.png").is_file()
    codes = tmp_path / "codes.npy"
    result = aekit("encode", run, "--input", "digits", "--out", codes)
    assert result.exit_code == 1  # 8x8 digits are not 28-step sequences of 28
    assert "the model expects (1, 28, 28)" in str(result.exception)


def test_sparse_ae_l1_through_set(tmp_path):
    run = tmp_path / "run"
    result = aekit(
        "train",
        "--model",
        "sparse-ae",
        "--set",
        "model.sparsity=l1",
        "--set",
        "model.l1_weight=1e-3",
        "--limit",
        200,
        "--epochs",
        1,
        "--quiet",
        "--out",
        run,
    )
    assert result.exit_code == 0, result.output
    model = load_model(run / "model.safetensors")
    assert (model.sparsity, model.l1_weight) == ("l1", 1e-3)


@pytest.mark.parametrize("target", ["1.5", "0", "-0.2"])
def test_sparse_target_outside_0_1_is_a_clean_error(target, tmp_path):
    result = aekit(
        "train",
        "--model",
        "sparse-ae",
        "--set",
        f"model.sparsity_target={target}",
        "--limit",
        100,
        "--quiet",
        "--out",
        tmp_path / "run",
    )
    assert result.exit_code == 1
    assert isinstance(result.exception, AekitError)
    assert "strictly between 0 and 1" in str(result.exception)


def test_conv_cvae_samples_a_label(tmp_path):
    run = tmp_path / "run"
    result = aekit(
        "train",
        "--model",
        "conv-cvae",
        "--latent-dim",
        8,
        "--limit",
        200,
        "--epochs",
        1,
        "--quiet",
        "--out",
        run,
    )
    assert result.exit_code == 0, result.output
    out = tmp_path / "threes.npy"
    result = aekit("sample", run, "--label", 3, "-n", 5, "--out", out)
    assert result.exit_code == 0, result.output
    samples = np.load(out, allow_pickle=False)
    assert samples.shape == (5, 1, 28, 28)
    assert (run / "figures" / "samples.png").is_file()


def test_tied_ae_trains_from_the_command_line(tmp_path):
    run = tmp_path / "run"
    result = aekit(
        "train",
        "--model",
        "tied-ae",
        "--hidden",
        "100",
        "--latent-dim",
        30,
        "--activation",
        "selu",
        "--set",
        "model.code_activation=selu",
        "--limit",
        200,
        "--epochs",
        1,
        "--quiet",
        "--out",
        run,
    )
    assert result.exit_code == 0, result.output
    model = load_model(run / "model.safetensors")
    assert sum(p.numel() for p in model.parameters()) == 784 * 100 + 100 * 30 + 100 + 30 + 100 + 784


def test_linear_ae_accepts_its_own_mse_loss_and_refuses_bce(tmp_path):
    args = ["train", "--model", "linear-ae", "--limit", 200, "--epochs", 1, "--quiet"]
    result = aekit(*args, "--recon-loss", "mse", "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert load_model(tmp_path / "run" / "model.safetensors").recon_loss == "mse"
    result = aekit(*args, "--recon-loss", "bce", "--out", tmp_path / "bce")
    assert result.exit_code == 1 and isinstance(result.exception, AekitError)
    assert str(result.exception) == "model 'linear-ae' always uses recon_loss 'mse', not 'bce'"
