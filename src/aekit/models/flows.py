"""Normalising-flow posteriors: ``vae-planar`` (Rezende & Mohamed 2015, "Variational inference
with normalizing flows") and ``vae-iaf`` (Kingma et al. 2016, "Improved variational inference
with inverse autoregressive flow").

The encoder's Gaussian draw z0 is pushed through T invertible steps, z_T = f_T(...f_1(z0)),
and log q(z_T|x) = log q(z0|x) - sum_t log |det df_t/dz|. Both flows are amortised: their
parameters come from the encoder's last hidden layer h, so each example gets its own flow, as
in both papers. The code used downstream (``encode``) is the flow applied to the posterior
mean, the point the decoder has learned to read.
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from aekit.errors import AekitError
from aekit.models.base import register_model
from aekit.models.vae import MLPVAE, gaussian_draws
from aekit.values import PositiveInt, Sizes


class PlanarFlow(nn.Module):
    """T planar steps f(z) = z + u' tanh(w.z + b), with u, w, b read from h per example.

    u' = u + (softplus(w.u) - 1 - w.u) w / |w|^2 keeps w.u' >= -1, the condition for f to be
    invertible (Rezende & Mohamed, appendix A.1), and log |det df/dz| = log(1 + (1 - a^2)
    w.u') with a = tanh(w.z + b). Since w.u' = softplus(w.u) - 1 exactly, that is
    log(a^2 + (1 - a^2) softplus(w.u)), computed in this form, which stays positive where
    the sum 1 + (1 - a^2) w.u' would cancel to zero."""

    def __init__(self, dim: int, context: int, length: int) -> None:
        super().__init__()
        self.dim, self.length = dim, length
        self.params = nn.Linear(context, length * (2 * dim + 1))

    def forward(self, z: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Flow ``z`` (n, k, d) with the context ``h`` (n, c); returns z_T and the summed
        log-determinants (n, k).

        What does not depend on z (u', w.u') is computed for all T steps at once, and so are
        the log-determinants after the loop: each step is then three operations, which on a
        CPU is what a training step's time goes to (benchmarks/RESULTS.md, "Likelihood
        zoo")."""
        d = self.dim  # the batch stays -1: tracers keep it dynamic (``aekit export``)
        params = self.params(h).to(z.dtype).reshape(-1, self.length, 2 * d + 1)
        # In z's precision (float32 at least) even under bf16 autocast, which would run the
        # products in bf16 and round the summed log-determinants by tenths of a nat.
        with torch.autocast(z.device.type, enabled=False):
            u, w, b = params.split([d, d, 1], dim=-1)  # (n, T, d), (n, T, d), (n, T, 1)
            wu = (w * u).sum(-1, keepdim=True)
            slope = F.softplus(wu)  # 1 + w.u'
            norm = w.square().sum(-1, keepdim=True).clamp_min(torch.finfo(w.dtype).tiny)
            u = u + (slope - 1 - wu) * w / norm
            u, w, b = u.unsqueeze(2), w.unsqueeze(-1), b.unsqueeze(-1)  # per step: rows, cols
            activations = []
            for t in range(self.length):  # a = tanh(w.z + b), z <- z + u' a, over the k draws
                a = torch.tanh(torch.baddbmm(b[:, t], z, w[:, t]))
                z = torch.addcmul(z, u[:, t], a)
                activations.append(a)
            a2 = torch.cat(activations, -1).square()  # (n, k, T)
            log_det = torch.log(a2 + (1 - a2) * slope.transpose(1, 2)).sum(-1)
        return z, log_det


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 mask (MADE's connectivity)."""

    mask: torch.Tensor  # a buffer

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    """An autoregressive network (Germain et al. 2015): outputs m_i and s_i depend on inputs
    z_1..z_{i-1} only, through masked hidden layers. The context h reaches the first hidden
    layer and the outputs unmasked (it does not depend on z), so even the first coordinate's
    m_1 and s_1 differ from example to example."""

    def __init__(self, dim: int, context: int, hidden: list[int]) -> None:
        super().__init__()
        degrees = [torch.arange(1, dim + 1)]
        for width in hidden:
            degrees.append(torch.arange(width) % max(1, dim - 1) + 1)
        masks = [
            (d_out[:, None] >= d_in[None, :]).float() for d_in, d_out in itertools.pairwise(degrees)
        ]
        self.hidden = nn.ModuleList(MaskedLinear(mask) for mask in masks)
        self.context = nn.Linear(context, hidden[0])
        out_mask = (degrees[0][:, None] > degrees[-1][None, :]).float()
        self.out = MaskedLinear(torch.cat([out_mask, out_mask]))
        self.context_out = nn.Linear(context, 2 * dim)

    def forward(self, z: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = F.elu(self.hidden[0](z) + self.context(h).unsqueeze(1))
        for layer in self.hidden[1:]:
            a = F.elu(layer(a))
        m, s = (self.out(a) + self.context_out(h).unsqueeze(1)).chunk(2, dim=-1)
        return m, s


class InverseAutoregressiveFlow(nn.Module):
    """T IAF steps with Kingma et al.'s numerically stable update (their equations 13-14):
    [m, s] = MADE(z, h), sigma = sigmoid(s), z <- sigma * z + (1 - sigma) * m, and
    log |det| = sum log sigma. The order of the variables is reversed between steps. ``s``
    starts biased towards +1.5 (sigma near 0.8), so an untrained flow is close to the identity,
    as the paper recommends."""

    def __init__(self, dim: int, context: int, length: int, hidden: list[int]) -> None:
        super().__init__()
        self.dim = dim
        self.steps = nn.ModuleList(MADE(dim, context, hidden) for _ in range(length))

    def forward(self, z: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_det = torch.zeros(z.shape[:-1], dtype=z.dtype, device=z.device)
        for i, step in enumerate(self.steps):
            if i:
                z = z.flip(-1)
            m, s = step(z, h)
            gate = torch.sigmoid(s + 1.5)
            z = gate * z + (1 - gate) * m
            log_det = log_det + F.logsigmoid(s + 1.5).sum(-1)
        if len(self.steps) % 2 == 0 and self.steps:  # back to the original order
            z = z.flip(-1)
        return z, log_det


class FlowPosterior(MLPVAE):
    """The MLP VAE whose posterior is the encoder's Gaussian pushed through ``self.flow``."""

    gaussian_posterior: ClassVar[bool] = False
    fixed: ClassVar[dict[str, Any]] = {"kl_estimator": "mc"}
    flow: nn.Module  # each model builds its own: (z, h) -> (z', log |det dz'/dz|)

    def context(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The encoder's mean, log-variance and last hidden layer (the flow's input)."""
        h = self.encoder(x.flatten(1))
        return self.mean_head(h), self.logvar_head(h), h

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        mean, _, h = self.context(x)
        z: torch.Tensor = self.flow(mean.unsqueeze(1), h)[0]
        return z[:, 0]

    def posterior_draws(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None = None,
        k: int = 1,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar, h = self.context(x)
        z0, log_q0 = gaussian_draws(mean, logvar, k, generator)
        z, log_det = self.flow(z0, h)
        return z, self.log_prior(z) - (log_q0 - log_det)


@register_model("vae-planar")
class PlanarVAE(FlowPosterior):
    """MLP VAE whose posterior passes through planar flows (Rezende & Mohamed 2015).

    ``flow_length`` steps (the paper reports 10 to 80 on MNIST). Where it differs: the paper
    anneals the KL's weight, available here as a schedule of ``kl_weight``."""

    def __init__(
        self, input_shape: tuple[int, ...], *, flow_length: PositiveInt = 10, **kwargs: Any
    ) -> None:
        super().__init__(input_shape, **kwargs)
        self.flow = PlanarFlow(self.code_dim, self.mean_head.in_features, flow_length)


@register_model("vae-iaf")
class IAFVAE(FlowPosterior):
    """MLP VAE whose posterior passes through an inverse autoregressive flow (Kingma 2016).

    ``flow_length`` MADE steps with ``made_hidden`` hidden units each, conditioned on the
    encoder's last hidden layer.
    Where it differs: the paper's MNIST model is convolutional (ResNet blocks) with ELU MADEs
    of two hidden layers; here the encoder is the MLP of ``vae``."""

    def __init__(
        self,
        input_shape: tuple[int, ...],
        *,
        flow_length: PositiveInt = 2,
        made_hidden: Sizes = (320, 320),
        **kwargs: Any,
    ) -> None:
        super().__init__(input_shape, **kwargs)
        if not made_hidden:
            raise AekitError("made_hidden needs at least one layer: the flow reads h there")
        self.flow = InverseAutoregressiveFlow(
            self.code_dim, self.mean_head.in_features, flow_length, list(made_hidden)
        )
