"""``aekit anomaly``, ``aekit denoise`` and ``aekit finetune`` on a small trained run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aekit.cli import main
from aekit.workflow import train

from .conftest import quick_config


@pytest.fixture(scope="module")
def denoising_run(tmp_path_factory):
    """A small denoising autoencoder on 600 bundled digits."""
    out = tmp_path_factory.mktemp("apps") / "dae"
    config = quick_config(
        model={"latent_dim": 32, "hidden": [128]},
        data={"noise": "gaussian:0.5"},
        train={"epochs": 3, "batch_size": 32},
    )
    train(config, out, figures=False)
    return out


def run_cli(argv, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def test_denoise_improves_psnr_and_writes_the_figure(denoising_run, capsys, tmp_path):
    code, out, _ = run_cli(["denoise", denoising_run, "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    assert report["noise"] == "gaussian:0.5" and report["examples"] == 500
    assert report["psnr_denoised_db"] > report["psnr_noisy_db"] + 1.0
    assert report["out"] == str(denoising_run / "figures" / "denoise.png")  # as `aekit plot`
    assert (denoising_run / "figures" / "denoise.png").stat().st_size > 1000
    assert not (denoising_run / "figures" / "denoised.png").exists()

    code, out, _ = run_cli(
        ["denoise", denoising_run, "--noise", "gaussian:0.3", "--out", tmp_path / "d.npy"],
        capsys,
    )
    assert code == 0 and "PSNR noisy vs clean" in out and "PSNR denoised vs clean" in out
    assert np.load(tmp_path / "d.npy").shape == (500, 1, 28, 28)


def test_denoise_bad_noise_is_one_line(denoising_run, capsys):
    code, _, err = run_cli(["denoise", denoising_run, "--noise", "salt:0.1"], capsys)
    assert code == 1
    assert err.strip().startswith("aekit: error: bad --noise 'salt:0.1'")


def test_anomaly_writes_per_example_scores(denoising_run, capsys, tmp_path):
    path = tmp_path / "scores.csv"
    code, out, _ = run_cli(
        ["anomaly", denoising_run, "--out", path, "--threshold", "percentile:90"], capsys
    )
    assert code == 0 and "higher = more abnormal" in out
    table = np.genfromtxt(path, delimiter=",", names=True)
    assert table.dtype.names == ("index", "score", "outlier", "label")
    assert len(table) == 500 and (table["score"] > 0).all()
    assert 0.02 < table["outlier"].mean() < 0.3  # about 10% of unseen digits from the same data
    code, _, _ = run_cli(["anomaly", denoising_run, "--out", tmp_path / "s.npy"], capsys)
    assert code == 0
    np.testing.assert_allclose(np.load(tmp_path / "s.npy"), table["score"], rtol=1e-6)


def test_anomaly_on_data_of_another_shape_says_so(denoising_run, capsys, tmp_path):
    code, _, err = run_cli(
        ["anomaly", denoising_run, "--input", "digits", "--out", tmp_path / "s.csv"], capsys
    )
    assert code == 1
    assert "digits: examples are shaped (1, 8, 8) but the model expects (1, 28, 28)" in err


def test_finetune_compares_with_scratch_and_plots(denoising_run, capsys):
    argv = ["finetune", denoising_run, "--labels", "200,50", "--epochs", "5", "--json"]
    code, out, _ = run_cli(argv, capsys)
    assert code == 0
    report = json.loads(out)
    assert [r["labels"] for r in report["results"]] == [50, 200]
    for row in report["results"]:
        assert 0.15 < row["pretrained_accuracy"] <= 1.0  # well above chance (0.1)
        assert 0.15 < row["scratch_accuracy"] <= 1.0
    assert (denoising_run / "figures" / "finetune.png").stat().st_size > 1000

    code, out, _ = run_cli(["finetune", denoising_run, "--labels", "20", "--freeze"], capsys)
    assert code == 0 and "pre-trained" in out and "from scratch" in out and "frozen" in out


@pytest.mark.parametrize(
    ("labels", "message"),
    [("5000", "more than the 600 training examples"), ("5", "fewer than the 10 classes")],
)
def test_finetune_bad_label_counts(denoising_run, capsys, labels, message):
    code, _, err = run_cli(["finetune", denoising_run, "--labels", labels], capsys)
    assert code == 1 and message in err


def test_anomaly_output_must_be_csv_or_npy(denoising_run, capsys, tmp_path):
    code, _, err = run_cli(["anomaly", denoising_run, "--out", tmp_path / "s.txt"], capsys)
    assert code == 1 and "write scores as .csv or .npy" in err
