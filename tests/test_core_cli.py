"""The command line as a new user meets it: every command works, mistakes get one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from aekit.cli import cli
from aekit.errors import AekitError
from tests.test_data_cli import run_cli

TINY = ["--limit", "300", "--epochs", "1", "--hidden", "32", "--quiet"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    runner = CliRunner()
    for name in ("ae", "cvae"):
        out = root / name
        result = runner.invoke(
            cli, ["train", "--model", name, "--latent-dim", "4", "--out", str(out), *TINY]
        )
        assert result.exit_code == 0, result.output
    return root


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_every_command_has_help():
    for name in cli.commands:
        result = invoke(name, "--help")
        assert result.exit_code == 0 and "Usage" in result.output, name


def test_bare_aekit_prints_the_help_not_an_error(capsys):
    from aekit.cli import main

    with pytest.raises(SystemExit) as exited:
        main([])
    out, err = capsys.readouterr()
    assert exited.value.code == 0 and err == ""
    assert out.startswith("Usage: aekit") and "\n  train " in out


def test_evaluate_json(runs):
    result = invoke("evaluate", runs / "ae", "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert {"recon_mse", "recon_bce"} <= set(metrics)
    vae = json.loads(invoke("evaluate", runs / "cvae", "--json").output)
    assert vae["elbo"] < 0


def test_encode_decode_round_trip(runs, tmp_path):
    codes = tmp_path / "codes.npy"
    assert invoke("encode", runs / "ae", "--input", "mnist-5k", "--out", codes).exit_code == 0
    array = np.load(codes)
    assert array.shape == (5000, 4)
    images = tmp_path / "images.npy"
    assert invoke("decode", runs / "ae", "--codes", codes, "--out", images).exit_code == 0
    decoded = np.load(images)
    assert decoded.shape == (5000, 1, 28, 28) and decoded.min() >= 0 and decoded.max() <= 1
    assert (
        invoke("decode", runs / "ae", "--codes", codes, "--out", tmp_path / "d.png").exit_code == 0
    )


def test_sample_and_reconstruct(runs, tmp_path):
    out = tmp_path / "s.npy"
    assert invoke("sample", runs / "cvae", "--label", "3", "-n", "5", "--out", out).exit_code == 0
    assert np.load(out).shape == (5, 1, 28, 28)
    assert invoke("reconstruct", runs / "ae", "--out", tmp_path / "r.png").exit_code == 0
    assert (tmp_path / "r.png").stat().st_size > 1000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--model", "nope"], "unknown model 'nope'; choose one of: aae, ae,"),
        (["train", "--dataset", "nope"], "unknown dataset 'nope'; choose one of:"),
        (["train", "--dataset", "missing.npz"], "data file not found: missing.npz"),
        (["train", "--noise", "salt:3"], "bad --noise 'salt:3'"),
        (["train", "--binarize", "maybe"], "'maybe' is not one of 'static', 'dynamic'"),
        (["train", "--set", "model.bogus=1"], "model 'ae' has no option(s) bogus"),
        (["train", "--set", "model.init=keras"], "unknown init 'keras'; choose one of: glorot,"),
        (["train", "--epochs", "0"], "0 is not in the range x>=1"),
        (["train", "--compile", "--optimizer", "sgd"], "--compile supports --optimizer adam and"),
        (["evaluate", "no/such/run"], "run directory not found"),
        (["sample", "RUN_AE"], "model 'ae' is not generative"),
        (["evaluate", "RUN_AE", "--disentanglement"], "needs a run trained on dsprites"),
        (["sample", "RUN_CVAE"], "is conditional: give --label"),
        (["sample", "RUN_CVAE", "--label", "12"], "--label 12 is out of range"),
    ],
)
def test_user_mistakes_give_one_line(runs, args, message, tmp_path, monkeypatch, capsys):
    """In this process (a real one is in test_data_cli): the entry point's own error path."""
    args = [
        str(runs / "ae") if a == "RUN_AE" else str(runs / "cvae") if a == "RUN_CVAE" else a
        for a in args
    ]
    monkeypatch.chdir(tmp_path)  # a default run directory, if any, lands here, not in the checkout
    code, _, err = run_cli(capsys, *args)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("aekit: error: ") and message in lines[0], lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "args",
    [
        ["--model", "nope"],
        ["--set", "model.bogus=1"],
        ["--model", "sparse-ae", "--greedy"],
        ["--model", "conv-ae", "--greedy"],
    ],
)
def test_failed_train_leaves_no_run_directory(args, tmp_path, monkeypatch):
    """The model is built before RUN/ is made: the next default run gets no -2 suffix."""
    monkeypatch.chdir(tmp_path)
    result = invoke("train", *args, "--epochs", "1", "--limit", "100", "--quiet")
    assert result.exit_code == 1 and isinstance(result.exception, AekitError), result.output
    assert not (tmp_path / "runs").exists()


