"""Inpainting: masks, the completions' guarantees, the baselines, and ``aekit inpaint``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from aekit.apps.inpaint import baselines, hidden_error, inpaint, make_mask
from aekit.errors import AekitError
from aekit.models import build_model
from aekit.workflow import train

from .conftest import quick_config
from .test_apps_cli import run_cli


def test_masks_hide_what_their_specs_say(tmp_path):
    center = make_mask("center:4", (1, 8, 8), 2)
    assert center.shape == (2, 1, 8, 8) and int(center[0].sum()) == 16
    assert center[0, 0, 2:6, 2:6].all()
    rows = make_mask("rows:5-7", (1, 8, 8), 1)
    assert rows[0, 0, 5:].all() and not rows[0, 0, :5].any()
    drawn = make_mask("random:0.3", (3, 32, 32), 50, seed=4)
    assert abs(drawn.float().mean().item() - 0.3) < 0.02
    assert torch.equal(drawn[:, 0], drawn[:, 2])  # an image's channels are hidden together
    assert torch.equal(drawn, make_mask("random:0.3", (3, 32, 32), 50, seed=4))
    np.save(tmp_path / "one.npy", np.eye(8, dtype=np.uint8))
    assert make_mask(str(tmp_path / "one.npy"), (1, 8, 8), 3).sum() == 3 * 8
    each = np.zeros((3, 1, 8, 8), bool)
    each[1, 0, 0, 0] = True
    np.save(tmp_path / "each.npy", each)
    assert make_mask(str(tmp_path / "each.npy"), (1, 8, 8), 3).flatten(1).sum(1).tolist() == [
        0,
        1,
        0,
    ]


@pytest.mark.parametrize(
    ("spec", "shape", "message"),
    [
        ("center:8", (1, 8, 8), "hides every pixel of input 0"),
        ("center:9", (1, 8, 8), "SIZE must be 1..8"),
        ("rows:3-2", (1, 8, 8), "0 <= A <= B < 8"),
        ("random:1", (1, 8, 8), "between 0 and 1"),
        ("center:3", (64,), "flat vectors of 64 values"),
        ("square:3", (1, 8, 8), "use center:SIZE"),
    ],
)
def test_bad_masks_are_one_line_errors(spec, shape, message):
    with pytest.raises(AekitError, match=message):
        make_mask(spec, shape, 2)


def test_mask_files_that_do_not_fit_are_refused(tmp_path):
    np.save(tmp_path / "none.npy", np.zeros((8, 8)))
    np.save(tmp_path / "wide.npy", np.ones((9, 9)))
    np.save(tmp_path / "grey.npy", np.full((8, 8), 0.5))
    with pytest.raises(AekitError, match="hides no pixel"):
        make_mask(str(tmp_path / "none.npy"), (1, 8, 8), 2)
    with pytest.raises(AekitError, match="fits neither one input"):
        make_mask(str(tmp_path / "wide.npy"), (1, 8, 8), 2)
    with pytest.raises(AekitError, match=r"holds 0 \(known\) and 1 \(hidden\)"):
        make_mask(str(tmp_path / "grey.npy"), (1, 8, 8), 2)


def _exact_conditional(model, x_known: float) -> float:
    """p(x2 = 1 | x1) of a 2-pixel Bernoulli VAE with a 1-d code, by quadrature over z."""
    z = torch.linspace(-8, 8, 20001).unsqueeze(1)
    with torch.no_grad():
        logits = model.decode(z)
    log_p1 = x_known * logits[:, 0] - torch.nn.functional.softplus(logits[:, 0])
    weights = torch.softmax(log_p1 - 0.5 * z[:, 0].square(), 0)
    return float((weights * torch.sigmoid(logits[:, 1])).sum())


def test_metropolis_within_gibbs_targets_the_exact_conditional():
    """Mattei & Frellsen's sampler leaves p(x_hidden | x_known) invariant: on a model small
    enough to integrate, its completion is that conditional's mean. Pseudo-Gibbs, whose z
    draws come from the encoder's approximate posterior, is off by more (their Figure 1)."""
    torch.manual_seed(3)
    model = build_model({"name": "vae", "hidden": [8], "latent_dim": 1}, (2,))
    with torch.no_grad():  # a decoder whose two pixels depend on the code strongly
        for p in model.decoder_parameters():
            p.mul_(3)
    chains = 4000
    x = torch.tensor([[1.0, 0.0]]).expand(chains, 2).contiguous()
    mask = torch.tensor([[False, True]]).expand(chains, 2).contiguous()
    exact = _exact_conditional(model, 1.0)
    errors = {}
    for method in ("metropolis", "pseudo-gibbs"):
        done = inpaint(model, x, mask, method=method, iterations=400, seed=1)
        errors[method] = abs(done.filled[:, 1].mean().item() - exact)
        spread = done.filled[:, 1].std().item() / math.sqrt(chains)
        assert torch.equal(done.filled[:, 0], x[:, 0])  # known pixels are kept as given
        if method == "metropolis":
            assert errors[method] < max(5 * spread, 1e-3), (errors, exact)
            assert 0.2 < done.acceptance < 1
    assert errors["pseudo-gibbs"] > 0.005 > errors["metropolis"]


