"""``vamp``: the VampPrior of Tomczak & Welling 2018 ("VAE with a VampPrior").

The prior is the encoder's own posterior averaged over K learned pseudo-inputs u_k,
p(z) = (1/K) sum_k q(z|u_k), so prior and posterior are fitted together and the KL is no
longer pushed towards a fixed N(0, I). The pseudo-inputs live in data space and are made as in
Tomczak & Welling's code: a linear layer applied to the K one-hot vectors, then hardtanh(0, 1),
u_k = hardtanh(W_k + b). The shared bias b matters: started as PyTorch starts a linear layer
(near zero), it moves every pseudo-input towards the data together. Pseudo-inputs held as K
free images started at 0.5 instead collapsed every posterior onto the prior in our runs
(benchmarks/RESULTS.md, "Likelihood zoo"). Sampling draws a pseudo-input uniformly, then a code
from its posterior.

Where it differs from the paper: the KL is the single-sample estimate of the paper, and the
warm-up of its experiments is available as a schedule of ``kl_weight``
(``train.weight_schedules``) rather than built in. The paper's networks use gated units; with
tanh units (Burda et al.'s network) the encoder saturates within a hundred steps and sends
every input onto the prior, where it stays for many epochs (pythae's VAMP alike), and a KL
warm-up makes that worse. The default ReLU network learns from the start (benchmarks/
RESULTS.md, "Likelihood zoo").
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from aekit.errors import AekitError
from aekit.models.base import register_model
from aekit.models.conv_vae import ConvVAE
from aekit.models.vae import MLPVAE, VAEMixin, gaussian_draws
from aekit.values import PositiveInt

_LOG_2PI = math.log(2 * math.pi)


def mixture_log_normal(z: torch.Tensor, means: torch.Tensor, logvars: torch.Tensor) -> torch.Tensor:
    """log (1/K) sum_k N(z; means[k], exp(logvars[k])) over z's last dimension.

    The squared distances to all K components come from two matrix products (expanding
    (z - m)^2 / v), so the cost is that of a linear layer, not a (rows, K, d) temporary. The
    expansion is computed in float64: with the small variances a trained prior's components
    have, its terms are large and nearly cancel, and float32 would lose tenths of a nat."""
    flat = z.reshape(-1, z.shape[-1]).double()
    means, logvars = means.double(), logvars.double()
    precision = torch.exp(-logvars)  # (K, d)
    quadratic = (
        flat.square() @ precision.T
        - 2 * flat @ (means * precision).T
        + (means.square() * precision).sum(1)
    ).clamp_min(0)
    log_components = -0.5 * (quadratic + logvars.sum(1) + z.shape[-1] * _LOG_2PI)
    mixture = torch.logsumexp(log_components, dim=1) - math.log(len(means))
    return mixture.reshape(z.shape[:-1]).to(z.dtype)


class VampPrior(VAEMixin):
    """Mixin listed before a VAE class: its prior becomes the VampPrior with ``pseudo_inputs``
    components (the paper uses 500 on MNIST)."""

    gaussian_posterior: ClassVar[bool] = False
    fixed: ClassVar[dict[str, Any]] = {"kl_estimator": "mc"}

    def __init__(
        self, input_shape: tuple[int, ...], *, pseudo_inputs: PositiveInt = 500, **kwargs: Any
    ) -> None:
        super().__init__(input_shape, **kwargs)
        self.pseudo_weight = nn.Parameter(torch.empty(pseudo_inputs, *self.input_shape))
        self.pseudo_bias = nn.Parameter(torch.empty(self.input_shape))

    def initialize_weights(self, init: str) -> None:
        """The pseudo-input layer starts as ``nn.Linear(K, D)`` does: uniform in
        +-1/sqrt(K)."""
        super().initialize_weights(init)
        bound = 1 / math.sqrt(len(self.pseudo_weight))
        nn.init.uniform_(self.pseudo_weight, -bound, bound)
        nn.init.uniform_(self.pseudo_bias, -bound, bound)

    def pseudo_inputs(self) -> torch.Tensor:
        """The K pseudo-inputs, in data space."""
        return nn.functional.hardtanh(self.pseudo_weight + self.pseudo_bias, 0.0, 1.0)

    def check_training_set(self, examples: int) -> None:
        """More pseudo-inputs than training examples would be a prior with more components
        than there is data to place them by."""
        if len(self.pseudo_weight) > examples:
            raise AekitError(
                f"pseudo_inputs {len(self.pseudo_weight)} is more than the {examples} "
                "training examples; use at most that many"
            )

    def components(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z|u_k) for every pseudo-input u_k."""
        return self.encode_dist(self.pseudo_inputs())

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        return mixture_log_normal(z, *self.components())

    def draw_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        means, logvars = self.components()
        where = means.device if generator is None else generator.device
        chosen = torch.randint(len(means), (n,), generator=generator, device=where)
        chosen = chosen.to(means.device)
        return gaussian_draws(means[chosen], logvars[chosen], 1, generator)[0][:, 0]


@register_model("vamp")
class VampVAE(VampPrior, MLPVAE):
    """The MLP VAE with a VampPrior (Tomczak & Welling 2018)."""


@register_model("conv-vamp")
class ConvVampVAE(VampPrior, ConvVAE):
    """S17's convolutional VAE with a VampPrior (pseudo-inputs are images)."""
