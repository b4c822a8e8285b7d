"""Importance-weighted objectives: ``iwae`` (Burda et al. 2016) and the three variants of
Rainforth et al. 2018, "Tighter variational bounds are not necessarily better": ``miwae``,
``piwae`` and ``ciwae``.

Each is a mixin listed before a VAE class: it replaces the ELBO by a bound computed from K
draws of the model's own posterior, log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x)
(``weighted_terms``), so IWAE, MIWAE and CIWAE work with any posterior and prior (PIWAE: see
its class). With K = 1 (and M = 1) those three bounds are the ELBO. The terms logged beside
the loss are the single-sample ELBO's parts averaged over the K draws (``recon``, ``kl``), so
``val_elbo`` compares with a plain VAE's.

Where aekit differs from the papers: the logged ``kl`` is a Monte Carlo estimate (the draws
are there anyway), and the options are named ``k`` and ``m`` for every variant (Rainforth et
al. write M outer and K inner samples, as here).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from aekit.errors import AekitError
from aekit.models.base import register_model
from aekit.models.conv_vae import ConvVAE
from aekit.models.hierarchical import TwoLayerVAE
from aekit.models.vae import MLPVAE, VAEMixin
from aekit.values import PositiveInt


def log_mean_exp(values: torch.Tensor, dim: int) -> torch.Tensor:
    """log(mean(exp(values))) along ``dim``, through the stable log-sum-exp."""
    return torch.logsumexp(values, dim=dim) - math.log(values.shape[dim])


class ImportanceWeighted(VAEMixin):
    """IWAE: maximise log (1/K) sum_k w_k, a lower bound on log p(x) that rises with K
    (Burda et al. 2016, theorem 1). ``k`` is K; Burda et al. report K = 1, 5 and 50.

    The loss weights of the ELBO (``kl_weight``, ``capacity``) are pinned: weighted, the
    bound would no longer bound anything."""

    fixed: ClassVar[dict[str, Any]] = {"kl_weight": 1.0, "kl_estimator": "mc", "capacity": None}
    schedulable: ClassVar[tuple[str, ...]] = ()

    def __init__(self, input_shape: tuple[int, ...], *, k: PositiveInt = 5, **kwargs: Any) -> None:
        super().__init__(input_shape, **kwargs)
        self.k = k

    def draws(self) -> int:
        """Posterior draws per example and step."""
        return self.k

    def loss_terms(
        self, x: torch.Tensor, target: torch.Tensor, y: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        log_px, log_ratio = self.weighted_terms(x, target, y, self.draws())
        loss = self.objective(log_px + log_ratio)
        return {"loss": loss, "recon": -log_px.mean(), "kl": -log_ratio.mean()}

    def objective(self, log_w: torch.Tensor) -> torch.Tensor:
        """The batch's loss from its log weights (n, draws)."""
        return -log_mean_exp(log_w, 1).mean()


class MultiplyImportanceWeighted(ImportanceWeighted):
    """MIWAE(M, K): the mean of M independent IWAE bounds of K draws each. Fewer draws per
    bound than IWAE(M * K) give the encoder a gradient with a better signal-to-noise ratio,
    at a looser bound for the decoder (Rainforth et al. 2018, section 4)."""

    def __init__(self, input_shape: tuple[int, ...], *, m: PositiveInt = 8, **kwargs: Any) -> None:
        super().__init__(input_shape, **kwargs)
        self.m = m

    def draws(self) -> int:
        return self.m * self.k

    def objective(self, log_w: torch.Tensor) -> torch.Tensor:
        return -self.grouped_bound(log_w).mean()

    def grouped_bound(self, log_w: torch.Tensor) -> torch.Tensor:
        """Per example, the mean over M groups of each group's IWAE bound of K draws."""
        return log_mean_exp(log_w.reshape(len(log_w), self.m, self.k), 2).mean(1)


