"""What the regularised and adversarial autoencoders share: the MMD between codes and prior
draws, a small discriminator, and sampling codes from a fixed prior."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from aekit.errors import unknown_choice
from aekit.models.base import AutoencoderMixin
from aekit.models.layers import mlp
from aekit.models.vae import standard_noise

KERNELS = ("imq", "rbf")


def mmd(
    x: torch.Tensor, y: torch.Tensor, kernel: str = "imq", scales: Sequence[float] = (1.0,)
) -> torch.Tensor:
    """The unbiased estimate of MMD^2 between samples ``x`` and ``y`` (rows), with the
    inverse multiquadratic kernel C / (C + |a - b|^2) or the Gaussian exp(-|a - b|^2 / C),
    C = 2 d s (the choice of Tolstikhin et al. 2018 for N(0, I) in d dimensions), summed over
    the ``scales`` s."""
    if kernel not in KERNELS:
        raise unknown_choice("kernel", kernel, KERNELS)
    c = 2 * x.shape[1] * torch.tensor(scales, dtype=x.dtype, device=x.device).view(-1, 1, 1)
    n, m = len(x), len(y)

    def gram(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        distances = torch.cdist(a, b).square()
        kernels = c / (c + distances) if kernel == "imq" else torch.exp(-distances / c)
        return kernels.sum(0)  # one pass for every scale, not one per scale

    xx, yy, xy = gram(x, x), gram(y, y), gram(x, y)
    within_x = (xx.sum() - xx.diagonal().sum()) / (n * (n - 1))
    within_y = (yy.sum() - yy.diagonal().sum()) / (m * (m - 1))
    return within_x + within_y - 2 * xy.mean()


class Discriminator(nn.Module):
    """An MLP from its input (codes, with a one-hot label beside them if the caller adds
    one) to one logit: "from the target distribution"."""

    def __init__(self, inputs: int, hidden: Sequence[int]) -> None:
        super().__init__()
        self.net = mlp([inputs, *hidden, 1], "leaky_relu", None)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.net(z)
        return logits.squeeze(-1)


def with_discriminator(model: nn.Module, discriminator: nn.Module) -> dict[str, list[nn.Parameter]]:
    """Two players: the model's own parameters follow ``loss``, the discriminator's follow
    ``discriminator``."""
    critic = list(discriminator.parameters())
    ids = {id(p) for p in critic}
    return {"loss": [p for p in model.parameters() if id(p) not in ids], "discriminator": critic}


def adversarial_losses(
    real: torch.Tensor, fake: torch.Tensor, fake_for_generator: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The standard GAN losses from logits: the discriminator's (real -> 1, fake -> 0, on
    detached fakes) and the generator's non-saturating one (its fakes -> 1)."""
    ones, zeros = torch.ones_like(real), torch.zeros_like(fake)
    discriminator = F.binary_cross_entropy_with_logits(
        real, ones
    ) + F.binary_cross_entropy_with_logits(fake, zeros)
    generator = F.binary_cross_entropy_with_logits(
        fake_for_generator, torch.ones_like(fake_for_generator)
    )
    return discriminator, generator


class StandardPrior(AutoencoderMixin):
    """Mixin: a deterministic autoencoder whose codes are pushed towards N(0, I) can sample by
    decoding prior draws (``generative``)."""

    generative: ClassVar[bool] = True

    def draw_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return standard_noise((n, self.code_dim), generator, next(self.parameters()).device)

    @torch.no_grad()
    def sample(
        self, n: int, y: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        return self.to_data(self.decode(self.draw_prior(n, generator), y))
