"""Disentangling, regularised and adversarial autoencoders: the papers' formulas on cases with
known answers, and the one trainer with several players."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from aekit.config import DataConfig, TrainConfig
from aekit.data.splits import Split, prepare_data
from aekit.errors import AekitError
from aekit.models import build_model
from aekit.models.base import Autoencoder
from aekit.models.disentangle import dip_penalty, permute_dims, total_correlation_terms
from aekit.models.penalties import mmd
from aekit.models.regularised import WAE_SCALES
from aekit.models.vae import log_normal, standard_log_normal
from aekit.runs.checkpoint import load_model, save_model
from aekit.training import Trainer

SHAPE = (1, 28, 28)
SMALL = {"latent_dim": 3, "hidden": [16]}


def test_tcvae_terms_sum_to_the_single_sample_kl():
    """Chen et al.'s decomposition: MI + TC + dimension-wise KL = E[log q(z|x) - log p(z)],
    whatever the estimate of q(z) (its log cancels between the terms)."""
    torch.manual_seed(0)
    mean, logvar = torch.randn(32, 4), torch.randn(32, 4) * 0.3
    z = mean + torch.randn(32, 4) * (0.5 * logvar).exp()
    for size in (None, 60000):
        terms = total_correlation_terms(z, mean, logvar, size)
        kl = (log_normal(z, mean, logvar) - standard_log_normal(z)).mean()
        assert torch.allclose(sum(terms.values()), kl, atol=1e-4)


def test_tcvae_aggregate_estimate_is_exact_when_every_posterior_is_the_same():
    """If every example has the same posterior, q(z) is that posterior whatever the data
    size: the index-code MI is 0 and the estimate of log q(z) is exact for any N."""
    torch.manual_seed(0)
    mean, logvar = torch.randn(1, 3).expand(16, 3), torch.randn(1, 3).expand(16, 3)
    z = mean + torch.randn(16, 3) * (0.5 * logvar).exp()
    for size in (None, 16, 60000):
        terms = total_correlation_terms(z, mean, logvar, size)
        assert abs(terms["mi"].item()) < 1e-5 and abs(terms["tc"].item()) < 1e-5, size
    # N = M is the batch standing for the data
    m1, v1 = torch.randn(16, 3), torch.randn(16, 3) * 0.2
    z1 = m1 + torch.randn(16, 3) * (0.5 * v1).exp()
    same = total_correlation_terms(z1, m1, v1, 16), total_correlation_terms(z1, m1, v1, None)
    assert all(torch.allclose(same[0][k], same[1][k]) for k in same[0])


def test_tcvae_total_correlation_sees_dependent_codes():
    """Posteriors N(m, 0.25) around means that copy one N(0, 1) value into every dimension
    make a Gaussian q(z) with correlation 0.8 between dimensions, whose total correlation is
    -log det(R) / 2 = 1.13 nats; independent means give 0. The minibatch estimate lands near
    both, within the noise of 512 draws."""
    torch.manual_seed(0)
    n = 512
    logvar = torch.full((n, 3), math.log(0.25))
    copied = torch.randn(n, 1).expand(n, 3).contiguous()
    tc = {}
    for name, mean in (("copied", copied), ("independent", torch.randn(n, 3))):
        z = mean + 0.5 * torch.randn(n, 3)
        tc[name] = total_correlation_terms(z, mean, logvar, None)["tc"].item()
    assert 0.9 < tc["copied"] < 1.35 and abs(tc["independent"]) < 0.1, tc


def test_tcvae_weights_shape_its_loss():
    m = build_model({"name": "beta-tcvae", **SMALL, "tc_weight": 5.0}, SHAPE)
    x = (torch.rand(8, *SHAPE) < 0.3).float()
    torch.manual_seed(1)
    terms = m.loss_terms(x, x)
    expected = terms["recon"] + terms["mi"] + 5.0 * terms["tc"] + terms["dim_kl"]
    assert torch.allclose(terms["loss"], expected)


def test_dip_penalty_vanishes_at_the_identity_covariance_and_counts_its_entries():
    torch.manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(100, 3))
    white = (q - q.mean(0)) * math.sqrt(100)
    white = torch.linalg.qr(white)[0] * math.sqrt(100)  # exactly orthonormal, centred columns
    white = white - white.mean(0)
    cov = white.T @ white / 100
    zero_logvar = torch.full((100, 3), -30.0)
    expected = (
        2 * (cov - torch.diag(cov.diagonal())).square().sum()
        + 5 * (cov.diagonal() - 1).square().sum()
    )
    assert torch.allclose(dip_penalty(white, zero_logvar, "i", 2.0, 5.0), expected, atol=1e-5)
    scaled = torch.cat([white[:, :1] * 2, white[:, 1:]], 1)  # variance 4 in dimension 0
    got = dip_penalty(scaled, zero_logvar, "i", 0.0, 1.0)
    assert got.item() == pytest.approx((cov[0, 0] * 4 - 1).item() ** 2, rel=1e-3)
    # DIP-VAE-II adds the posterior variances to the diagonal
    unit = torch.zeros(100, 3)
    assert dip_penalty(unit, torch.zeros(100, 3), "ii", 1.0, 1.0).item() == pytest.approx(0.0)


@pytest.mark.parametrize("scales", [(1.0,), WAE_SCALES], ids=["one-scale", "wae-scales"])
def test_mmd_is_near_zero_for_one_distribution_and_large_for_two(scales):
    torch.manual_seed(0)
    same = [mmd(torch.randn(200, 4), torch.randn(200, 4), scales=scales).item() for _ in range(20)]
    shifted = mmd(torch.randn(200, 4), torch.randn(200, 4) + 1.0, scales=scales).item()
    spread = torch.tensor(same).std().item()
    assert abs(sum(same) / len(same)) < 2 * spread / math.sqrt(len(same)) + 1e-4  # unbiased
    assert shifted > 10 * spread
    assert mmd(torch.randn(200, 4), torch.randn(200, 4) + 1.0, "rbf", scales) > 0


def test_the_wae_measures_with_the_authors_kernel_sum_and_the_papers_cost():
    """Tolstikhin et al.'s squared-distance cost, and their code's sum of IMQ kernels over
    scales (under BCE with one kernel the codes stayed far from the prior: RESULTS.md)."""
    model = build_model({"name": "wae", "latent_dim": 4}, (1, 8, 8)).eval()
    assert model.recon_loss == "mse"
    x = torch.rand(32, 1, 8, 8)
    torch.manual_seed(0)
    divergence = model.loss_terms(x, x)["mmd"]
    z = model.encode(x)
    torch.manual_seed(0)
    prior = torch.randn_like(z)
    assert divergence.item() == pytest.approx(mmd(z, prior, scales=WAE_SCALES).item(), rel=1e-5)
    assert divergence.item() != pytest.approx(mmd(z, prior).item(), rel=1e-2)


def test_permuting_dimensions_keeps_each_marginal_and_breaks_the_joint():
    torch.manual_seed(0)
    z = torch.randn(64, 1).expand(64, 3).contiguous()  # perfectly dependent dimensions
    shuffled = permute_dims(z)
    for d in range(3):
        assert torch.equal(shuffled[:, d].sort().values, z[:, d].sort().values)
    assert not torch.equal(shuffled[:, 0], shuffled[:, 1])


def test_rae_penalties_match_their_definitions():
    torch.manual_seed(0)
    m = build_model({"name": "rae", "latent_dim": 3, "hidden": [], "reg_weight": 1.0}, SHAPE)
    x = torch.rand(5, *SHAPE)
    terms = m.loss_terms(x, x)
    squares = sum(p.square().sum() for p in m.decoder.parameters())
    assert torch.allclose(terms["smoothness"], squares)
    assert torch.allclose(terms["embedding"], 0.5 * m.encode(x).square().sum(1).mean())
    gp = build_model({"name": "rae", "latent_dim": 3, "hidden": [], "regularizer": "gp"}, SHAPE)
    # a linear decoder: the gradient of its summed output is W^T 1 for every code
    weight = gp.decoder[0].weight
    expected = (weight.T @ torch.ones(784)).square().sum()
    assert torch.allclose(gp.loss_terms(x, x)["smoothness"], expected, rtol=1e-5)


def test_info_vae_weights_its_kl_and_mmd_as_the_paper():
    m = build_model({"name": "info-vae", **SMALL, "alpha": 0.5, "mmd_lambda": 3.0}, SHAPE)
    x = (torch.rand(16, *SHAPE) < 0.3).float()
    terms = m.loss_terms(x, x)
    expected = terms["recon"] + 0.5 * terms["kl"] + 2.5 * terms["mmd"]
    assert torch.allclose(terms["loss"], expected)


def test_aae_mixture_prior_puts_each_class_on_its_own_component():
    m = build_model({"name": "aae", **SMALL, "prior": "mixture"}, SHAPE, num_classes=4)
    labels = torch.tensor([0, 1, 2, 3] * 500)
    draws = m.prior_draws(labels, len(labels), torch.Generator().manual_seed(0))
    for c in range(4):
        centre = draws[labels == c, :2].mean(0)
        angle = 2 * math.pi * c / 4
        assert torch.allclose(
            centre, 4.0 * torch.tensor([math.cos(angle), math.sin(angle)]), atol=0.1
        )
    with pytest.raises(AekitError, match="labelled data"):
        build_model({"name": "aae", **SMALL, "prior": "mixture"}, SHAPE)


def test_aae_gaussian_posterior_draws_around_the_mean_it_encodes():
    """With ``posterior: gaussian`` the code is the posterior's mean and training sees draws
    spread by the encoder's variance: here a log-variance held at log 0.25, so sd 0.5."""
    torch.manual_seed(0)
    m = build_model({"name": "aae", **SMALL, "posterior": "gaussian"}, SHAPE)
    code_layer = m.encoder[-1]
    with torch.no_grad():
        code_layer.weight[3:].zero_()
        code_layer.bias[3:].fill_(math.log(0.25))
    x = torch.rand(1, *SHAPE)
    draws = m.training_code(x.expand(4000, *SHAPE))
    assert m.encode(x).shape == (1, 3)
    assert torch.allclose(draws.mean(0), m.encode(x)[0], atol=0.05)
    assert torch.allclose(draws.std(0), torch.full((3,), 0.5), atol=0.03)
    deterministic = build_model({"name": "aae", **SMALL}, SHAPE)
    assert torch.equal(deterministic.training_code(x), deterministic.encode(x))


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "aae", **SMALL},
        {"name": "conv-aae", "latent_dim": 3, "channels": [4, 8]},
    ],
)
def test_aae_gaussian_posterior_saves_and_loads(spec, tmp_path):
    m = build_model({**spec, "posterior": "gaussian"}, SHAPE).eval()
    save_model(m, tmp_path / "model.safetensors")
    again = load_model(tmp_path / "model.safetensors")
    x = torch.rand(2, *SHAPE)
    assert again.posterior == "gaussian" and torch.equal(again.encode(x), m.encode(x))