def test_failed_overwrite_keeps_the_existing_run(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    files = {"config.yaml": "model: {name: ae}\n", "model.safetensors": "weights"}
    for name, text in files.items():
        (out / name).write_text(text)
    result = invoke("train", "--model", "nope", "--out", out, "--overwrite", "--quiet")
    assert result.exit_code == 1 and isinstance(result.exception, AekitError)
    assert {path.name: path.read_text() for path in out.iterdir()} == files


def test_decode_rejects_wrong_code_size(runs, tmp_path):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((2, 7), np.float32))
    result = invoke("decode", runs / "ae", "--codes", bad, "--out", tmp_path / "x.npy")
    assert result.exit_code != 0 and "codes must be shaped (N, 4)" in str(
        result.exception or result.output
    )


def test_models_and_datasets_listed():
    models = invoke("models").output
    for name in ("ae", "linear-ae", "conv-ae", "vae", "conv-vae", "cvae"):
        assert f"\n{name} " in f"\n{models}"
    datasets = invoke("datasets").output
    for name in ("mnist-5k", "mnist", "fashion-mnist", "kmnist", "digits"):
        assert name in datasets


def test_default_run_directory_is_named_after_the_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("my-experiment.yaml").write_text("model: {name: ae, latent_dim: 2, hidden: [16]}\n")
    args = ["--epochs", "1", "--limit", "100", "--quiet", "--no-progress-gif"]
    assert invoke("train", "--config", "my-experiment.yaml", *args).exit_code == 0
    assert invoke("train", "--config", "my-experiment.yaml", *args).exit_code == 0
    assert invoke("train", "--model", "ae", "--latent-dim", "2", *args).exit_code == 0
    runs = sorted(path.name for path in Path("runs").iterdir())
    assert runs == ["ae-mnist-5k", "my-experiment", "my-experiment-2"]


def test_ctrl_c_says_what_was_kept_and_resume_finishes_the_run(tmp_path, monkeypatch, capsys):
    """Ctrl-C in epoch 3 exits 130 with one line naming the saved epochs and the command that
    continues; that command then trains epochs 3-4 and leaves the run complete."""
    from aekit.cli import main
    from aekit.training.trainer import Trainer

    train_epoch = Trainer.train_epoch

    def interrupted_in_epoch_3(self, train, epoch, inputs=None):
        if epoch == 3:
            raise KeyboardInterrupt
        return train_epoch(self, train, epoch, inputs)

    out = tmp_path / "run"
    args = ["train", "--limit", "300", "--epochs", "4", "--hidden", "16", "--out", str(out)]
    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "train_epoch", interrupted_in_epoch_3)
        with pytest.raises(SystemExit) as exited:
            main([*args, "--quiet"])
    err = capsys.readouterr().err
    assert exited.value.code == 130 and "Traceback" not in err
    assert err.strip().splitlines() == [
        f"aekit: error: interrupted; {out} keeps every finished epoch (1-2): "
        f"continue with `aekit train --resume {out}`"
    ]
    assert invoke("train", "--resume", out, "--quiet").exit_code == 0
    epochs = [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").open()]
    assert epochs == [1, 2, 3, 4]


def test_resume_refuses_fewer_epochs_than_trained_and_keeps_the_config(tmp_path):
    out = tmp_path / "run"
    assert invoke("train", "--out", out, *TINY, "--epochs", "2").exit_code == 0
    config = (out / "config.yaml").read_text()
    result = invoke("train", "--resume", out, "--epochs", "2", "--quiet")
    assert result.exit_code == 1
    assert "has already trained 2 epochs; give --epochs N with N > 2" in str(result.exception)
    assert (out / "config.yaml").read_text() == config
