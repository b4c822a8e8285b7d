"""The likelihood models (IWAE family, VampPrior, flows, two stochastic layers): what their
papers' mathematics guarantees, checked on small cases."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from aekit.errors import AekitError
from aekit.evaluation.likelihood import iwae_log_likelihood
from aekit.models import build_model
from aekit.models.flows import InverseAutoregressiveFlow, PlanarFlow
from aekit.models.iwae import log_mean_exp
from aekit.models.vamp import mixture_log_normal
from tests.test_data_cli import run_cli

SHAPE = (1, 28, 28)
SMALL = {"latent_dim": 4, "hidden": [32]}
LIKELIHOOD_MODELS = {
    "iwae": {**SMALL, "k": 4},
    "miwae": {**SMALL, "m": 2, "k": 2},
    "piwae": {**SMALL, "m": 2, "k": 2},
    "ciwae": {**SMALL, "k": 4},
    "vamp": {**SMALL, "pseudo_inputs": 5},
    "vae-planar": {**SMALL, "flow_length": 3},
    "vae-iaf": {**SMALL, "made_hidden": [16, 16]},
    "vae-2layer": {"latent_dim": 2, "lower_latent_dim": 4, "hidden": [32], "upper_hidden": [8]},
}
LADDER = {**LIKELIHOOD_MODELS["vae-2layer"], "inference": "ladder"}


def model(name: str, seed: int = 0, **options):
    torch.manual_seed(seed)
    return build_model({"name": name, **LIKELIHOOD_MODELS.get(name, {}), **options}, SHAPE)


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return (torch.rand(48, *SHAPE, generator=generator) < 0.3).float()


def mean_bounds(m, x: torch.Tensor, k: int, repeats: int) -> torch.Tensor:
    """Per example, the IWAE bound with k draws averaged over ``repeats`` estimates."""
    generator = torch.Generator().manual_seed(k)
    return (
        torch.stack([iwae_log_likelihood(m, x, None, k, generator) for _ in range(repeats)])
        .double()
        .mean(0)
    )


@pytest.mark.parametrize("name", ["iwae", "vae-2layer", "ladder", "vamp", "vae-iaf"])
def test_the_importance_weighted_bound_rises_with_k(name, digits):
    """Burda et al. 2016, theorem 1: E[L_k] <= E[L_m] for k <= m, on a fixed model (compared
    example by example, so the spread between examples does not hide the gain)."""
    m = (model("vae-2layer", **LADDER) if name == "ladder" else model(name)).eval()
    bounds = [mean_bounds(m, digits, k, repeats=8) for k in (1, 8, 64)]
    for low, high in itertools.pairwise(bounds):
        gain = high - low
        assert gain.mean() > 3 * gain.std() / math.sqrt(len(gain)), gain


@pytest.mark.parametrize("name", [*sorted(LIKELIHOOD_MODELS), "ladder"])
def test_nll_estimate_is_below_the_negative_elbo(name, digits):
    """The importance-weighted estimate is a tighter bound than the ELBO, for every model
    with its own prior and posterior (the ELBO averaged over draws to remove its noise)."""
    m = (model("vae-2layer", **LADDER) if name == "ladder" else model(name)).eval()
    generator = torch.Generator().manual_seed(1)
    elbo = torch.stack([m.elbo(digits, digits, generator=generator) for _ in range(20)]).mean(0)
    nll = -iwae_log_likelihood(m, digits, None, 200, generator)
    assert torch.isfinite(nll).all()
    assert nll.mean() < -elbo.mean() - 0.1


def test_the_estimate_at_k_1_is_the_elbo(digits):
    """With one draw the importance weight is the single-sample ELBO, for a model whose
    ratio is not the closed form (the flow's log-determinant included)."""
    m = model("vae-planar").eval()
    estimate = iwae_log_likelihood(m, digits, None, 1, torch.Generator().manual_seed(3))
    elbo = m.elbo(digits, digits, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(estimate, elbo, atol=1e-3)


def test_iwae_objective_is_the_log_mean_of_the_weights(digits):
    m = model("iwae")
    torch.manual_seed(5)
    loss = m.loss_terms(digits, digits)["loss"]
    torch.manual_seed(5)
    log_px, log_ratio = m.weighted_terms(digits, digits, None, 4)
    manual = -(torch.logsumexp(log_px + log_ratio, 1) - math.log(4)).mean()
    assert torch.allclose(loss, manual)


def test_miwae_with_one_group_is_iwae_and_ciwae_interpolates_elbo_and_iwae(digits):
    iwae, miwae = model("iwae", k=4), model("miwae", m=1, k=4)
    for name in ("ciwae",):
        assert build_model({"name": name, **SMALL}, SHAPE).k == 64  # Rainforth et al.'s K
    log_w = torch.randn(6, 4)
    assert torch.allclose(iwae.objective(log_w), miwae.objective(log_w))
    assert torch.allclose(model("ciwae", beta=1.0).objective(log_w), -log_w.mean())
    assert torch.allclose(model("ciwae", beta=0.0).objective(log_w), iwae.objective(log_w))
    grouped = model("miwae", m=2, k=2).objective(log_w)
    manual = -log_mean_exp(log_w.reshape(6, 2, 2), 2).mean()
    assert torch.allclose(grouped, manual)


def test_piwae_gives_the_decoder_the_iwae_gradient_and_the_encoder_the_miwae_one(digits):
    """Rainforth et al.'s algorithm 1, from one backward pass (checked against autograd on
    each bound separately, same draws)."""
    m = model("piwae", m=2, k=3)
    decoder = [p for n, p in m.named_parameters() if n.startswith("decoder")]
    encoder = [p for n, p in m.named_parameters() if not n.startswith("decoder")]
    x = digits[:8]
    torch.manual_seed(1)
    m.loss_terms(x, x)["loss"].backward()
    torch.manual_seed(1)
    log_px, log_ratio = m.weighted_terms(x, x, None, 6)
    log_w = log_px + log_ratio
    iwae = log_mean_exp(log_w, 1).mean()
    miwae = log_mean_exp(log_w.reshape(8, 2, 3), 2).mean()
    want_decoder = torch.autograd.grad(-iwae, decoder, retain_graph=True)
    want_encoder = torch.autograd.grad(-miwae, encoder)
    for p, want in [*zip(decoder, want_decoder), *zip(encoder, want_encoder)]:
        assert torch.allclose(p.grad, want, atol=1e-4, rtol=1e-3)
    # the two bounds differ, so this is not the gradient of either one alone
    assert not torch.allclose(
        torch.autograd.grad(-miwae_of(m, x), decoder)[0], decoder[0].grad, atol=1e-4
    )


def miwae_of(m, x):
    torch.manual_seed(1)
    log_px, log_ratio = m.weighted_terms(x, x, None, 6)
    return log_mean_exp((log_px + log_ratio).reshape(len(x), 2, 3), 2).mean()


def numerical_log_det(flow, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    jacobian = torch.autograd.functional.jacobian(
        lambda v: flow(v.reshape(1, 1, -1), h)[0].reshape(-1), z.reshape(-1)
    )
    return torch.linalg.slogdet(jacobian)[1]


@pytest.mark.parametrize(
    "flow",
    [
        lambda: PlanarFlow(3, 5, 4),
        lambda: InverseAutoregressiveFlow(3, 5, 3, [7, 7]),
        lambda: InverseAutoregressiveFlow(1, 5, 2, [4]),
    ],
    ids=["planar", "iaf", "iaf-1d"],
)
def test_flow_log_determinant_matches_the_jacobian(flow):
    torch.manual_seed(0)
    f = flow().double()  # float64: the check is of the formula, not of rounding
    for module in f.modules():  # away from the near-identity start, so the check has teeth
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.normal_(module.weight, std=0.8)
    for _ in range(5):
        z, h = torch.randn(1, 1, f.dim).double(), torch.randn(1, 5).double()
        _, log_det = f(z, h)
        assert torch.allclose(log_det.reshape(()), numerical_log_det(f, z, h), atol=1e-8)


def test_planar_flow_steps_stay_float32_under_bf16_autocast():
    """Under CPU bf16 autocast only the layer that reads the flow's parameters from h rounds
    to bf16; the steps and the summed log-determinants are computed as in float32 from those
    parameters (bf16 there would round the importance weights by tenths of a nat)."""
    torch.manual_seed(0)
    flow = PlanarFlow(16, 8, 40)
    z, h = torch.randn(4, 50, 16), torch.randn(4, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, log_det = flow(z, h)
        rounded = flow.params(h)
    assert rounded.dtype == torch.bfloat16 and out.dtype == log_det.dtype == torch.float32
    flow.params = FixedOutput(rounded.float())
    expected_out, expected_log_det = flow(z, h)
    assert torch.allclose(out, expected_out, atol=1e-5)
    assert torch.allclose(log_det, expected_log_det, atol=1e-5)


class FixedOutput(torch.nn.Module):
    """Stands in for a layer: returns the same tensor whatever its input."""

    def __init__(self, value: torch.Tensor) -> None:
        super().__init__()
        self.value = value

    def forward(self, _: torch.Tensor) -> torch.Tensor:
        return self.value


def test_iaf_is_autoregressive():
    """Output i of a MADE step depends on inputs before i only, so the Jacobian of one IAF
    step is triangular (what makes its log-determinant a sum)."""
    torch.manual_seed(0)
    flow = InverseAutoregressiveFlow(4, 3, 1, [9])
    h = torch.randn(1, 3)
    jacobian = torch.autograd.functional.jacobian(
        lambda v: flow(v.reshape(1, 1, -1), h)[0].reshape(-1), torch.randn(4)
    )
    assert torch.equal(torch.triu(jacobian, 1), torch.zeros(4, 4))
    assert (torch.diagonal(jacobian) > 0).all()


def test_vampprior_is_the_mixture_of_its_pseudo_input_posteriors():
    m = model("vamp", latent_dim=1, pseudo_inputs=3).eval()
    means, logvars = m.components()
    z = torch.linspace(-12, 12, 24001).reshape(-1, 1)
    with torch.no_grad():
        density = m.log_prior(z).exp()
        direct = torch.stack(
            [
                torch.distributions.Normal(mu, (0.5 * lv).exp()).log_prob(z[:, 0]).exp()
                for mu, lv in zip(means[:, 0], logvars[:, 0])
            ]
        ).mean(0)
    assert torch.allclose(density, direct, rtol=1e-4, atol=1e-7)
    assert torch.trapezoid(density, z[:, 0]).item() == pytest.approx(1.0, abs=1e-4)


def test_mixture_density_matches_the_component_sum_in_several_dimensions():
    torch.manual_seed(0)
    means, logvars, z = torch.randn(7, 3), torch.randn(7, 3), torch.randn(5, 2, 3)
    components = torch.distributions.Independent(
        torch.distributions.Normal(means, (0.5 * logvars).exp()), 1
    )
    direct = torch.logsumexp(components.log_prob(z.unsqueeze(-2)), -1) - math.log(7)
    assert torch.allclose(mixture_log_normal(z, means, logvars), direct, atol=1e-4)


def test_the_vampprior_objective_and_its_gradient_are_the_papers(digits):
    """Tomczak & Welling's eq. (8) with one draw, written out directly: BCE plus
    log q(z|x) - log (1/K) sum_k q(z|u_k), u_k = hardtanh(W_k + b); the model's loss and every
    parameter's gradient agree (what pythae's VAMP computes too)."""
    m = model("vamp", latent_dim=3, pseudo_inputs=6).train()
    x = digits[:16]
    torch.manual_seed(5)
    loss = m.loss_terms(x, x)["loss"]
    ours = torch.autograd.grad(loss, list(m.parameters()))
    torch.manual_seed(5)
    mean, logvar = m.encode_dist(x)
    eps = torch.randn(len(x), 1, 3)[:, 0]
    z = mean + eps * (0.5 * logvar).exp()
    recon = torch.nn.functional.binary_cross_entropy_with_logits(
        m.decode(z), x, reduction="none"
    ).sum((1, 2, 3))
    pseudo = torch.nn.functional.hardtanh(m.pseudo_weight + m.pseudo_bias, 0.0, 1.0)
    means, logvars = m.encode_dist(pseudo)
    log_q = normal(mean, logvar).log_prob(z)
    log_p = torch.logsumexp(normal(means, logvars).log_prob(z.unsqueeze(1)), 1) - math.log(6)
    direct = (recon + log_q - log_p).mean()
    theirs = torch.autograd.grad(direct, list(m.parameters()))
    assert loss.item() == pytest.approx(direct.item(), rel=1e-6)
    for mine, reference in zip(ours, theirs, strict=True):
        assert torch.allclose(mine, reference, rtol=1e-4, atol=1e-6)


def test_vampprior_samples_come_from_the_mixture():
    m = model("vamp", latent_dim=1, pseudo_inputs=4).eval()
    with torch.no_grad():
        means, logvars = m.components()
        draws = m.draw_prior(40000, torch.Generator().manual_seed(0))[:, 0]
    mean = means.mean()
    variance = (logvars.exp() + means.square()).mean() - mean.square()
    assert draws.mean().item() == pytest.approx(mean.item(), abs=4 * variance.sqrt().item() / 200)
    assert draws.var().item() == pytest.approx(variance.item(), rel=0.05)


def test_two_layer_ratio_is_the_sum_of_its_four_densities(digits):
    m = model("vae-2layer").eval()
    x = digits[:5]
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        z1, ratio = m.posterior_draws(x, None, 3, generator)
        mean1, logvar1 = m.encode_dist(x)
        log_q1 = normal(mean1.unsqueeze(1), logvar1.unsqueeze(1)).log_prob(z1)
        # z2 was drawn after z1 from the same generator: draw it again the same way
        generator = torch.Generator().manual_seed(2)
        torch.randn(z1.shape, generator=generator)
        mean2, logvar2 = m.q2(z1)
        z2 = mean2 + torch.randn(mean2.shape, generator=generator) * (0.5 * logvar2).exp()
        log_q2 = normal(mean2, logvar2).log_prob(z2)
        p_mean, p_logvar = m.p1(z2)
        log_p = normal(torch.zeros_like(z2), torch.zeros_like(z2)).log_prob(z2)
        log_p = log_p + normal(p_mean, p_logvar).log_prob(z1)
    assert torch.allclose(ratio, log_p - log_q1 - log_q2, atol=1e-3)


@pytest.mark.parametrize("name", ["vamp", "vae-2layer", "vae-iaf"])
def test_sampling_and_the_code_use_the_models_own_prior(name):
    m = model(name).eval()
    samples = m.sample(6, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (6, *SHAPE) and ((samples >= 0) & (samples <= 1)).all()
    again = m.sample(6, generator=torch.Generator().manual_seed(0))
    assert torch.equal(samples, again)
    assert m.encode(torch.zeros(2, *SHAPE)).shape == (2, m.code_dim)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "vae", "--set", "model.k=5"], "model 'vae' has no option(s) k"),
        (["--model", "vae-planar", "--set", "model.flow_length=0"], "flow_length"),
        (["--model", "vamp", "--set", "model.pseudo_inputs=400"], "pseudo_inputs 400 is more"),
        (["--model", "ciwae", "--set", "model.beta=2"], "bad beta 2"),
        (["--model", "iwae", "--set", "model.kl_weight=2"], "always uses kl_weight 1.0"),
    ],
)
def test_options_that_do_not_fit_the_model_give_one_line(args, message, tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = run_cli(
        capsys, "train", "--limit", "300", "--epochs", "1", *args, "--out", str(run), "--quiet"
    )
    lines = err.strip().splitlines()
    assert code != 0 and len(lines) == 1, err
    assert lines[0].startswith("aekit: error: ") and message in lines[0], lines[0]
    assert not run.exists()


def test_figures_draw_random_codes_from_the_models_own_prior():
    """Traversals and the progress GIF start from Run.draw_codes: for a model whose prior is
    not N(0, I) (here z1's prior is p(z1|z2) p(z2)) those must be the model's own draws."""
    from aekit.config import RunConfig
    from aekit.runs.directory import Run

    m = model("vae-2layer").eval()
    run = Run(None, RunConfig.from_dict({"model": {"name": "vae-2layer"}}), history=[])
    run.model = m
    codes = run.draw_codes(5, torch.Generator().manual_seed(0))
    assert torch.equal(codes, m.draw_prior(5, torch.Generator().manual_seed(0)))
    assert not torch.equal(
        codes, torch.randn(5, m.code_dim, generator=torch.Generator().manual_seed(0))
    )


def test_a_pinned_option_may_be_restated_in_any_spelling():
    """``--set model.kl_weight=1`` arrives as the string "1": the same value as the pinned 1.0."""
    assert build_model({"name": "iwae", "kl_weight": "1", **SMALL}, SHAPE).kl_weight == 1.0
    with pytest.raises(AekitError, match=r"always uses kl_weight 1\.0"):
        build_model({"name": "iwae", "kl_weight": "0.5", **SMALL}, SHAPE)


def normal(mean: torch.Tensor, logvar: torch.Tensor):
    return torch.distributions.Independent(
        torch.distributions.Normal(mean, (0.5 * logvar).exp()), 1
    )


def test_ladder_ratio_is_the_sum_of_its_four_densities(digits):
    """Top-down: z2 ~ q(z2|x) first, then z1 ~ q(z1|z2, x), the precision-weighted product of
    z1's bottom-up estimate and p(z1|z2); the ratio scores both against the generative model."""
    m = model("vae-2layer", **LADDER).eval()
    x, generator = digits[:5], torch.Generator().manual_seed(2)
    with torch.no_grad():
        z1, ratio = m.posterior_draws(x, None, 3, generator)
        generator = torch.Generator().manual_seed(2)
        mean1, logvar1 = m.q1(x.flatten(1))
        mean2, logvar2 = m.q2(mean1)
        eps2 = torch.randn((5, 3, 2), generator=generator)
        z2 = mean2.unsqueeze(1) + eps2 * (0.5 * logvar2.unsqueeze(1)).exp()
        p_mean, p_logvar = m.p1(z2)
        precision = (-logvar1).exp().unsqueeze(1) + (-p_logvar).exp()
        q_mean = mean1.unsqueeze(1) * (-logvar1).exp().unsqueeze(1) + p_mean * (-p_logvar).exp()
        q_mean = q_mean / precision
        log_q1 = normal(q_mean, -precision.log()).log_prob(z1)
        log_q2 = normal(mean2.unsqueeze(1), logvar2.unsqueeze(1)).log_prob(z2)
        log_p = normal(torch.zeros_like(z2), torch.zeros_like(z2)).log_prob(z2)
        log_p = log_p + normal(p_mean, p_logvar).log_prob(z1)
    assert torch.allclose(ratio, log_p - log_q1 - log_q2, atol=1e-3)


def test_combined_gaussian_is_the_normalised_product():
    """N(z; a) N(z; b) is proportional to N(z; combined): their log-ratio is flat in z."""
    from aekit.models.hierarchical import TwoLayerVAE

    a, b = (torch.tensor([0.3]), torch.tensor([0.5])), (torch.tensor([-1.0]), torch.tensor([-0.7]))
    mean, logvar = TwoLayerVAE._combined(a, b)
    z = torch.linspace(-3, 3, 7).reshape(-1, 1)
    product = normal(*a).log_prob(z) + normal(*b).log_prob(z)
    difference = product - normal(mean, logvar).log_prob(z)
    assert torch.allclose(difference, difference[0].expand_as(difference), atol=1e-5)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("vae", {}),
        ("vamp", {"pseudo_inputs": 3}),
        ("vae-planar", {"flow_length": 3}),
        ("vae-iaf", {"made_hidden": [8]}),
        ("vae-2layer", {"lower_latent_dim": 2}),
        ("vae-2layer", {"lower_latent_dim": 2, "inference": "ladder"}),
    ],
    ids=["vae", "vamp", "planar", "iaf", "2layer", "ladder"],
)
def test_prior_to_posterior_ratio_has_expectation_one(name, options, digits):
    """E_q[p(z) / q(z|x)] = integral of p(z) = 1 exactly, for any x: a check of every density
    and normaliser in the ratio (a wrong log-determinant sign, a missing log K, a layer left
    out). A 2-d code keeps the weights' spread small enough to test it tightly."""
    m = model(name, **{**LIKELIHOOD_MODELS.get(name, SMALL), "latent_dim": 2, **options})
    with torch.no_grad():
        _, log_ratio = m.eval().posterior_draws(digits[:1], None, 200_000, torch.Generator())
    weights = log_ratio.double().exp().flatten()
    stderr = weights.std() / math.sqrt(len(weights))
    assert stderr < 0.1
    assert abs(weights.mean() - 1) < 5 * stderr, (weights.mean(), stderr)


def test_flows_apply_each_examples_own_parameters_to_all_its_draws():
    torch.manual_seed(0)
    for flow in (PlanarFlow(3, 5, 2), InverseAutoregressiveFlow(3, 5, 2, [6])):
        z, h = torch.randn(2, 3, 3), torch.randn(2, 5)
        out, log_det = flow(z, h)
        for i, j in itertools.product(range(2), range(3)):
            one, one_det = flow(z[i : i + 1, j : j + 1], h[i : i + 1])
            assert torch.allclose(out[i, j], one[0, 0], atol=1e-6)
            assert torch.allclose(log_det[i, j], one_det[0, 0], atol=1e-6)
        assert not torch.allclose(flow(z[:1], h[1:])[0], out[:1])  # the context matters


def test_iaf_first_coordinate_depends_on_the_context():
    """MADE's first output sees no input, only the context: without it every example's flow
    would move its first coordinate alike."""
    torch.manual_seed(0)
    flow = InverseAutoregressiveFlow(3, 5, 1, [6])
    z = torch.randn(1, 1, 3)
    first = [flow(z, torch.randn(1, 5))[0][0, 0, 0] for _ in range(2)]
    assert not torch.isclose(first[0], first[1])