@pytest.mark.parametrize(
    "spec, says",
    [
        ({"name": "aae", "posterior": "gauss"}, "unknown posterior 'gauss'"),
        ({"name": "aae", "code_activation": "relu"}, "needs code_activation: linear"),
        ({"name": "conv-aae", "latent_dim": None}, "needs a latent_dim"),
    ],
)
def test_aae_gaussian_posterior_refuses_a_code_it_cannot_split(spec, says):
    with pytest.raises(AekitError, match=says):
        build_model({"posterior": "gaussian", **spec}, SHAPE)


class TwoPlayers(Autoencoder):
    """A toy with known gradients: the model's loss is a^2 b (b a constant to it), the
    critic's (a b - 1)^2 (a a constant to it). Each player must get only its own term's
    gradient, from one step of the one trainer."""

    generative = False

    def __init__(self, input_shape, **base):
        super().__init__(input_shape, **base)
        self.code_dim = 1
        self.a = nn.Parameter(torch.tensor(2.0))
        self.b = nn.Parameter(torch.tensor(3.0))

    def parameter_groups(self):
        return {"loss": [self.a], "critic": [self.b]}

    def loss_terms(self, x, target, y=None):
        ones = torch.ones(len(x))
        return {
            "loss": (self.a**2 * self.b * ones).mean(),
            "critic": ((self.a * self.b - 1) ** 2 * ones).mean(),
        }


