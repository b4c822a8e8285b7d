"""``vae-2layer``: a VAE with two stochastic layers, the second architecture of Burda et al.
2016 ("Importance weighted autoencoders", section 5: 784-200-200-100 then 100-100-50, tanh).

Inference is bottom-up, q(z1|x) q(z2|z1); generation top-down, p(z2) p(z1|z2) p(x|z1), with
p(z2) = N(0, I) and every conditional a diagonal Gaussian with a log-variance head. The code
(``encode``, ``decode``, ``code_dim``) is the lower layer z1, the one the decoder reads, so
every figure and application that decodes codes works unchanged; sampling starts at z2.
``inference: ladder`` is the top-down inference of the ladder VAE (Sonderby et al. 2016,
"Ladder variational autoencoders"): a bottom-up pass gives Gaussian estimates for both layers
(z2's from z1's estimate), z2 is drawn from its estimate, and q(z1|z2, x) combines z1's
bottom-up estimate with the generative p(z1|z2) by precision weighting, so inference and
generation share p(z1|z2).

Where it differs from the papers: the Gaussians use log-variances, as in the other VAEs
(Burda et al. exp-parameterise standard deviations; Sonderby et al. a softplus), and the
ladder has neither batch normalisation nor its built-in KL warm-up (a schedule of
``kl_weight`` gives the warm-up), and its bottom-up estimate of z2 is computed from z1's
estimated mean rather than from the deterministic features below it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from aekit.errors import unknown_choice
from aekit.models.base import register_model
from aekit.models.layers import mlp
from aekit.models.vae import (
    VariationalAutoencoder,
    gaussian_draws,
    log_normal,
    standard_noise,
)
from aekit.values import PositiveInt, Sizes

INFERENCE = ("bottom-up", "ladder")


class GaussianLayer(nn.Module):
    """An MLP from ``sizes[0]`` through ``sizes[1:]``, then mean and log-variance heads."""

    def __init__(self, sizes: list[int], out: int, activation: str) -> None:
        super().__init__()
        self.body = mlp(sizes, activation, activation)
        self.mean = nn.Linear(sizes[-1], out)
        self.logvar = nn.Linear(sizes[-1], out)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(h)
        return self.mean(h), self.logvar(h)


@register_model("vae-2layer")
class TwoLayerVAE(VariationalAutoencoder):
    """VAE with two stochastic layers, z1 (the code) under z2 (Burda et al. 2016).

    ``latent_dim`` is the size of z2, the top; ``lower_latent_dim`` that of z1, the code.
    ``hidden`` are the deterministic layers between x and z1 (mirrored in the decoder),
    ``upper_hidden`` those between z1 and z2 (both ways). The defaults are Burda et al.'s
    MNIST network."""

    gaussian_posterior: ClassVar[bool] = False
    fixed: ClassVar[dict[str, Any]] = {"kl_estimator": "mc"}

    def __init__(
        self,
        input_shape: tuple[int, ...],
        *,
        latent_dim: PositiveInt = 50,
        lower_latent_dim: PositiveInt = 100,
        hidden: Sizes = (200, 200),
        upper_hidden: Sizes = (100, 100),
        activation: str = "tanh",
        inference: str = "bottom-up",
        **base: Any,
    ) -> None:
        if inference not in INFERENCE:
            raise unknown_choice("inference", inference, INFERENCE)
        super().__init__(input_shape, **base)
        self.inference = inference
        self.code_dim = lower_latent_dim
        self.top_dim = latent_dim
        self.q1 = GaussianLayer([self.input_dim, *hidden], lower_latent_dim, activation)
        self.q2 = GaussianLayer([lower_latent_dim, *upper_hidden], latent_dim, activation)
        self.p1 = GaussianLayer([latent_dim, *upper_hidden[::-1]], lower_latent_dim, activation)
        self.decoder = mlp([lower_latent_dim, *hidden[::-1], self.input_dim], activation, None)

    def encode_dist(
        self, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z1|x), the lower layer's posterior (for the ladder, at z2's bottom-up mean)."""
        if self.inference == "bottom-up":
            estimate: tuple[torch.Tensor, torch.Tensor] = self.q1(x.flatten(1))
        return estimate
        estimate1, estimate2 = self._bottom_up(x)
        return self._combined(estimate1, self.p1(estimate2[0]))

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        out: torch.Tensor = self.decoder(z)
        return out.reshape(-1, *self.input_shape)

    def posterior_draws(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None = None,
        k: int = 1,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Bottom-up: z1 ~ q(z1|x), z2 ~ q(z2|z1); ladder: z2 ~ q(z2|x), z1 ~ q(z1|z2, x). The
        ratio is log p(z2) + log p(z1|z2) - log q(z1|.) - log q(z2|.)."""
        if self.inference == "ladder":
            return self._ladder_draws(x, k, generator)
        z1, log_q1 = gaussian_draws(*self.encode_dist(x), k, generator)
        n = len(x)
        mean2, logvar2 = self.q2(z1.reshape(n * k, -1))
        z2, log_q2 = gaussian_draws(mean2, logvar2, 1, generator)
        z2, log_q2 = z2.reshape(n, k, -1), log_q2.reshape(n, k)
        mean1, logvar1 = self.p1(z2)
        log_p = self.log_prior(z2) + log_normal(z1, mean1, logvar1)
        return z1, log_p - log_q1 - log_q2

    def _bottom_up(
        self, x: torch.Tensor
    ) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
        """The ladder's bottom-up Gaussian estimates of z1 (from x) and z2 (from z1's mean)."""
        estimate1 = self.q1(x.flatten(1))
        return estimate1, self.q2(estimate1[0])

    @staticmethod
    def _combined(
        estimate: tuple[torch.Tensor, torch.Tensor], prior: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The product of two Gaussians, renormalised: precisions add, means are averaged
        with precision weights (Sonderby et al.'s equations 18-19), in log-variances."""
        (mean_a, logvar_a), (mean_b, logvar_b) = estimate, prior
        logvar = -torch.logaddexp(-logvar_a, -logvar_b)
        mean = mean_a * torch.exp(logvar - logvar_a) + mean_b * torch.exp(logvar - logvar_b)
        return mean, logvar

    def _ladder_draws(
        self, x: torch.Tensor, k: int, generator: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        (mean1, logvar1), (mean2, logvar2) = self._bottom_up(x)
        z2, log_q2 = gaussian_draws(mean2, logvar2, k, generator)  # (n, k, top)
        p_mean, p_logvar = self.p1(z2)
        mean, logvar = self._combined(
            (mean1.unsqueeze(1), logvar1.unsqueeze(1)), (p_mean, p_logvar)
        )
        n = len(x)
        z1, log_q1 = gaussian_draws(
            mean.reshape(n * k, -1), logvar.reshape(n * k, -1), 1, generator
        )
        z1, log_q1 = z1.reshape(n, k, -1), log_q1.reshape(n, k)
        log_p = self.log_prior(z2) + log_normal(z1, p_mean, p_logvar)
        return z1, log_p - log_q1 - log_q2

    def draw_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z2 ~ N(0, I), then z1 ~ p(z1|z2): codes of the lower layer."""
        z2 = standard_noise((n, self.top_dim), generator, next(self.parameters()).device)
        mean, logvar = self.p1(z2)
        return gaussian_draws(mean, logvar, 1, generator)[0][:, 0]