class PartiallyImportanceWeighted(MultiplyImportanceWeighted):
    """PIWAE(M, K): the decoder follows the IWAE(M * K) bound, the encoder the MIWAE(M, K)
    bound, both from the same M * K draws (Rainforth et al. 2018, algorithm 1).

    The decoder reads the draws as constants, so the loss's backward pass gives the decoder
    the IWAE gradient (each draw's log p(x|z) weighted by its weight normalised over all
    M * K draws). The encoder's MIWAE gradient reaches the draws in two ways: through the
    log-ratio term, weighted here by the weights normalised within each group and divided by
    M, and through the decoder, whose gradient with respect to the draws, under those same
    weights, is taken once more with ``autograd.grad`` and passed on to the encoder. The loss
    reported is -IWAE(M * K), the decoder's objective; ``miwae`` is logged beside it.

    The encoder is everything that shapes the log-ratio: this suits models whose prior has
    no parameters of its own (the MLP VAE, as registered); with a learned prior its
    parameters would follow the encoder's objective.

    Where it differs from the paper: one optimizer steps both networks. Without gradient
    clipping that is the paper's update (Adam treats every parameter on its own); with
    ``grad_clip`` the clipping norm is taken over both networks together."""

    def loss_terms(
        self, x: torch.Tensor, target: torch.Tensor, y: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        n = len(x)
        z, log_ratio = self.posterior_draws(x, y, self.draws())
        decoded = z.detach().requires_grad_(z.requires_grad)
        log_px = self.draws_log_likelihood(decoded, target, y)
        with torch.no_grad():
            log_w = (log_px + log_ratio).reshape(n, self.m, self.k)
            iwae_weights = torch.softmax(log_w.reshape(n, -1), 1)
            miwae_weights = (torch.softmax(log_w, 2) / self.m).reshape(n, -1)
        surrogate = (iwae_weights * log_px + miwae_weights * log_ratio).sum()
        if z.requires_grad:
            (through_decoder,) = torch.autograd.grad(
                (miwae_weights * log_px).sum(), decoded, retain_graph=True
            )
            surrogate = surrogate + (through_decoder * z).sum()
        surrogate = -surrogate / n
        iwae = log_mean_exp(log_w.reshape(n, -1), 1).mean()
        return {
            "loss": -iwae + (surrogate - surrogate.detach()),
            "miwae": log_mean_exp(log_w, 2).mean(),
            "recon": -log_px.detach().mean(),
            "kl": -log_ratio.detach().mean(),
        }


class CombinedImportanceWeighted(ImportanceWeighted):
    """CIWAE(K, beta): beta * ELBO + (1 - beta) * IWAE(K), both from the same K draws (the
    ELBO as their mean), a convex mix of a loose bound with a good encoder gradient and a
    tight one (Rainforth et al. 2018, section 4). ``beta`` is the paper's beta."""

    def __init__(self, input_shape: tuple[int, ...], *, beta: float = 0.5, **kwargs: Any) -> None:
        if not 0 <= beta <= 1:
            raise AekitError(f"bad beta {beta}; CIWAE mixes two bounds with 0 <= beta <= 1")
        super().__init__(input_shape, **kwargs)
        self.beta = beta

    def objective(self, log_w: torch.Tensor) -> torch.Tensor:
        bound = self.beta * log_w.mean(1) + (1 - self.beta) * log_mean_exp(log_w, 1)
        return -bound.mean()


@register_model("iwae")
class IWAE(ImportanceWeighted, MLPVAE):
    """The MLP VAE trained on the importance-weighted bound of k draws (Burda et al. 2016).

    Burda et al.'s one-stochastic-layer network is ``hidden: [200, 200]``, ``latent_dim: 50``,
    ``activation: tanh``."""


@register_model("conv-iwae")
class ConvIWAE(ImportanceWeighted, ConvVAE):
    """S17's convolutional VAE trained on the IWAE bound."""


@register_model("iwae-2layer")
class TwoLayerIWAE(ImportanceWeighted, TwoLayerVAE):
    """``vae-2layer`` trained on the importance-weighted bound (Burda et al. 2016).

    Their best MNIST result: 82.90 nats at K = 50."""


@register_model("miwae")
class MIWAE(MultiplyImportanceWeighted, MLPVAE):
    """The MLP VAE trained on the MIWAE(M, K) bound (Rainforth et al. 2018; M = K = 8)."""


@register_model("piwae")
class PIWAE(PartiallyImportanceWeighted, MLPVAE):
    """The MLP VAE trained with PIWAE(M, K) (Rainforth et al. 2018; M = K = 8).

    Its step computes a second gradient inside the loss, which ``--compile`` cannot trace: it
    trains eagerly then, saying so."""


@register_model("ciwae")
class CIWAE(CombinedImportanceWeighted, MLPVAE):
    """The MLP VAE trained on the CIWAE bound (Rainforth et al. 2018; K = 64, beta = 0.5)."""

    defaults: ClassVar[dict[str, Any]] = {"k": 64}