def test_each_player_follows_its_own_loss_only():
    model = TwoPlayers((1,), recon_loss="mse", output="linear")
    cfg = TrainConfig(epochs=1, batch_size=4, lr=0.1, optimizer="sgd", device="cpu")
    trainer = Trainer(model, cfg)
    data = Split(torch.zeros(4, 1), None)
    trainer.fit(data, data)
    # d(a^2 b)/da = 2ab = 12 -> a = 2 - 1.2; d((ab-1)^2)/db = 2(ab-1)a = 20 -> b = 3 - 2.0
    assert model.a.item() == pytest.approx(0.8)
    assert model.b.item() == pytest.approx(1.0)


def test_parameter_groups_must_cover_every_parameter_once():
    class Missing(TwoPlayers):
        def parameter_groups(self):
            return {"loss": [self.a]}

    with pytest.raises(AekitError, match="each trainable parameter once"):
        Trainer(Missing((1,), recon_loss="mse", output="linear"), TrainConfig(device="cpu"))


def test_adversarial_models_train_resume_and_refuse_compile_in_one_line(tmp_path):
    """A model with a discriminator trains, saves its two players' optimizer state and
    resumes to the same numbers as an uninterrupted run; --compile trains eagerly, saying so."""
    from aekit.config import RunConfig
    from aekit.workflow import resume, train

    spec = {"name": "factor-vae", **SMALL, "discriminator_hidden": [8]}
    config = RunConfig.from_dict(
        {
            "model": spec,
            "data": {"dataset": "mnist-5k", "limit": 200},
            "train": {"epochs": 3, "batch_size": 50, "device": "cpu", "seed": 3},
        }
    )
    whole = train(config, tmp_path / "whole", figures=False)
    short = config.with_overrides({"train.epochs": 1})
    train(short, tmp_path / "parts", figures=False)
    resumed = resume(tmp_path / "parts", epochs=3, figures=False)
    for a, b in zip(whole.history, resumed.history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-6)
        assert a["train_discriminator"] == pytest.approx(b["train_discriminator"], rel=1e-6)
    said = []
    compiled = config.with_overrides({"train.compile": True, "train.epochs": 1})
    train(compiled, tmp_path / "compiled", figures=False, log=said.append)
    assert any("trains several players (loss and discriminator)" in line for line in said)
    said = []
    quantised = RunConfig.from_dict(
        {
            "model": {"name": "vq-vae", "channels": [4, 8], "codebook_size": 8},
            "data": {"dataset": "mnist-5k", "limit": 200},
            "train": {"epochs": 1, "batch_size": 50, "device": "cpu", "compile": True},
        }
    )
    train(quantised, tmp_path / "vq", figures=False, log=said.append)
    assert any("codebook moves by averages updated in place" in line for line in said)


