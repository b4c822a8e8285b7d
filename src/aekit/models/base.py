"""The one interface every autoencoder implements, and the registry that names them.

A model is an ``nn.Module`` with:

- ``encode(x, y=None)``: the code used downstream (the posterior mean for VAEs);
- ``decode(z, y=None)``: the decoder's raw output in data shape: logits for the Bernoulli (BCE)
  reconstruction term, pre-activation means for the Gaussian (MSE) one;
- ``loss_terms(x, target, y=None)``: a dict of per-example terms averaged over the batch, whose
  ``"loss"`` entry is the objective the trainer minimises (the others are logged);
- ``sample(n, y=None)`` for generative models, in data space.

The trainer, evaluation, figures and CLI only use this interface, so a new model plugs in by
subclassing :class:`Autoencoder` and decorating it with :func:`register_model`.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from aekit.errors import AekitError, unknown_choice

MODELS: dict[str, type[Autoencoder]] = {}


def register_model(name: str):
    """Class decorator: make a model available as ``aekit train --model NAME``."""

    def decorate(cls: type[Autoencoder]) -> type[Autoencoder]:
        cls.name = name
        MODELS[name] = cls
        return cls

    return decorate


class Autoencoder(nn.Module):
    """Base class: the shared reconstruction likelihoods and the default AE objective."""

    name: ClassVar[str] = ""
    generative: ClassVar[bool] = False  # has a meaningful prior to sample from
    conditional: ClassVar[bool] = False  # needs integer labels to encode/decode
    variational: ClassVar[bool] = False  # has an ELBO
    default_reduction: ClassVar[str] = "per_element"  # Keras-style mean per pixel
    fixed: ClassVar[dict[str, Any]] = {}  # inherited options this model pins (not user options)
    # Layout of the 4-d weights, hence of the convolutions' activations; build_model applies it.
    memory_format: ClassVar[torch.memory_format] = torch.contiguous_format

    def __init__(
        self,
        input_shape: tuple[int, ...],
        *,
        recon_loss: str = "bce",
        output: str = "sigmoid",
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        if recon_loss not in ("bce", "mse"):
            raise unknown_choice("reconstruction loss", recon_loss, ["bce", "mse"])
        if output not in ("sigmoid", "linear"):
            raise unknown_choice("output activation", output, ["linear", "sigmoid"])
        if recon_loss == "bce" and output != "sigmoid":
            raise AekitError("the BCE reconstruction loss needs output: sigmoid")
        if self.conditional and not num_classes:
            raise AekitError(f"model {self.name!r} is conditional and needs labelled data")
        self.input_shape = tuple(input_shape)
        self.input_dim = math.prod(self.input_shape)
        self.recon_loss = recon_loss
        self.output = output
        self.num_classes = num_classes
        self.latent_dim = 0  # set by each model: the length of the flattened code
        self.hparams: dict[str, Any] = {}

    # -- the interface -------------------------------------------------------------------
    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def loss_terms(
        self, x: torch.Tensor, target: torch.Tensor, y: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Plain autoencoder objective: reconstruction error, plus any ``code_penalty``."""
        code = self.encode(x, y)
        recon = self.reconstruction_loss(self.decode(code, y), target)
        penalty = self.code_penalty(code)
        if penalty is None:
            return {"loss": recon, "recon": recon}
        return {"loss": recon + penalty, "recon": recon, "penalty": penalty}

    def code_penalty(self, code: torch.Tensor) -> torch.Tensor | None:
        """Extra per-example regulariser on the code (sparse autoencoders override this)."""
        return None

    def sample(
        self, n: int, y: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        raise AekitError(f"model {self.name!r} has no prior to sample from")

    # -- shared behaviour ----------------------------------------------------------------
    @property
    def code_dim(self) -> int:
        """Length of the (flattened) code that ``encode`` returns."""
        return self.latent_dim

    def decoder_input_dim(self) -> int:
        """Width of what the decoder's first layer takes: the code, plus any conditioning."""
        return self.latent_dim

    def to_data(self, out: torch.Tensor) -> torch.Tensor:
        """Decoder output -> data space (probabilities or means)."""
        return torch.sigmoid(out) if self.output == "sigmoid" else out

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Raw decoder output for ``x`` (deterministic: VAEs decode the posterior mean)."""
        return self.decode(self.encode(x, y), y)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.to_data(self(x, y))

    def reconstruction_error(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-example reconstruction term, summed over all elements: BCE, or squared error."""
        if self.recon_loss == "bce":
            err = F.binary_cross_entropy_with_logits(out, target, reduction="none")
        else:
            err = (self.to_data(out) - target).square()
        return err.flatten(1).sum(1)

    def reconstruction_loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Batch mean of :meth:`reconstruction_error`, computed with one fused reduction
        (the training hot path: fewer kernels and temporaries than the per-example form)."""
        if self.recon_loss == "bce":
            total = F.binary_cross_entropy_with_logits(out, target, reduction="sum")
        else:
            total = F.mse_loss(self.to_data(out), target, reduction="sum")
        return total / len(target)

    def log_likelihood(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """log p(x|z) per example: Bernoulli, or Gaussian with unit variance for MSE models."""
        if self.recon_loss == "bce":
            return -self.reconstruction_error(out, target)
        sse = self.reconstruction_error(out, target)
        return -0.5 * sse - 0.5 * self.input_dim * math.log(2 * math.pi)

    def describe(self) -> dict[str, Any]:
        """Everything needed to rebuild this model without its data (saved with the weights)."""
        return {
            "name": self.name,
            "params": self.hparams,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
        }

    def check_labels(self, y: torch.Tensor | None) -> None:
        if self.conditional and y is None:
            raise AekitError(f"model {self.name!r} is conditional: give a label")


def model_params(cls: type[Autoencoder]) -> dict[str, Any]:
    """The hyper-parameters a model accepts, with their defaults (for help and validation)."""
    params = {}
    for klass in reversed(cls.__mro__):
        if klass in (object, nn.Module) or "__init__" not in vars(klass):
            continue
        for name, p in inspect.signature(klass.__init__).parameters.items():
            if p.kind is p.KEYWORD_ONLY and name != "num_classes":
                params[name] = p.default
    return {k: v for k, v in params.items() if k not in cls.fixed}


def build_model(
    spec: dict[str, Any], input_shape: tuple[int, ...], num_classes: int | None = None
) -> Autoencoder:
    """Build a registered model from ``{"name": ..., **hyper_parameters}``."""
    spec = dict(spec)
    name = spec.pop("name", "ae")
    if name not in MODELS:
        raise unknown_choice("model", name, MODELS)
    cls = MODELS[name]
    for key, pinned in cls.fixed.items():  # a pinned option may be restated, not changed
        if key in spec:
            given = spec.pop(key)
            if given != pinned:
                raise AekitError(f"model {name!r} always uses {key} {pinned!r}, not {given!r}")
    accepted = model_params(cls)
    unknown = set(spec) - set(accepted)
    if unknown:
        raise AekitError(
            f"model {name!r} has no option(s) {', '.join(sorted(unknown))}; "
            f"its options are: {', '.join(sorted(accepted))}"
        )
    values = {**accepted, **{k: _coerce(v, accepted[k]) for k, v in spec.items()}}
    for key in ("latent_dim", "kernel_size"):
        if values.get(key) is not None and not is_positive_int(values[key]):
            raise AekitError(
                f"model {name!r}: bad {key} {values[key]!r}; it must be a whole number >= 1"
            )
    model = cls(tuple(input_shape), num_classes=num_classes, **values, **cls.fixed)
    model.hparams = {k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items()}
    return model.to(memory_format=cls.memory_format)


def is_positive_int(value: Any) -> bool:
    """A layer width or code size: an int >= 1 (not a bool, not 2.5)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _coerce(value: Any, default: Any) -> Any:
    """Command-line and YAML values arrive as strings now and then (``1e-3``)."""
    if (
        isinstance(value, str)
        and isinstance(default, (int, float))
        and not isinstance(default, bool)
    ):
        try:
            return type(default)(float(value)) if isinstance(default, float) else int(value)
        except ValueError:
            raise AekitError(f"expected a number, got {value!r}") from None
    return value