def test_baselines_keep_known_pixels_and_find_a_duplicate():
    generator = torch.Generator().manual_seed(0)
    train_x = torch.rand(200, 1, 6, 6, generator=generator)
    x = train_x[:5].clone()
    mask = make_mask("center:2", (1, 6, 6), 5)
    filled = baselines(train_x, x, mask, components=4)
    assert set(filled) == {"mean image", "nearest neighbour", "PCA (4 components)", "Gaussian"}
    for completion in filled.values():
        assert torch.equal(completion[~mask], x[~mask])
    assert hidden_error(filled["nearest neighbour"], x, mask)["mse"] == 0
    assert torch.allclose(filled["mean image"][mask], train_x.mean(0).expand_as(x)[mask])


def test_the_gaussian_baseline_is_the_conditional_mean():
    """On data drawn from a known Gaussian, its completion is E[x_hidden | x_known], which
    for x = (a, a + small noise) is close to the known pixel."""
    generator = torch.Generator().manual_seed(1)
    a = torch.rand(3000, 1, generator=generator)
    train_x = torch.cat([a, a + 0.01 * torch.randn(3000, 1, generator=generator)], 1)
    x = torch.tensor([[0.2, 0.0], [0.9, 0.0]])
    mask = torch.tensor([[False, True], [False, True]])
    filled = baselines(train_x, x, mask, components=1)["Gaussian"]
    assert torch.allclose(filled[:, 1], x[:, 0], atol=0.01)


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("inpaint") / "vae"
    config = quick_config(
        model={"name": "vae", "latent_dim": 8, "hidden": [128]},
        data={"limit": 2000},
        train={"epochs": 6, "batch_size": 32},
    )
    train(config, out, figures=False)
    return out


def test_a_trained_vae_beats_the_mean_image(vae_run, capsys, tmp_path):
    code, out, _ = run_cli(
        ["inpaint", vae_run, "--mask", "center:12", "--iterations", "60", "--json"], capsys
    )
    assert code == 0
    report = json.loads(out)
    scores = report["scores"]
    assert report["method"] == "metropolis" and report["examples"] == 500
    assert scores["model"]["mse"] < 0.9 * scores["mean image"]["mse"]
    assert (vae_run / "figures" / "inpaint.png").stat().st_size > 1000

    code, out, _ = run_cli(  # reconstruct-and-keep, the deterministic models' way
        ["inpaint", vae_run, "--mask", "random:0.5", "--method", "iterate", "--json"], capsys
    )
    scores = json.loads(out)["scores"]
    assert scores["model"]["mse"] < 0.8 * scores["mean image"]["mse"]

    argv = ["--mask", "rows:0-13", "--samples", "2", "-n", "7", "--iterations", "10"]
    code, out, _ = run_cli(["inpaint", vae_run, *argv, "--out", tmp_path / "c.npy"], capsys)
    assert code == 0 and "PSNR" in out and "nearest neighbour" in out
    completions = np.load(tmp_path / "c.npy")
    assert completions.shape == (7, 2, 1, 28, 28)


def test_inpaint_mistakes_are_one_line_and_write_nothing(vae_run, capsys, tmp_path):
    figure = tmp_path / "never.png"
    for argv, message in [
        (["--mask", "center:28"], "hides every pixel"),
        (["--mask", "rows:0-3", "--method", "iterate", "--samples", "3"], "needs a Markov"),
    ]:
        code, _, err = run_cli(["inpaint", vae_run, *argv, "--out", figure], capsys)
        assert code == 1 and message in err and len(err.strip().splitlines()) == 1
    assert not figure.exists()
