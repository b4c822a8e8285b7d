"""``aae``: the adversarial autoencoder of Makhzani et al. 2016 ("Adversarial autoencoders").

A deterministic autoencoder whose codes are matched to a prior by an adversary: a
discriminator learns to tell prior draws from codes, and the encoder learns, beside
reconstructing, to make its codes pass for prior draws. The discriminator is a second player
with its own loss (``discriminator``), updated in the same step as the autoencoder.

``prior: mixture`` is the paper's label-conditioned prior (its section 2.3, figure 4): a
mixture of one Gaussian per class, spread on a circle in the first two code dimensions, and
a discriminator that also sees the one-hot label, so each class's codes are pushed onto its
own component. Sampling draws a component uniformly. Training then needs labelled data.

``posterior`` is the paper's choice of q(z|x) (its section 2.1): ``deterministic`` (the code is
the encoder's output) or ``gaussian`` (the code layer gives a mean and a log-variance, and
training decodes, and shows the discriminator, one reparameterised draw; ``encode`` returns
the mean). The Gaussian one is pythae's default; on MNIST it pushes the codes closer to the
prior (benchmarks/RESULTS.md, "Representation zoo"). The paper's third choice, a universal
approximator fed noise, is not offered.

Where it differs from the paper: the reconstruction and regularisation phases are one
simultaneous step (the paper alternates them), and ``adversarial_weight`` scales the encoder's
adversarial loss against the reconstruction (pythae's default 0.5 is used).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from aekit.errors import AekitError, unknown_choice
from aekit.models.base import register_model
from aekit.models.conv import ConvAutoencoder
from aekit.models.layers import one_hot
from aekit.models.mlp import MLPAutoencoder
from aekit.models.penalties import (
    Discriminator,
    StandardPrior,
    adversarial_losses,
    with_discriminator,
)
from aekit.models.vae import VariationalAutoencoder, standard_noise
from aekit.values import Sizes

MIXTURE_RADIUS = 4.0  # distance of each class's component from the origin
MIXTURE_STD = 0.5  # its spread in the two circle dimensions (unit elsewhere)
POSTERIORS = ("deterministic", "gaussian")


class Adversarial(StandardPrior):
    """Mixin listed before a deterministic autoencoder class: see the module docstring."""

    greedy_refusal: ClassVar[str] = "its codes are trained against an adversary"
    # From the autoencoder listed after it: make the code layer give ``factor`` values per
    # code unit (here a mean and a log-variance), side by side in ``encode``'s output.
    widen_code_layer: Callable[[int], None]

    def __init__(
        self,
        input_shape: tuple[int, ...],
        *,
        prior: str = "gaussian",
        adversarial_weight: float = 0.5,
        discriminator_hidden: Sizes = (256, 256),
        posterior: str = "deterministic",
        num_classes: int | None = None,
        **kwargs: Any,
    ) -> None:
        if prior not in ("gaussian", "mixture"):
            raise unknown_choice("prior", prior, ["gaussian", "mixture"])
        if posterior not in POSTERIORS:
            raise unknown_choice("posterior", posterior, POSTERIORS)
        if not adversarial_weight >= 0:
            raise AekitError(f"bad adversarial_weight {adversarial_weight}; it must be >= 0")
        if prior == "mixture" and not num_classes:
            raise AekitError("prior: mixture needs labelled data (one component per class)")
        super().__init__(input_shape, num_classes=num_classes, **kwargs)
        if prior == "mixture" and self.code_dim < 2:
            raise AekitError("prior: mixture places its components in 2 code dimensions")
        self.prior, self.adversarial_weight = prior, adversarial_weight
        self.posterior = posterior
        if posterior == "gaussian":
            self.widen_code_layer(2)
        label_inputs = (num_classes or 0) if prior == "mixture" else 0
        self.discriminator = Discriminator(self.code_dim + label_inputs, discriminator_hidden)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return with_discriminator(self, self.discriminator)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The code: the encoder's output, or the Gaussian posterior's mean."""
        code = super().encode(x, y)
        return code[:, : self.code_dim] if self.posterior == "gaussian" else code

    def training_code(self, x: torch.Tensor) -> torch.Tensor:
        """The code training sees: the encoder's output, or a draw of the Gaussian posterior."""
        if self.posterior == "deterministic":
            return self.encode(x)
        mean, logvar = super().encode(x).chunk(2, 1)
        return VariationalAutoencoder.reparameterize(mean, logvar)

    def prior_draws(
        self, labels: torch.Tensor | None, n: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``n`` codes from the prior; for the mixture, from the components of ``labels``."""
        device = next(self.parameters()).device
        z = standard_noise((n, self.code_dim), generator, device)
        if self.prior == "gaussian":
            return z
        assert labels is not None and self.num_classes, "the mixture prior is labelled"
        angle = 2 * math.pi * labels.to(device).float() / self.num_classes
        centre = MIXTURE_RADIUS * torch.stack([angle.cos(), angle.sin()], 1)
        return torch.cat([centre + MIXTURE_STD * z[:, :2], z[:, 2:]], 1)

    def draw_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        labels = None
        if self.prior == "mixture":
            assert self.num_classes, "the mixture prior has classes"
            where = None if generator is None else generator.device
            labels = torch.randint(self.num_classes, (n,), generator=generator, device=where)
        return self.prior_draws(labels, n, generator)

    def _critic_input(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if self.prior == "gaussian":
            return z
        assert labels is not None and self.num_classes, "the mixture prior is labelled"
        return torch.cat([z, one_hot(labels, self.num_classes, z.dtype)], 1)

    def loss_terms(
        self, x: torch.Tensor, target: torch.Tensor, y: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        if self.prior == "mixture" and y is None:
            raise AekitError(f"model {self.name!r} with prior: mixture trains on labelled data")
        z = self.training_code(x)
        recon = self.reconstruction_loss(self.decode(z), target)
        prior = self.prior_draws(y, len(z))
        critic, fooled = adversarial_losses(
            self.discriminator(self._critic_input(prior, y)),
            self.discriminator(self._critic_input(z.detach(), y)),
            self.discriminator(self._critic_input(z, y)),
        )
        return {
            "loss": recon + self.adversarial_weight * fooled,
            "recon": recon,
            "adversarial": fooled,
            "discriminator": critic,
        }


@register_model("aae")
class AAE(Adversarial, MLPAutoencoder):
    """The MLP autoencoder with an adversarially matched prior (Makhzani et al. 2016)."""


@register_model("conv-aae")
class ConvAAE(Adversarial, ConvAutoencoder):
    """The convolutional autoencoder with an adversarially matched prior (Makhzani 2016)."""

    defaults: ClassVar[dict[str, object]] = {"latent_dim": 16}
