"""``aekit evaluate`` and ``aekit encode --float16`` as a user runs them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from aekit.cli import cli
from aekit.errors import AekitError
from aekit.evaluation import classifier
from aekit.io import CACHE_ENV
from aekit.workflow import train
from tests.conftest import quick_config


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    tiny = {"limit": 300}
    specs = {
        "ae": quick_config(data=tiny, train={"epochs": 1}),
        "vae": quick_config(
            model={"name": "vae", "latent_dim": 4, "hidden": [32]},
            data={**tiny, "binarize": "dynamic"},
            train={"epochs": 1},
        ),
        "cvae": quick_config(
            model={"name": "cvae", "latent_dim": 2, "hidden": [32]},
            data={"dataset": "digits", "limit": None},
            train={"epochs": 2},
        ),
        "wide": quick_config(  # a code as long as the 8x8 input: nothing to compare PCA with
            model={"name": "ae", "latent_dim": 64, "hidden": [16]},
            data={"dataset": "digits", "limit": 300},
            train={"epochs": 1},
        ),
    }
    for name, config in specs.items():
        train(config, root / name, figures=False)
    return root


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def evaluate_json(*args) -> dict:
    result = invoke("evaluate", *args, "--json")
    assert result.exit_code == 0, result.output + repr(result.exception)
    return json.loads(result.stdout)


def test_deterministic_model_reports_pca_probes_codes_and_compression(runs):
    metrics = evaluate_json(runs / "ae")
    expected = {
        "recon_mse",
        "recon_bce",
        "psnr",
        "pca_recon_mse",
        "probe_accuracy",
        "knn_accuracy",
        "mean_activation",
        "near_zero_fraction",
        "compression_ratio",
        "float16_compression_ratio",
        "float16_recon_mse",
    }
    assert expected <= set(metrics)
    assert "elbo" not in metrics and "nll_iw" not in metrics
    assert metrics["compression_ratio"] == 784 / (8 * 4)
    assert 0.0 <= metrics["pca_recon_mse"] < 0.1
    assert 0.1 <= metrics["probe_accuracy"] <= 1.0


def test_no_pca_baseline_when_the_code_is_not_smaller_than_the_input(runs):
    metrics = evaluate_json(runs / "wide")
    assert "pca_recon_mse" not in metrics
    assert metrics["compression_ratio"] == 64 / (64 * 4)  # honest: the code is bigger
    assert {"recon_mse", "probe_accuracy", "float16_recon_mse"} <= set(metrics)


def test_vae_reports_elbo_iw_nll_and_bits_per_dim(runs):
    metrics = evaluate_json(runs / "vae", "--iw-samples", 20)
    assert metrics["iw_samples"] == 20 and metrics["iw_examples"] == metrics["examples"]
    assert "pca_recon_mse" not in metrics
    assert 0 < metrics["nll_iw"] < -metrics["elbo"]  # the IW bound is tighter than the ELBO
    assert metrics["bits_per_dim"] == pytest.approx(metrics["nll_iw"] / (784 * np.log(2)))
    subset = evaluate_json(runs / "vae", "--iw-samples", 5, "--iw-examples", 10)
    assert subset["iw_examples"] == 10 and subset["iw_precision"] == "fp32"
    fast = evaluate_json(
        runs / "vae", "--iw-samples", 5, "--iw-examples", 10, "--iw-precision", "bf16"
    )
    assert fast["iw_precision"] == "bf16"
    assert fast["nll_iw"] == pytest.approx(subset["nll_iw"], abs=subset["nll_iw_stderr"])


def test_aekit_evaluate_in_python_gives_the_commands_numbers(runs):
    import aekit

    command = evaluate_json(runs / "vae", "--iw-samples", 5, "--iw-examples", 10)
    python = aekit.evaluate(runs / "vae", iw_samples="5", iw_examples=10)  # converted
    assert {k: python[k] for k in ("elbo", "nll_iw", "recon_bce")} == {
        k: command[k] for k in ("elbo", "nll_iw", "recon_bce")
    }
    from aekit.evaluation.report import EvaluationOptions

    # as the command: naming labels or samplers asks for the sample-quality numbers
    assert EvaluationOptions(samplers=("gmm",)).fid and EvaluationOptions(labels=(1,)).fid
    assert not EvaluationOptions().fid
    with pytest.raises(AekitError, match="unknown evaluation option 'iw_sample'"):
        aekit.evaluate(runs / "vae", iw_sample=5)
    with pytest.raises(AekitError, match="deterministic"):
        aekit.evaluate(runs / "ae", iw_samples=5)


def test_text_output_lists_every_metric(runs):
    result = invoke("evaluate", runs / "ae")
    assert result.exit_code == 0
    assert "pca_recon_mse" in result.output and "psnr" in result.output


@pytest.mark.parametrize(
    "run, options, message",
    [
        ("ae", ["--iw-samples", "10"], "deterministic"),
        ("vae", ["--iw-examples", "10"], "add --iw-samples"),
        ("vae", ["--iw-precision", "bf16"], "add --iw-samples"),
        ("ae", ["--fid"], "not generative"),
        ("vae", ["--labels", "1"], "not conditional"),
        ("ae", ["--labels", "1"], "not conditional; drop --labels"),
        ("cvae", ["--labels", "12"], "out of range"),
    ],
)
def test_options_that_do_not_fit_the_model_are_refused(runs, run, options, message):
    result = invoke("evaluate", runs / run, *options)
    assert isinstance(result.exception, AekitError), result.output
    assert message in str(result.exception)


def test_bad_label_list_is_a_usage_error(runs):
    result = invoke("evaluate", runs / "cvae", "--labels", "a,b")
    assert result.exit_code == 2 and "labels" in result.output


def test_fid_and_label_accuracy_with_a_cached_classifier(runs, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    metrics = evaluate_json(runs / "cvae", "--fid", "--fid-samples", 100)
    assert {"classifier_accuracy", "fid", "label_accuracy", "fid_samples"} <= set(metrics)
    assert metrics["classifier_accuracy"] > 0.5  # 8x8 digits; chance is 0.1
    assert metrics["fid"] > 0 and 0 <= metrics["label_accuracy"] <= 1
    cached = list((tmp_path / "classifiers").glob("digits-*.safetensors"))
    assert len(cached) == 1

    def no_training(*_args):
        raise AssertionError("the cached classifier should have been reused")

    monkeypatch.setattr(classifier, "fit", no_training)
    again = evaluate_json(runs / "cvae", "--labels", "0,1")  # --labels implies --fid
    assert again["classifier_accuracy"] == metrics["classifier_accuracy"]
    assert again["fid_samples"] <= 40  # only the test images of classes 0 and 1


def test_float16_codes_round_trip(runs, tmp_path):
    full, half = tmp_path / "full.npy", tmp_path / "half.npy"
    source = ["--input", "digits"]
    assert invoke("encode", runs / "cvae", *source, "--out", full).exit_code == 0
    result = invoke("encode", runs / "cvae", *source, "--out", half, "--float16")
    assert result.exit_code == 0, result.output
    codes, rounded = np.load(full), np.load(half, allow_pickle=False)
    assert rounded.dtype == np.float16 and rounded.nbytes * 2 == codes.nbytes
    np.testing.assert_allclose(rounded.astype(np.float32), codes, rtol=1e-3, atol=1e-4)
    images = tmp_path / "images.npy"
    decoded = invoke("decode", runs / "cvae", "--codes", half, "--label", 3, "--out", images)
    assert decoded.exit_code == 0, decoded.output
    assert np.load(images).shape == (len(codes), 1, 8, 8)


@pytest.mark.parametrize("binarize", ["static", "dynamic"])
def test_other_data_is_binarized_as_the_runs_own(tmp_path, binarize):
    """A run trained on binary pixels is evaluated on binary pixels also with --dataset: the
    Bernoulli likelihood then applies, bits_per_dim is reported, and the output says so."""
    from aekit.runs import open_run

    config = quick_config(
        model={"name": "vae", "latent_dim": 4, "hidden": [32]},
        data={"limit": 200, "binarize": binarize},
        train={"epochs": 1},
    )
    run = train(config, tmp_path / "run", figures=False).path
    inputs = open_run(run).inputs("mnist-5k").x
    assert set(inputs.unique().tolist()) == {0.0, 1.0} and len(inputs) == 5000
    metrics = evaluate_json(run, "--dataset", "mnist-5k", "--iw-samples", 2, "--iw-examples", 20)
    assert (
        metrics["data"] == f"mnist-5k (5000 examples), binarized ({binarize}) as the run's own data"
    )
    assert metrics["bits_per_dim"] > 0
