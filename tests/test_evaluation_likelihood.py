"""The importance-weighted log-likelihood estimator, checked where the answer is known."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import pytest
import torch

from aekit.data.splits import Split
from aekit.evaluation import likelihood
from aekit.evaluation.likelihood import bits_per_dim, iwae_log_likelihood, likelihood_metrics
from aekit.models.base import build_model
from aekit.models.vae import VariationalAutoencoder


class ProbabilisticPCA(VariationalAutoencoder):
    """x = W z + b + N(0, sigma^2 I) with z ~ N(0, I): log p(x) is exactly
    log N(x; b, W W^T + sigma^2 I). By default the encoder is a deliberately poor fixed linear
    map, so only the estimator's own correctness can bring the estimate to the exact value;
    ``exact_posterior`` gives W orthogonal columns, which makes the true posterior diagonal,
    and encodes it: then every importance weight equals p(x)."""

    fixed: ClassVar[dict[str, Any]] = {"recon_loss": "mse", "output": "linear"}

    def __init__(
        self,
        input_shape: tuple[int, ...],
        *,
        latent: int = 2,
        sigma: float = 0.5,
        exact_posterior: bool = False,
        **base,
    ) -> None:
        super().__init__(input_shape, **base)
        (dims,) = input_shape
        generator = torch.Generator().manual_seed(0)
        self.code_dim = latent
        self.weight = torch.randn(dims, latent, generator=generator)
        if exact_posterior:
            self.weight = torch.linalg.qr(self.weight).Q * torch.tensor([2.0, 0.7])
        self.bias = torch.randn(dims, generator=generator)
        self.sigma = sigma
        self.encoder = 0.1 * torch.randn(latent, dims, generator=generator)
        self.exact_posterior = exact_posterior

    def encode_dist(self, x, y=None):
        if not self.exact_posterior:
            return x @ self.encoder.T, torch.full((len(x), self.code_dim), math.log(0.5))
        precision = 1 + self.weight.square().sum(0) / self.sigma**2  # diagonal: W^T W is
        mean = (x - self.bias) @ self.weight / self.sigma**2 / precision
        return mean, (-precision.log()).expand_as(mean)

    def decode(self, z, y=None):
        return z @ self.weight.T + self.bias

    def log_likelihood(self, out, target):
        return torch.distributions.Normal(out, self.sigma).log_prob(target).sum(-1)

    def exact_log_likelihood(self, x: torch.Tensor) -> torch.Tensor:
        cov = self.weight @ self.weight.T + self.sigma**2 * torch.eye(len(self.bias))
        return torch.distributions.MultivariateNormal(self.bias, cov).log_prob(x)

    def draw(self, n: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(1)
        z = torch.randn(n, self.code_dim, generator=generator)
        noise = torch.randn(n, len(self.bias), generator=generator)
        return self.decode(z) + self.sigma * noise


def estimate(model, x, samples, seed=2, max_rows=16384):
    generator = torch.Generator().manual_seed(seed)
    return iwae_log_likelihood(model, x, None, samples, generator, max_rows=max_rows)


def test_iwae_converges_to_the_exact_ppca_likelihood():
    model = ProbabilisticPCA((6,))
    x = model.draw(200)
    exact = model.exact_log_likelihood(x)
    errors = {k: (estimate(model, x, k) - exact).mean().item() for k in (1, 10, 100, 1000)}
    # The estimate is a stochastic lower bound: below the truth, and rising towards it.
    assert all(error < 0 for error in errors.values()), errors
    assert errors[1] < errors[10] < errors[100] < errors[1000], errors
    assert abs(errors[1000]) < 0.3, errors


def test_iwae_is_never_worse_than_the_elbo():
    model = ProbabilisticPCA((6,))
    x = model.draw(200)
    generator = torch.Generator().manual_seed(3)
    mean, logvar = model.encode_dist(x)
    kl = -0.5 * (1 + logvar - mean.square() - logvar.exp()).sum(-1)
    elbo = torch.stack(
        [
            model.log_likelihood(model.decode(model.reparameterize(mean, logvar, generator)), x)
            - kl
            for _ in range(200)
        ]
    ).mean(0)  # the ELBO itself, to Monte-Carlo precision
    iwae = estimate(model, x, 50)
    assert iwae.mean() > elbo.mean() + 1.0
    assert (iwae >= elbo - 1e-3).float().mean() > 0.95


def test_vae_iwae_is_above_its_elbo():
    torch.manual_seed(0)
    model = build_model({"name": "vae", "latent_dim": 4, "hidden": [32]}, (1, 8, 8)).eval()
    x = torch.bernoulli(torch.full((64, 1, 8, 8), 0.3), generator=torch.Generator().manual_seed(0))
    elbo = torch.stack([model.elbo(x, x) for _ in range(20)]).mean()
    iwae = estimate(model, x, 100).mean()
    assert iwae > elbo


@pytest.mark.parametrize(
    "samples, max_rows, decode_rows",
    [(1, 16384, 512), (7, 16384, 512), (500, 64, 512), (1000, 300, 512), (30, 16384, 7)],
)
def test_exact_posterior_gives_the_exact_likelihood_in_any_chunking(
    samples, max_rows, decode_rows, monkeypatch
):
    """With q(z|x) = p(z|x) every weight is p(x): any K, split into any number of passes
    over examples and samples, and decoded in slices that cut across examples, must return
    log p(x) itself (a slice scored against the wrong examples would not)."""
    monkeypatch.setattr(likelihood, "DECODE_ROWS", decode_rows)
    model = ProbabilisticPCA((6,), exact_posterior=True)
    x = model.draw(40)
    got = estimate(model, x, samples, max_rows=max_rows)
    torch.testing.assert_close(got, model.exact_log_likelihood(x), atol=1e-4, rtol=0)


def test_bits_per_dim_and_metrics_keys():
    assert bits_per_dim(784 * math.log(2), 784) == pytest.approx(1.0)
    model = build_model({"name": "vae", "latent_dim": 2, "hidden": [16]}, (1, 4, 4))
    x = torch.bernoulli(torch.full((10, 1, 4, 4), 0.5), generator=torch.Generator().manual_seed(0))
    binary = likelihood_metrics(model, Split(x, None), 20, binarized=True)
    assert binary["bits_per_dim"] == pytest.approx(binary["nll_iw"] / (16 * math.log(2)))
    assert binary["iw_samples"] == 20 and binary["iw_examples"] == 10
    assert "bits_per_dim" not in likelihood_metrics(model, Split(x, None), 20, binarized=False)


def test_bernoulli_log_likelihood_is_the_negated_bce_for_any_target_in_the_unit_interval():
    model = build_model({"name": "vae", "latent_dim": 2, "hidden": [16]}, (1, 4, 4))
    generator = torch.Generator().manual_seed(0)
    logits = 30 * torch.randn(6, 3, 1, 4, 4, generator=generator)  # saturated ones too
    for target in (torch.rand(6, 3, 1, 4, 4, generator=generator), (logits > 0).float()):
        bce = torch.nn.functional.binary_cross_entropy_with_logits(
            logits.double(), target.double(), reduction="none"
        )
        got = model.log_likelihood(logits, target)
        assert got.shape == (6, 3)
        torch.testing.assert_close(got.double(), -bce.sum((-3, -2, -1)), atol=1e-4, rtol=1e-6)


def test_bf16_estimate_is_close_to_fp32_and_says_so():
    torch.manual_seed(0)
    model = build_model({"name": "vae", "latent_dim": 4, "hidden": [64]}, (1, 8, 8)).eval()
    x = torch.bernoulli(torch.full((40, 1, 8, 8), 0.3), generator=torch.Generator().manual_seed(0))
    exact = likelihood_metrics(model, Split(x, None), 200, binarized=True)
    fast = likelihood_metrics(model, Split(x, None), 200, binarized=True, precision="bf16")
    assert (exact["iw_precision"], fast["iw_precision"]) == ("fp32", "bf16")
    # bf16 rounds the networks' products, not the weights' sums: far below the standard error
    assert abs(fast["nll_iw"] - exact["nll_iw"]) < 0.1 * exact["nll_iw_stderr"]
    assert fast["nll_iw"] != exact["nll_iw"]  # it did compute in bf16


def test_bf16_estimate_warns_on_a_cpu_without_native_bf16(monkeypatch):
    from aekit.errors import AekitError, AekitWarning
    from aekit.training import internals

    monkeypatch.setattr(internals, "cpu_has_native_bf16", lambda: False)
    model = build_model({"name": "vae", "latent_dim": 2, "hidden": [8]}, (1, 4, 4))
    x = torch.zeros(2, 1, 4, 4)
    with pytest.warns(AekitWarning, match="--iw-precision bf16 on this CPU"):
        likelihood_metrics(model, Split(x, None), 2, binarized=True, precision="bf16")
    with pytest.raises(AekitError, match="one of fp32, bf16"):
        likelihood_metrics(model, Split(x, None), 2, binarized=True, precision="fp16")
