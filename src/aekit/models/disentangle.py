"""VAEs that trade reconstruction for factorised codes: ``beta-vae`` (Higgins et al. 2017,
with Burgess et al. 2018's capacity), ``beta-tcvae`` (Chen et al. 2018, "Isolating sources of
disentanglement"), ``dip-vae`` (Kumar et al. 2018, "Variational inference of disentangled
latent concepts") and ``factor-vae`` (Kim & Mnih 2018, "Disentangling by factorising").

Each is registered on the MLP VAE and on S17's convolutional VAE (the papers use
convolutional networks on dSprites and faces).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from aekit.errors import AekitError, unknown_choice
from aekit.models.base import check_weight, register_model
from aekit.models.conv_vae import ConvVAE
from aekit.models.penalties import Discriminator, with_discriminator
from aekit.models.vae import MLPVAE, VAEMixin, standard_log_normal
from aekit.values import Sizes

_LOG_2PI = math.log(2 * math.pi)


class BetaWeighted(VAEMixin):
    """beta-VAE: the ELBO with its KL weighted by beta (``kl_weight``, 4 by default; Higgins
    et al. report 4 on dSprites). Burgess et al.'s capacity objective, recon + gamma |KL - C|
    with C raised during training, is ``capacity`` C with ``kl_weight`` as gamma and a
    schedule of ``capacity`` (``train.weight_schedules``)."""

    defaults: ClassVar[dict[str, Any]] = {"kl_weight": 4.0}


def pairwise_log_densities(
    z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor
) -> torch.Tensor:
    """log q(z_i[d] | x_j) for every pair of batch rows i, j and every dimension d:
    shape (batch, batch, latent)."""
    z, mean, logvar = z.unsqueeze(1), mean.unsqueeze(0), logvar.unsqueeze(0)
    return -0.5 * ((z - mean).square() * torch.exp(-logvar) + logvar + _LOG_2PI)


def total_correlation_terms(
    z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor, dataset_size: int | None
) -> dict[str, torch.Tensor]:
    """Chen et al.'s decomposition of the KL, each term a batch mean. The aggregate posterior
    q(z_i) = (1/N) sum_n q(z_i|x_n) is estimated from the batch by stratified importance
    weights (Chen et al.'s minibatch stratified sampling in spirit): the example's own
    posterior counts 1/N, each of the M - 1 others (N - 1) / (N (M - 1)) for the N - 1 examples
    it stands for; so the logged terms are estimates of the true ones, not shifted by a
    constant. Without N the batch stands for the data (every posterior counts 1/M). Index-code
    MI, total correlation and dimension-wise KL sum to log q(z|x) - log p(z), the
    single-sample KL, exactly."""
    batch = len(z)
    pairs = pairwise_log_densities(z, mean, logvar)
    n = dataset_size or batch
    own, other = -math.log(n), math.log(max(n - 1, 1)) - math.log(n * max(batch - 1, 1))
    weights = torch.full((batch, batch), other, dtype=z.dtype, device=z.device)
    weights.fill_diagonal_(own if batch > 1 else 0.0)
    log_qz = torch.logsumexp(pairs.sum(2) + weights, dim=1)
    log_prod_qz = torch.logsumexp(pairs + weights.unsqueeze(2), dim=1).sum(1)
    log_qz_x = pairs.diagonal(dim1=0, dim2=1).sum(0)
    log_pz = standard_log_normal(z)
    return {
        "mi": (log_qz_x - log_qz).mean(),
        "tc": (log_qz - log_prod_qz).mean(),
        "dim_kl": (log_prod_qz - log_pz).mean(),
    }


class TotalCorrelation(VAEMixin):
    """beta-TCVAE: loss = recon + alpha MI + beta TC + gamma dimension-wise KL (Chen et al.,
    equation 2), the paper's weights alpha = gamma = 1 and ``tc_weight`` beta = 6 by default.
    The estimate of q(z) needs the training set's size N: ``build_trainer`` tells the model
    (``check_training_set``), so runs and resumed runs use it; a model trained by a bare
    ``Trainer`` treats the batch as the data. ``kl_weight`` and ``capacity`` do not apply
    (the three weights replace them)."""

    fixed: ClassVar[dict[str, Any]] = {"kl_weight": 1.0, "capacity": None}
    schedulable: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        input_shape: tuple[int, ...],
        *,
        mi_weight: float = 1.0,
        tc_weight: float = 6.0,
        dim_kl_weight: float = 1.0,
        **kwargs: Any,
    ) -> None:
        check_weight("mi_weight", mi_weight)
        check_weight("tc_weight", tc_weight)
        check_weight("dim_kl_weight", dim_kl_weight)
        super().__init__(input_shape, **kwargs)
        self.weights = {"mi": mi_weight, "tc": tc_weight, "dim_kl": dim_kl_weight}
        self.dataset_size: int | None = None

    def check_training_set(self, examples: int) -> None:
        super().check_training_set(examples)
        self.dataset_size = examples

    def loss_terms(
        self, x: torch.Tensor, target: torch.Tensor, y: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        mean, logvar, z, recon, kl = self.elbo_parts(x, target, y)
        terms = total_correlation_terms(z, mean, logvar, self.dataset_size)
        penalty = sum(self.weights[key] * value for key, value in terms.items())
        return {"loss": recon + penalty, "recon": recon, "kl": kl, **terms}


def dip_penalty(
    mean: torch.Tensor, logvar: torch.Tensor, kind: str, off_diagonal: float, diagonal: float
) -> torch.Tensor:
    """DIP-VAE's penalty on a covariance matched to the identity: lambda_od sum_{i != j} C_ij^2
    + lambda_d sum_i (C_ii - 1)^2, with C = Cov[mean(x)] (DIP-VAE-I) or the covariance of
    q(z) = E[diag(var(x))] + Cov[mean(x)] (DIP-VAE-II), over the batch."""
    centred = mean - mean.mean(0)
    cov = centred.T @ centred / len(mean)
    if kind == "ii":
        cov = cov + torch.diag(torch.exp(logvar).mean(0))
    diag = torch.diagonal(cov)
    off = cov - torch.diag(diag)
    return off_diagonal * off.square().sum() + diagonal * (diag - 1).square().sum()


class DecorrelatedPrior(VAEMixin):
    """DIP-VAE: the ELBO plus ``dip_penalty`` (Kumar et al. 2018); ``dip: i`` or ``ii``.
    ``lambda_d`` defaults as the paper ties it to ``lambda_od``: 10 lambda_od for DIP-VAE-I,
    lambda_od for DIP-VAE-II; ``lambda_od`` defaults to 10. ``kl_weight`` weights the KL;
    Burgess et al.'s ``capacity`` does not apply."""

    fixed: ClassVar[dict[str, Any]] = {"capacity": None}
    schedulable: ClassVar[tuple[str, ...]] = ("kl_weight",)

    def __init__(
        self,
        input_shape: tuple[int, ...],
        *,
        dip: str = "i",
        lambda_od: float = 10.0,
        lambda_d: float | None = None,
        **kwargs: Any,
    ) -> None:
        if dip not in ("i", "ii"):
            raise unknown_choice("dip", dip, ["i", "ii"])
        if lambda_d is None:
            lambda_d = 10 * lambda_od if dip == "i" else lambda_od
        if not (lambda_od >= 0 and lambda_d >= 0):
            raise AekitError("bad lambda_od / lambda_d; they are loss weights, >= 0")
        super().__init__(input_shape, **kwargs)
        self.dip, self.lambda_od, self.lambda_d = dip, lambda_od, lambda_d

    def loss_terms(
        self, x: torch.Tensor, target: torch.Tensor, y: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        mean, logvar, _, recon, kl = self.elbo_parts(x, target, y)
        dip = dip_penalty(mean, logvar, self.dip, self.lambda_od, self.lambda_d)
        return {"loss": recon + self.kl_weight * kl + dip, "recon": recon, "kl": kl, "dip": dip}


def permute_dims(z: torch.Tensor) -> torch.Tensor:
    """Each code dimension shuffled independently across the batch: a sample of the product
    of the marginals, prod_d q(z_d) (Kim & Mnih, algorithm 1)."""
    order = torch.argsort(torch.rand(z.shape, device=z.device), dim=0)
    return torch.gather(z, 0, order)


class FactorisedCodes(VAEMixin):
    """FactorVAE: loss = ELBO + ``gamma`` TC, the total correlation estimated by a
    discriminator D that tells codes q(z) (label 1) from dimension-wise shuffled ones (label
    0): TC ~ E_q[logit D(z)]. D is a second player trained on its own loss
    (``discriminator``), in the same step (parameter_groups).

    Where it differs from the paper: the shuffled codes come from the same batch (the paper
    draws a second batch), the discriminator is smaller (``discriminator_hidden``, the paper
    uses 6 layers of 1000) and trains at the model's learning rate. ``gamma`` defaults to 35;
    the paper tunes it per data set. ``capacity`` does not apply."""

    fixed: ClassVar[dict[str, Any]] = {"capacity": None}
    schedulable: ClassVar[tuple[str, ...]] = ("kl_weight",)

    def __init__(
        self,
        input_shape: tuple[int, ...],
        *,
        gamma: float = 35.0,
        discriminator_hidden: Sizes = (512, 512, 512),
        **kwargs: Any,
    ) -> None:
        check_weight("gamma", gamma)
        super().__init__(input_shape, **kwargs)
        self.gamma = gamma
        self.discriminator = Discriminator(self.code_dim, discriminator_hidden)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return with_discriminator(self, self.discriminator)

    def loss_terms(
        self, x: torch.Tensor, target: torch.Tensor, y: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        _, _, z, recon, kl = self.elbo_parts(x, target, y)
        tc = self.discriminator(z).mean()
        codes, shuffled = z.detach(), permute_dims(z.detach())
        critic = F.binary_cross_entropy_with_logits(
            self.discriminator(codes), torch.ones(len(z), device=z.device)
        ) + F.binary_cross_entropy_with_logits(
            self.discriminator(shuffled), torch.zeros(len(z), device=z.device)
        )
        loss = recon + self.kl_weight * kl + self.gamma * tc
        return {"loss": loss, "recon": recon, "kl": kl, "tc": tc, "discriminator": critic}


@register_model("beta-vae")
class BetaVAE(BetaWeighted, MLPVAE):
    """The MLP VAE with its KL weighted by beta (Higgins et al. 2017)."""


@register_model("conv-beta-vae")
class ConvBetaVAE(BetaWeighted, ConvVAE):
    """S17's convolutional VAE with its KL weighted by beta (Higgins et al. 2017)."""


@register_model("beta-tcvae")
class BetaTCVAE(TotalCorrelation, MLPVAE):
    """The MLP VAE with beta-TCVAE's decomposed KL (Chen et al. 2018)."""


@register_model("conv-beta-tcvae")
class ConvBetaTCVAE(TotalCorrelation, ConvVAE):
    """S17's convolutional VAE with beta-TCVAE's decomposed KL (Chen et al. 2018)."""


@register_model("dip-vae")
class DIPVAE(DecorrelatedPrior, MLPVAE):
    """The MLP VAE with DIP-VAE's covariance penalty (Kumar et al. 2018)."""


@register_model("conv-dip-vae")
class ConvDIPVAE(DecorrelatedPrior, ConvVAE):
    """S17's convolutional VAE with DIP-VAE's covariance penalty (Kumar et al. 2018)."""


@register_model("factor-vae")
class FactorVAE(FactorisedCodes, MLPVAE):
    """The MLP VAE with FactorVAE's discriminator-estimated total correlation (Kim & Mnih)."""


@register_model("conv-factor-vae")
class ConvFactorVAE(FactorisedCodes, ConvVAE):
    """S17's convolutional VAE with FactorVAE's total correlation penalty (Kim & Mnih)."""
