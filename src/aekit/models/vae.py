"""Variational autoencoders: the shared ELBO machinery, ``vae`` (S3, S16) and ``cvae`` (S5).

The encoder outputs a mean and a log-variance (the numerically stable parameterisation);
the code passed downstream is the mean; training uses the reparameterisation trick.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import torch
from torch import nn

from aekit.errors import AekitError, unknown_choice
from aekit.models.base import Autoencoder, register_model
from aekit.models.layers import LabelConditioning, mlp, one_hot
from aekit.values import PositiveInt, Sizes

_LOG_2PI = math.log(2 * math.pi)


def log_normal(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mean, exp(logvar)) summed over the last dimension (S17's ``log_normal_pdf``)."""
    return (-0.5 * ((z - mean).square() * torch.exp(-logvar) + logvar + _LOG_2PI)).sum(-1)


class ElboParts(NamedTuple):
    mean: torch.Tensor
    logvar: torch.Tensor
    z: torch.Tensor
    recon: torch.Tensor
    kl: torch.Tensor


class VariationalAutoencoder(Autoencoder):
    """ELBO = E_q[log p(x|z)] - KL(q(z|x) || N(0, I)); loss = recon + kl_weight * KL.

    Subclasses provide ``encode_dist(x, y) -> (mean, logvar)`` and ``decode(z, y)``.
    ``kl_estimator="analytic"`` uses the closed form; ``"mc"`` the single-sample estimate
    log q(z|x) - log p(z) of the TensorFlow tutorial (S17).

    ``capacity`` C (nats) switches to the objective of Burgess et al. 2018 ("Understanding
    disentangling in beta-VAE"): loss = recon + kl_weight * |KL - C|, with ``kl_weight`` as
    their gamma. It pulls the KL towards C instead of towards 0; the paper raises C linearly
    during training, which is a schedule of ``capacity`` (``train.weight_schedules``). As in
    common implementations the KL is the batch mean. ``kl_weight`` and ``capacity`` are the
    loss weights the trainer may schedule (KL warm-up, annealing to a target beta).
    """

    generative = True
    variational = True
    default_reduction: ClassVar[str] = "per_example"  # nats per example: the ELBO's own scale
    schedulable: ClassVar[tuple[str, ...]] = ("kl_weight", "capacity")
    # q(z|x) is the encoder's Gaussian and p(z) is N(0, I), so the KL has a closed form. A
    # model with another prior or posterior sets this False and pins kl_estimator to "mc".
    gaussian_posterior: ClassVar[bool] = True

    def __init__(
        self,
        input_shape: tuple[int, ...],
        *,
        kl_weight: float = 1.0,
        kl_estimator: str = "analytic",
        capacity: float | None = None,
        **base: Any,
    ) -> None:
        super().__init__(input_shape, **base)
        if kl_estimator not in ("analytic", "mc"):
            raise unknown_choice("kl_estimator", kl_estimator, ["analytic", "mc"])
        if not kl_weight >= 0:
            raise AekitError(f"bad kl_weight {kl_weight}; it must be >= 0")
        if capacity is not None and not capacity >= 0:
            raise AekitError(f"bad capacity {capacity}; it is a KL in nats, >= 0 (or null)")
        self.kl_weight = kl_weight
        self.kl_estimator = kl_estimator
        self.capacity = capacity

    def encode_dist(
        self, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.encode_dist(x, y)[0]

    @staticmethod
    def reparameterize(
        mean: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        eps = standard_noise(mean.shape, generator, mean.device, mean.dtype)
        return mean + eps * torch.exp(0.5 * logvar)

    # -- the posterior and the prior, which the likelihood models replace -------------------
    def posterior_draws(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None = None,
        k: int = 1,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``k`` reparameterised draws per example from q(z|x), shaped (n, k, code_dim), and
        for each log p(z) - log q(z|x): the importance weight less log p(x|z).

        Everything that scores a sample goes through this (the IWAE objectives, the ELBO of
        models without a closed-form KL, the importance-weighted NLL), so a model with another
        prior or posterior (a mixture prior, a flow, two stochastic layers) overrides it, and
        every bound uses that model's own densities."""
        mean, logvar = self.encode_dist(x, y)
        z, log_q = gaussian_draws(mean, logvar, k, generator)
        return z, self.log_prior(z) - log_q

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) over the last dimension: the standard normal."""
        return standard_log_normal(z)

    def draw_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` codes from the prior, on the model's device (random numbers drawn where
        ``generator`` lives: a CPU generator gives the same codes on every device)."""
        device = next(self.parameters()).device
        return standard_noise((n, self.code_dim), generator, device)

    def weighted_terms(
        self,
        x: torch.Tensor,
        target: torch.Tensor,
        y: torch.Tensor | None = None,
        k: int = 1,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """For ``k`` posterior draws per example, log p(x|z) and log p(z) - log q(z|x), each
        shaped (n, k); their sum is the log importance weight."""
        z, log_ratio = self.posterior_draws(x, y, k, generator)
        return self.draws_log_likelihood(z, target, y), log_ratio

    def draws_log_likelihood(
        self, z: torch.Tensor, target: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        """log p(x|z) (n, k) for codes ``z`` shaped (n, k, code_dim), decoded in one pass and
        scored in float32 at least (under bf16 autocast a sum of 784 pixel terms in bf16 is
        rounded by about half a nat)."""
        n, k = z.shape[:2]
        labels = None if y is None else y.repeat_interleave(k)
        out = self.decode(z.reshape(n * k, -1), labels).reshape(n, k, *self.input_shape)
        out = out.to(torch.promote_types(out.dtype, torch.float32))
        return self.log_likelihood(out, target.unsqueeze(1).expand_as(out))

    def kl(self, mean: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Per-example KL(q(z|x) || N(0, I)), closed form or single-sample estimate."""
        if self.kl_estimator == "mc":
            return log_normal(z, mean, logvar) - standard_log_normal(z)
        return -0.5 * (1 + logvar - mean.square() - logvar.exp()).sum(-1)

    def loss_terms(
        self, x: torch.Tensor, target: torch.Tensor, y: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        if self.gaussian_posterior:
            parts = self.elbo_parts(x, target, y)
            recon, kl = parts.recon, parts.kl
        else:  # one draw of the model's own posterior, scored against its own prior
            draws, log_ratio = self.posterior_draws(x, y)
            recon = self.reconstruction_loss(self.decode(draws[:, 0], y), target)
            kl = -log_ratio.mean()
        pull = kl if self.capacity is None else (kl - self.capacity).abs()
        return {"loss": recon + self.kl_weight * pull, "recon": recon, "kl": kl}

    def elbo_parts(
        self, x: torch.Tensor, target: torch.Tensor, y: torch.Tensor | None = None
    ) -> ElboParts:
        """One reparameterised draw of the Gaussian posterior and the ELBO's two terms (batch
        means): what the objectives that add a penalty to the ELBO start from."""
        mean, logvar = self.encode_dist(x, y)
        z = self.reparameterize(mean, logvar)
        recon = self.reconstruction_loss(self.decode(z, y), target)
        return ElboParts(mean, logvar, z, recon, self.kl(mean, logvar, z).mean())

    @torch.no_grad()
    def elbo(
        self,
        x: torch.Tensor,
        target: torch.Tensor,
        y: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Per-example ELBO in nats at weight 1: one posterior sample, and the KL in closed
        form where there is one."""
        if not self.gaussian_posterior:
            log_px, log_ratio = self.weighted_terms(x, target, y, 1, generator)
            return (log_px + log_ratio)[:, 0]
        mean, logvar = self.encode_dist(x, y)
        z = self.reparameterize(mean, logvar, generator)
        kl = -0.5 * (1 + logvar - mean.square() - logvar.exp()).sum(-1)
        return self.log_likelihood(self.decode(z, y), target) - kl

    @torch.no_grad()
    def sample(
        self, n: int, y: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Decode ``n`` draws from the prior."""
        return self.to_data(self.decode(self.draw_prior(n, generator), y))


def standard_log_normal(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last dimension."""
    return -0.5 * (z.square() + _LOG_2PI).sum(-1)


def standard_noise(
    shape: tuple[int, ...],
    generator: torch.Generator | None,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """N(0, I) noise on ``device``, drawn where ``generator`` lives (so a CPU generator gives
    the same numbers on every device), or on ``device`` without one."""
    where = device if generator is None else generator.device
    return torch.randn(shape, generator=generator, device=where, dtype=dtype).to(device)


def gaussian_draws(
    mean: torch.Tensor, logvar: torch.Tensor, k: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``k`` reparameterised draws per row of N(mean, exp(logvar)), shaped (n, k, d), and
    their log densities (n, k), in float32 at least: under bf16 autocast, log weights of
    hundreds of nats would otherwise be rounded by tenths of a nat before they are compared."""
    dtype = torch.promote_types(mean.dtype, torch.float32)
    mean, logvar = mean.to(dtype).unsqueeze(1), logvar.to(dtype).unsqueeze(1)
    eps = standard_noise((mean.shape[0], k, mean.shape[-1]), generator, mean.device, dtype)
    z = mean + eps * torch.exp(0.5 * logvar)
    log_q = -0.5 * (eps.square() + logvar + _LOG_2PI).sum(-1)
    return z, log_q


@register_model("vae")
class MLPVAE(VariationalAutoencoder):
    """S3 / S16: MLP encoder to ``hidden[-1]``, mean and log-variance heads, MLP decoder.

    ``decoder_hidden`` defaults to the encoder's hidden sizes reversed; S3 (784-256-8 encoder,
    8-256-784 decoder) sets ``hidden: [256, 8]`` and ``decoder_hidden: [256]``.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        *,
        latent_dim: PositiveInt = 16,
        hidden: Sizes = (512, 256),
        decoder_hidden: Sizes | None = None,
        activation: str = "relu",
        **base: Any,
    ) -> None:
        super().__init__(input_shape, **base)
        self.code_dim = latent_dim
        enc = [self.input_dim, *hidden]
        dec = hidden[::-1] if decoder_hidden is None else decoder_hidden
        self.encoder = mlp(enc, activation, activation) if len(enc) > 1 else nn.Identity()
        self.mean_head = nn.Linear(enc[-1], latent_dim)
        self.logvar_head = nn.Linear(enc[-1], latent_dim)
        self.decoder = mlp([self.decoder_input_dim(), *dec, self.input_dim], activation, None)

    def encode_dist(
        self, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x.flatten(1))
        return self.mean_head(h), self.logvar_head(h)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        out: torch.Tensor = self.decoder(z)
        return out.reshape(-1, *self.input_shape)


if TYPE_CHECKING:
    # A mixin is listed before the VAE class it extends; mypy checks its methods as that
    # class's, through this base, which at run time is ``object``.
    VAEMixin = VariationalAutoencoder
else:
    VAEMixin = object


class LabelConditioned(VAEMixin):
    """Mixin (listed before the model class) that conditions a VAE on an integer label.

    ``conditioning="concat"`` (default, Sohn et al.'s CVAE): the one-hot label is an extra
    input of the encoder (as a learned per-class offset of the image: for an MLP exactly a
    concatenated one-hot) and is concatenated to the code before decoding. The code then need
    not carry the class, and the decoder must read it from the label.

    ``conditioning="add"`` is S5 as written: the decoder alone sees the label, projected by
    Linear -> ReLU to the code size and *added* to the code. Nothing stops the encoder from
    putting the class into the code too, and a small decoder then learns to ignore the label
    (its samples show the requested digit at about chance level; see
    ``tests/test_conditional.py`` and benchmarks/RESULTS.md, "Model defaults").

    The code defaults to 2 dimensions: a wider code has room for the class as well, and the
    decoder then leans on the code instead of the label, so fewer samples show the requested
    class (benchmarks/RESULTS.md, "Model defaults"). ``--latent-dim``
    trades that for sharper samples.
    """

    conditional = True
    defaults: ClassVar[dict[str, Any]] = {"latent_dim": 2}

    def __init__(
        self, input_shape: tuple[int, ...], *, conditioning: str = "concat", **kwargs: Any
    ) -> None:
        if conditioning not in ("concat", "add"):
            raise unknown_choice("conditioning", conditioning, ["add", "concat"])
        self.conditioning = conditioning  # read by decoder_input_dim() while the decoder is built
        super().__init__(input_shape, **kwargs)
        assert self.num_classes, "Autoencoder refuses a conditional model without classes"
        if conditioning == "add":
            self.condition = LabelConditioning(self.num_classes, self.code_dim)
        else:
            self.encoder_condition = nn.Linear(self.num_classes, self.input_dim, bias=False)

    def initialize_weights(self, init: str) -> None:
        """The encoder's label offsets start at zero: an untrained CVAE encodes like a VAE."""
        super().initialize_weights(init)
        if self.conditioning == "concat":
            nn.init.zeros_(self.encoder_condition.weight)

    def decoder_input_dim(self) -> int:
        extra = (self.num_classes or 0) if self.conditioning == "concat" else 0
        return super().decoder_input_dim() + extra

    def _one_hot(self, y: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
        self.require_labels(y)
        assert y is not None and self.num_classes, "a conditional model has both"
        return one_hot(y, self.num_classes, like.dtype)

    def encode_dist(
        self, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.conditioning == "concat":
            x = x + self.encoder_condition(self._one_hot(y, x)).reshape(x.shape)
        return super().encode_dist(x, y)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.conditioning == "concat":
            return super().decode(torch.cat([z, self._one_hot(y, z)], dim=1), y)
        self.require_labels(y)
        return super().decode(self.condition(z, y), y)


@register_model("cvae")
class ConditionalVAE(LabelConditioned, MLPVAE):
    """S5: the MLP VAE whose decoder also sees the label; ``sample(n, y)`` draws that class."""
