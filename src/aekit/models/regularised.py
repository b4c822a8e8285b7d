"""Autoencoders regularised towards a prior by a divergence between the code distribution and
N(0, I), or by a smoothness penalty: ``info-vae`` (Zhao et al. 2019, "InfoVAE"), ``wae``
(Tolstikhin et al. 2018, "Wasserstein auto-encoders") and ``rae`` (Ghosh et al. 2020, "From
variational to deterministic autoencoders").

Each is a mixin listed before a model class, registered on the MLP networks and on the
convolutional ones (all three papers use convolutional networks for images). The MMD is the
unbiased estimate between the batch's codes and as many prior draws (``penalties.mmd``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from aekit.errors import AekitError, unknown_choice
from aekit.models.base import check_weight, register_model
from aekit.models.conv import ConvAutoencoder
from aekit.models.conv_vae import ConvVAE
from aekit.models.mlp import MLPAutoencoder
from aekit.models.penalties import (
    KERNELS,
    Discriminator,
    StandardPrior,
    adversarial_losses,
    mmd,
    with_discriminator,
)
from aekit.models.vae import MLPVAE, VAEMixin
from aekit.values import Sizes

# The sum of inverse multiquadratic kernels over these scales of C is what Tolstikhin et al.'s
# own code measures the MMD with (the paper states a single C).
WAE_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def _prior_like(z: torch.Tensor) -> torch.Tensor:
    return torch.randn_like(z)


class InfoMMD(VAEMixin):
    """InfoVAE with the MMD divergence: loss = recon + (1 - alpha) KL(q(z|x) || p(z))
    + (alpha + lambda - 1) MMD(q(z), p(z)), the paper's objective (its equation 6) with
    ``alpha`` the information preference and ``mmd_lambda`` its lambda (1000 with alpha 0
    in the paper's MNIST experiments, the defaults). Where it differs: the MMD kernel is the
    inverse multiquadratic of ``kernel`` choice (the paper uses a Gaussian; ``kernel: rbf``).
    Burgess et al.'s ``capacity`` does not apply."""

    fixed: ClassVar[dict[str, Any]] = {"capacity": None}
    schedulable: ClassVar[tuple[str, ...]] = ("kl_weight",)

    def __init__(
        self,
        input_shape: tuple[int, ...],
        *,
        alpha: float = 0.0,
        mmd_lambda: float = 1000.0,
        kernel: str = "imq",
        **kwargs: Any,
    ) -> None:
        if kernel not in KERNELS:
            raise unknown_choice("kernel", kernel, KERNELS)
        if not alpha <= 1:
            raise AekitError(f"bad alpha {alpha}; InfoVAE's KL weight 1 - alpha must be >= 0")
        check_weight("mmd_lambda", mmd_lambda)
        if alpha + mmd_lambda - 1 < 0:
            raise AekitError(
                f"alpha {alpha} with mmd_lambda {mmd_lambda} would maximise the MMD: "
                "InfoVAE needs alpha + mmd_lambda >= 1"
            )
        super().__init__(input_shape, **kwargs)
        self.alpha, self.mmd_lambda, self.kernel = alpha, mmd_lambda, kernel

    def loss_terms(
        self, x: torch.Tensor, target: torch.Tensor, y: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        _, _, z, recon, kl = self.elbo_parts(x, target, y)
        divergence = mmd(z, _prior_like(z), self.kernel)
        weight = self.alpha + self.mmd_lambda - 1
        loss = recon + (1 - self.alpha) * self.kl_weight * kl + weight * divergence
        return {"loss": loss, "recon": recon, "kl": kl, "mmd": divergence}


class Wasserstein(StandardPrior):
    """WAE: loss = recon + ``penalty_weight`` * D(q(z), p(z)) for a deterministic encoder,
    with D the MMD (``penalty: mmd``, WAE-MMD) or an adversary on the codes (``penalty:
    gan``, WAE-GAN: a discriminator tells prior draws from codes, the encoder learns to fool
    it; a second player). Tolstikhin et al. use lambda = 10 and an 8-d code on MNIST, and the
    squared distance as the reconstruction cost (``recon_loss: mse``, the default here). The
    inverse multiquadratic MMD sums the kernel over several scales of C, as the authors' code
    does (the paper states one); with it and the squared cost, aekit's WAE draws from the prior
    as well as pythae's (benchmarks/RESULTS.md, "Representation zoo"), where the single
    kernel under BCE left the codes far from the prior."""

    defaults: ClassVar[dict[str, Any]] = {"recon_loss": "mse"}
    greedy_refusal: ClassVar[str] = "its objective matches codes to a prior"

    def __init__(
        self,
        input_shape: tuple[int, ...],
        *,
        penalty: str = "mmd",
        penalty_weight: float = 10.0,
        kernel: str = "imq",
        discriminator_hidden: Sizes = (256, 256),
        **kwargs: Any,
    ) -> None:
        if penalty not in ("mmd", "gan"):
            raise unknown_choice("penalty", penalty, ["gan", "mmd"])
        if kernel not in KERNELS:
            raise unknown_choice("kernel", kernel, KERNELS)
        check_weight("penalty_weight", penalty_weight)
        super().__init__(input_shape, **kwargs)
        self.penalty, self.penalty_weight, self.kernel = penalty, penalty_weight, kernel
        self.discriminator = (
            Discriminator(self.code_dim, discriminator_hidden) if penalty == "gan" else None
        )

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        if self.discriminator is None:
            return super().parameter_groups()
        return with_discriminator(self, self.discriminator)

    def loss_terms(
        self, x: torch.Tensor, target: torch.Tensor, y: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        z = self.encode(x, y)
        recon = self.reconstruction_loss(self.decode(z, y), target)
        prior = _prior_like(z)
        if self.discriminator is None:
            scales = WAE_SCALES if self.kernel == "imq" else (1.0,)
            divergence = mmd(z, prior, self.kernel, scales)
            return {
                "loss": recon + self.penalty_weight * divergence,
                "recon": recon,
                "mmd": divergence,
            }
        critic, fooled = adversarial_losses(
            self.discriminator(prior), self.discriminator(z.detach()), self.discriminator(z)
        )
        return {
            "loss": recon + self.penalty_weight * fooled,
            "recon": recon,
            "adversarial": fooled,
            "discriminator": critic,
        }


class Regularised(StandardPrior):
    """RAE: a deterministic autoencoder with loss = recon + ``embedding_weight`` * |z|^2 / 2 +
    ``reg_weight`` * R, R the squared L2 norm of the decoder's weights (``regularizer: l2``,
    RAE-L2) or the squared gradient of the decoder's output with respect to the code
    (``regularizer: gp``, RAE-GP, Ghosh et al.'s gradient penalty on the summed output). The
    defaults are pythae's. Ghosh et al. generate through a density fitted to the training
    codes after training (an ex-post GMM); ``sample`` here decodes N(0, I) draws, which the
    code penalty makes roughly right."""

    greedy_refusal: ClassVar[str] = "its objective regularises the whole decoder"

    def __init__(
        self,
        input_shape: tuple[int, ...],
        *,
        regularizer: str = "l2",
        embedding_weight: float = 1e-4,
        reg_weight: float = 1e-7,
        **kwargs: Any,
    ) -> None:
        if regularizer not in ("l2", "gp"):
            raise unknown_choice("regularizer", regularizer, ["gp", "l2"])
        check_weight("embedding_weight", embedding_weight)
        check_weight("reg_weight", reg_weight)
        super().__init__(input_shape, **kwargs)
        self.regularizer = regularizer
        self.embedding_weight, self.reg_weight = embedding_weight, reg_weight

    def loss_terms(
        self, x: torch.Tensor, target: torch.Tensor, y: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        z = self.encode(x, y)
        out = self.decode(z, y)
        recon = self.reconstruction_loss(out, target)
        embedding = 0.5 * z.square().sum(1).mean()
        if self.regularizer == "l2":
            penalty = sum(p.square().sum() for p in self.decoder_parameters())
            assert isinstance(penalty, torch.Tensor), "a decoder has parameters"
        elif torch.is_grad_enabled():
            (grad,) = torch.autograd.grad(out.sum(), z, create_graph=True)
            penalty = grad.square().sum(1).mean()
        else:  # validation runs without gradients; the penalty is measured all the same
            with torch.enable_grad():
                code = z.detach().requires_grad_()
                (grad,) = torch.autograd.grad(self.decode(code, y).sum(), code)
            penalty = grad.square().sum(1).mean()
        loss = recon + self.embedding_weight * embedding + self.reg_weight * penalty
        return {"loss": loss, "recon": recon, "embedding": embedding, "smoothness": penalty}


@register_model("info-vae")
class InfoVAE(InfoMMD, MLPVAE):
    """The MLP VAE with InfoVAE's MMD objective (Zhao et al. 2019)."""


@register_model("conv-info-vae")
class ConvInfoVAE(InfoMMD, ConvVAE):
    """S17's convolutional VAE with InfoVAE's MMD objective (Zhao et al. 2019)."""


@register_model("wae")
class WAE(Wasserstein, MLPAutoencoder):
    """The MLP autoencoder as a Wasserstein autoencoder (Tolstikhin et al. 2018)."""

    defaults: ClassVar[dict[str, Any]] = {"latent_dim": 8}


@register_model("conv-wae")
class ConvWAE(Wasserstein, ConvAutoencoder):
    """The convolutional autoencoder as a Wasserstein autoencoder (Tolstikhin et al. 2018)."""

    defaults: ClassVar[dict[str, Any]] = {"latent_dim": 8}


@register_model("rae")
class RAE(Regularised, MLPAutoencoder):
    """The MLP autoencoder as a regularised autoencoder (Ghosh et al. 2020)."""


@register_model("conv-rae")
class ConvRAE(Regularised, ConvAutoencoder):
    """The convolutional autoencoder as a regularised autoencoder (Ghosh et al. 2020)."""

    defaults: ClassVar[dict[str, Any]] = {"latent_dim": 16}