def test_wae_and_aae_sample_from_their_prior():
    data = prepare_data(DataConfig(dataset="mnist-5k", limit=100))
    for name in ("wae", "aae"):
        m = build_model({"name": name, **SMALL}, data.shape).eval()
        a = m.sample(4, generator=torch.Generator().manual_seed(0))
        b = m.sample(4, generator=torch.Generator().manual_seed(0))
        assert a.shape == (4, *SHAPE) and torch.equal(a, b)


def vq(**options):
    torch.manual_seed(0)
    spec = {"name": "vq-vae", "channels": [4, 8], "embedding_dim": 3, "codebook_size": 6}
    return build_model({**spec, **options}, SHAPE)


def test_vq_picks_the_nearest_codebook_entry_and_decodes_only_entries():
    m = vq()
    flat = torch.randn(50, 3)
    brute = torch.cdist(flat, m.quantizer.codebook).argmin(1)
    assert torch.equal(m.quantizer.nearest(flat), brute)
    code = m.encode(torch.rand(2, *SHAPE)).reshape(2, 3, -1)
    entries = m.quantizer.codebook
    for vector in code.permute(0, 2, 1).reshape(-1, 3):
        assert (entries - vector).abs().sum(1).min() < 1e-6


def test_vq_gradient_passes_the_quantisation_straight_through():
    """In the model's own loss, the encoder output gets the decoder's gradient at the
    quantised vectors (commitment off, so that is all it gets)."""
    m = vq(ema=False, commitment=0.0)
    x = torch.rand(2, *SHAPE)
    seen = {}

    def keep(module, inputs, output):
        output.retain_grad()
        seen["z_e"] = output

    m.encoder.register_forward_hook(keep)
    m.loss_terms(x, x)["recon"].backward()
    with torch.no_grad():
        flat = m._vectors(seen["z_e"])
        quantised = m.quantizer.codebook[m.quantizer.nearest(flat)]
    at_quantised = m._grid(quantised).detach().requires_grad_()
    m.reconstruction_loss(m.decoder(at_quantised), x).backward()
    assert torch.allclose(seen["z_e"].grad, at_quantised.grad)


def test_vq_ema_moves_entries_to_the_mean_of_their_vectors_and_restarts_dead_ones():
    m = vq(decay=0.5, restart_below=0.01)
    q = m.quantizer
    with torch.no_grad():
        q.codebook.copy_(torch.eye(6, 3) * 10)  # entries 3..5 sit at the origin
        q.sums.copy_(q.codebook)
    cluster = torch.tensor([[9.0, 1.0, 0.0], [11.0, -1.0, 0.0]])  # mean (10, 0, 0)
    for _ in range(40):
        q.update(cluster, torch.zeros(2, dtype=torch.long))
    assert torch.allclose(q.codebook[0], torch.tensor([10.0, 0.0, 0.0]), atol=1e-3)
    # the other entries went unused long enough to be restarted at one of the vectors
    for entry in q.codebook[1:]:
        assert min((entry - v).abs().sum() for v in cluster) < 0.05  # up to count smoothing


def test_vq_refuses_a_one_entry_codebook():
    with pytest.raises(AekitError, match="codebook_size 1"):
        vq(codebook_size=1)


def test_a_player_whose_loss_is_not_a_number_stops_training():
    """The divergence check watches every player's loss, not only the model's own."""
    from aekit.training.trainer import TrainingDiverged

    class Broken(TwoPlayers):
        def loss_terms(self, x, target, y=None):
            terms = super().loss_terms(x, target, y)
            return {**terms, "critic": terms["critic"] * float("nan")}

    trainer = Trainer(Broken((1,), recon_loss="mse", output="linear"), TrainConfig(device="cpu"))
    data = Split(torch.zeros(4, 1), None)
    with pytest.raises(TrainingDiverged, match="NaN"):
        trainer.fit(data, data)
