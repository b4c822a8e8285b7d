"""Latent samplers: what each draws, that fitted ones are kept and refitted when the model
changes, and the commands that use them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner

from aekit.cli import cli
from aekit.runs import open_run
from aekit.sampling import code_sampler, draw_gmm, fit_gmm

TINY = ["--limit", "300", "--epochs", "1", "--hidden", "32", "--latent-dim", "3", "--quiet"]


@pytest.fixture(scope="module")
def ae_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "ae"
    result = CliRunner().invoke(cli, ["train", "--model", "ae", "--out", str(out), *TINY])
    assert result.exit_code == 0, result.output
    return out


def test_gmm_draws_have_the_fitted_codes_mean_and_covariance():
    generator = torch.Generator().manual_seed(0)
    mixing = torch.tensor([[1.0, 0.0], [0.8, 0.6]])
    codes = torch.randn(4000, 2, generator=generator) @ mixing.T + torch.tensor([3.0, -1.0])
    draws = draw_gmm(fit_gmm(codes.double()), 20000, generator)
    assert torch.allclose(draws.mean(0), codes.mean(0), atol=0.05)
    assert torch.allclose(torch.cov(draws.T), torch.cov(codes.T), atol=0.05)


def test_a_single_component_mixture_draws_its_gaussian():
    mixture = {
        "weights": torch.ones(1),
        "means": torch.tensor([[1.0, 2.0]]),
        "cholesky": torch.tensor([[[2.0, 0.0], [1.0, 0.5]]]),
    }
    draws = draw_gmm(mixture, 40000, torch.Generator().manual_seed(1))
    expected = torch.tensor([[4.0, 2.0], [2.0, 1.25]])  # L L^T
    assert torch.allclose(torch.cov(draws.T), expected, rtol=0.05)


def test_box_draws_stay_in_the_box_of_training_codes(ae_run):
    run = open_run(ae_run)
    low, high = run.code_box
    draws = code_sampler(run, "box")(500, torch.Generator().manual_seed(0))
    assert ((draws >= low) & (draws <= high)).all()


def test_a_fitted_sampler_is_kept_and_refitted_for_other_weights(ae_run, monkeypatch):
    """Fitted once; fitted again when the run's weights are not the ones it was fitted to
    (a file's time would not tell: copies keep or lose it at random); the caller's random
    numbers are left as they were."""
    import aekit.sampling as sampling
    from aekit.runs.checkpoint import save_model

    monkeypatch.setattr(sampling, "SECOND_STAGE_EPOCHS", 2)
    for name in ("gmm", "two-stage"):
        run = open_run(ae_run)
        said: list[str] = []
        state = torch.random.get_rng_state()
        first = code_sampler(run, name, said.append)(5, torch.Generator().manual_seed(0))
        assert torch.equal(torch.random.get_rng_state(), state), name
        again = code_sampler(open_run(ae_run), name, said.append)(
            5, torch.Generator().manual_seed(0)
        )
        assert torch.equal(first, again) and len(said) == 1, name
        assert first.shape == (5, run.model.code_dim)
    model = open_run(ae_run).model
    with torch.no_grad():
        next(model.parameters()).add_(0.01)
    save_model(model, ae_run / "model.safetensors")
    said = []
    code_sampler(open_run(ae_run), "gmm", said.append)
    assert len(said) == 1  # the weights changed: fitted again
    (ae_run / "samplers" / "gmm.safetensors").write_bytes(b"not a sampler")
    code_sampler(open_run(ae_run), "gmm", said.append)
    assert len(said) == 2  # a damaged file: fitted again, no traceback


def test_evaluate_reports_fid_per_sampler(ae_run):
    result = CliRunner().invoke(
        cli,
        [
            "evaluate",
            str(ae_run),
            "--sampler",
            "box",
            "--sampler",
            "gmm",
            "--fid-samples",
            "200",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output.strip().splitlines()[-1])
    assert metrics["fid_box"] > 0 and metrics["fid_gmm"] > 0 and "fid" not in metrics


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sample", "RUN"], "pick codes with --sampler box, gmm or two-stage (pixelcnn"),
        (["sample", "RUN", "--sampler", "prior"], "has no prior; sample its codes with"),
        (["sample", "RUN", "--sampler", "magic"], "unknown sampler 'magic'"),
        (["evaluate", "RUN", "--fid"], "--fid needs --sampler box, gmm or two-stage (pixelcnn"),
        (["sample", "RUN", "--sampler", "pixelcnn"], "models grids of discrete codes (vq-vae)"),
    ],
)
def test_sampler_mistakes_give_one_line(ae_run, args, message):
    args = [str(ae_run) if a == "RUN" else a for a in args]
    proc = subprocess.run(
        [sys.executable, "-m", "aekit", *args], capture_output=True, text=True, timeout=120
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1, proc.stderr
    assert message in lines[0], lines[0]


def test_pixelcnn_logits_at_a_position_see_only_the_positions_before_it():
    """The autoregressive order: changing the code at (i, j) or after it (raster order)
    leaves the logits at (i, j) as they were; changing one before it does not."""
    from aekit.models.pixelcnn import GridPrior

    torch.manual_seed(0)
    prior = GridPrior((1, 5, 5), codes=7, channels=8, layers=3).eval()
    grid = torch.randint(7, (1, 1, 5, 5)).float()
    i, j = 2, 3
    base = prior.logits(grid)[0, :, i, j]
    later, earlier = grid.clone(), grid.clone()
    later[0, 0, i, j:] = (later[0, 0, i, j:] + 1) % 7
    later[0, 0, i + 1 :] = (later[0, 0, i + 1 :] + 1) % 7
    earlier[0, 0, i, j - 1] = (earlier[0, 0, i, j - 1] + 1) % 7
    with torch.no_grad():
        assert torch.equal(prior.logits(later)[0, :, i, j], base)
        assert not torch.equal(prior.logits(earlier)[0, :, i, j], base)


def test_pixelcnn_sampler_draws_codebook_vectors_for_a_vq_vae(tmp_path):
    out = tmp_path / "vq"
    args = [
        "train",
        "--model",
        "vq-vae",
        "--limit",
        "200",
        "--epochs",
        "1",
        "--quiet",
        "--set",
        "model.channels=[4,8]",
        "--set",
        "model.codebook_size=8",
        "--out",
        str(out),
    ]
    assert CliRunner().invoke(cli, args).exit_code == 0
    import aekit.sampling as sampling

    run = open_run(out)
    original, sampling.PIXELCNN_EPOCHS = sampling.PIXELCNN_EPOCHS, 1
    try:
        codes = code_sampler(run, "pixelcnn")(3, torch.Generator().manual_seed(0))
    finally:
        sampling.PIXELCNN_EPOCHS = original
    vectors = codes.reshape(3, *run.model.grid).permute(0, 2, 3, 1).reshape(-1, run.model.grid[0])
    codebook = run.model.quantizer.codebook.detach()
    distances = torch.cdist(vectors, codebook, compute_mode="donot_use_mm_for_euclid_dist")
    assert (distances.min(1).values < 1e-5).all()
    assert (out / "samplers" / "pixelcnn.safetensors").is_file()
