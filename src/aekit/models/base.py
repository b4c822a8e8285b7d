"""The one interface every autoencoder implements, and the registry that names them.

A model is an ``nn.Module`` with:

- ``encode(x, y=None)``: the code used downstream (the posterior mean for VAEs), flattened to
  ``code_dim`` values per example;
- ``decode(z, y=None)``: the decoder's raw output in data shape: logits for the Bernoulli (BCE)
  reconstruction term, pre-activation means for the Gaussian (MSE) one;
- ``loss_terms(x, target, y=None)``: a dict of per-example terms averaged over the batch, whose
  ``"loss"`` entry is the objective the trainer minimises (the others are logged);
- ``sample(n, y=None)`` for generative models, in data space.

The trainer, evaluation, figures and CLI only use this interface, so a new model plugs in by
subclassing :class:`Autoencoder` and decorating it with :func:`register_model`.

Options. A model's options are the keyword-only arguments of its constructor and of its base
classes' constructors, each with a type hint and a default. The class is their single source
of truth: ``Model(shape, **options)`` converts and checks every given value
(:func:`aekit.values.convert`), fills in the defaults, applies the options the class pins
(``fixed``) or re-defaults (``defaults``), and records the result in ``model.hparams``, which
is what a saved model describes. So a model built directly, from a config or from a saved
file is the same model.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from aekit.errors import AekitError, unknown_choice
from aekit.models.layers import initialize
from aekit.values import convert, field_hints

MODELS: dict[str, type[Autoencoder]] = {}


# How a decoder's output scores the data: "bce" (Bernoulli logits), "mse" (unit-variance
# Gaussian means), "multinomial" (logits of each element's share: interaction counts).
LIKELIHOODS = ("bce", "mse", "multinomial")

ModelClass = TypeVar("ModelClass", bound="type[Autoencoder]")


def register_model(name: str) -> Callable[[ModelClass], ModelClass]:
    """Class decorator: make a model available as ``aekit train --model NAME``."""

    def decorate(cls: ModelClass) -> ModelClass:
        cls.name = name
        MODELS[name] = cls
        return cls

    return decorate


@dataclass(frozen=True)
class Option:
    """One model option: its default and the type hint its values are converted to."""

    default: Any
    hint: Any


def check_weight(name: str, value: float) -> None:
    """A loss weight must be a number >= 0 (NaN included among the refused)."""
    if not value >= 0:
        raise AekitError(f"bad {name} {value}; it is a loss weight, >= 0")


def model_options(cls: type[Autoencoder]) -> dict[str, Option]:
    """The options a model class accepts (constructor keywords along its bases, re-defaulted
    by ``defaults``), without the ones it pins (``fixed``)."""
    return {name: option for name, option in _all_options(cls).items() if name not in cls.fixed}


def _all_options(cls: type[Autoencoder]) -> dict[str, Option]:
    """Every constructor keyword along the bases, pinned ones included."""
    options: dict[str, Option] = {}
    for klass in reversed(cls.__mro__):
        if klass in (object, nn.Module) or "__init__" not in vars(klass):
            continue
        init = vars(klass)["__init__"]
        hints = field_hints(init)
        for name, p in inspect.signature(init).parameters.items():
            if p.kind is p.KEYWORD_ONLY and name != "num_classes":
                options[name] = Option(p.default, hints.get(name, Any))
    for klass in reversed(cls.__mro__):
        for name, default in vars(klass).get("defaults", {}).items():
            options[name] = Option(default, options[name].hint)
    return options


def model_params(cls: type[Autoencoder]) -> dict[str, Any]:
    """The options of a model class with their defaults (for help texts)."""
    return {name: option.default for name, option in model_options(cls).items()}


def _resolve_options(cls: type[Autoencoder], given: dict[str, Any]) -> dict[str, Any]:
    """Every option's value for a new ``cls``: given ones converted and checked, the rest
    defaulted; a pinned option may be restated but not changed."""
    where = f"model {cls.name!r}"
    hints = _all_options(cls)
    for key in given.keys() & cls.fixed.keys():  # restating a pinned value is fine
        if convert(given[key], hints[key].hint, key, where) != cls.fixed[key]:
            raise AekitError(f"{where} always uses {key} {cls.fixed[key]!r}, not {given[key]!r}")
    options = model_options(cls)
    unknown = set(given) - set(options) - set(cls.fixed)
    if unknown:
        raise AekitError(
            f"{where} has no option(s) {', '.join(sorted(unknown))}; "
            f"its options are: {', '.join(sorted(options))}"
        )
    return {
        name: convert(given.get(name, option.default), option.hint, name, where)
        for name, option in options.items()
    }


def _recording(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap a model constructor so that the outermost call resolves the options once, runs the
    constructors along the bases, then initialises the weights and sets the memory layout."""

    @functools.wraps(init)
    def construct(
        self: Autoencoder,
        input_shape: Iterable[int],
        *,
        num_classes: int | None = None,
        **given: Any,
    ) -> None:
        if self.__dict__.get("_constructing"):  # a base class's part of the same construction
            return init(self, input_shape, num_classes=num_classes, **given)
        cls = type(self)
        values = _resolve_options(cls, given)
        object.__setattr__(self, "_constructing", True)
        try:
            init(self, tuple(input_shape), num_classes=num_classes, **values, **cls.fixed)
        finally:
            object.__delattr__(self, "_constructing")
        self.hparams = values
        self.initialize_weights({**values, **cls.fixed}["init"])
        # Module.to takes memory_format (its docs); torch's overloads omit it
        self.to(memory_format=cls.memory_format)  # type: ignore[call-overload]

    return construct


class Autoencoder(nn.Module):
    """Base class: the shared reconstruction likelihoods and the default AE objective."""

    name: ClassVar[str] = ""
    generative: ClassVar[bool] = False  # has a meaningful prior to sample from
    conditional: ClassVar[bool] = False  # needs integer labels to encode/decode
    variational: ClassVar[bool] = False  # has an ELBO
    default_reduction: ClassVar[str] = "per_element"  # Keras-style mean per pixel
    fixed: ClassVar[dict[str, Any]] = {}  # inherited options this model pins (not user options)
    defaults: ClassVar[dict[str, Any]] = {}  # inherited options this model gives new defaults
    # Training settings this model needs where the user sets none (``aekit models`` lists them)
    train_defaults: ClassVar[dict[str, Any]] = {}
    # Why ``--compile`` cannot build this model's step, if it cannot (state updated in place)
    compile_refusal: ClassVar[str] = ""
    # Layout of the 4-d weights, hence of the convolutions' activations.
    memory_format: ClassVar[torch.memory_format] = torch.contiguous_format
    # The decoder network, which each model builds (``decoder_parameters`` reads it)
    decoder: nn.Module

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Every model class's constructor records its options (also one a mixin listed
        before the model class provides, which is no Autoencoder itself)."""
        super().__init_subclass__(**kwargs)
        if "__init__" in vars(cls) or not hasattr(cls.__init__, "__wrapped__"):
            # wrapping the constructor is the point (mypy refuses any assignment to a method)
            cls.__init__ = _recording(cls.__init__)  # type: ignore[method-assign]

    def __init__(
        self,
        input_shape: tuple[int, ...],
        *,
        recon_loss: str = "bce",
        output: str = "sigmoid",
        init: str = "torch",
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        if recon_loss not in LIKELIHOODS:
            raise unknown_choice("reconstruction loss", recon_loss, LIKELIHOODS)
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
        self.code_dim = 0  # set by each model: the length of the flattened code
        self.hparams: dict[str, Any] = {}

    def initialize_weights(self, init: str) -> None:
        """Starting weights once every layer exists: ``torch`` keeps PyTorch's defaults,
        ``glorot`` applies Keras' (the articles' framework). A model whose layers need a
        particular start (a zero projection) extends this."""
        initialize(self, init)

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

    def draw_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` codes from the prior, on the model's device (generative models)."""
        raise AekitError(f"model {self.name!r} has no prior to sample from")

    def decoder_parameters(self) -> list[nn.Parameter]:
        """The parameters ``decode`` uses (what a decoder regulariser penalises)."""
        return list(self.decoder.parameters())

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Which term of ``loss_terms`` trains which parameters: ``{"loss": every parameter}``
        for most models. A model with an adversary (a discriminator, which must follow its own
        loss and not the model's) returns one entry per player, keyed by the term that player
        minimises, the model's own ``"loss"`` first; together they hold every parameter once.
        The one trainer keeps an optimizer parameter group per entry and sends each term's
        gradient to its own group only."""
        return {"loss": list(self.parameters())}

    def check_training_set(self, examples: int) -> None:
        """Refuse, with an ``AekitError``, a training set this model cannot be fitted to
        (a model with learned pseudo-inputs needs at least as many examples)."""

    # -- shared behaviour ----------------------------------------------------------------
    def decoder_input_dim(self) -> int:
        """Width of what the decoder's first layer takes: the code, plus any conditioning."""
        return self.code_dim

    def to_data(self, out: torch.Tensor) -> torch.Tensor:
        """Decoder output -> data space (probabilities or means; for a multinomial model
        the share of each element in the example)."""
        if self.recon_loss == "multinomial":
            return self._log_shares(out).exp()
        return torch.sigmoid(out) if self.output == "sigmoid" else out

    def _example_dims(self, out: torch.Tensor) -> tuple[int, ...]:
        return tuple(range(out.dim() - len(self.input_shape), out.dim()))

    def _log_shares(self, out: torch.Tensor) -> torch.Tensor:
        """log softmax over each example's elements (a multinomial's log probabilities)."""
        flat = out.flatten(out.dim() - len(self.input_shape))
        return torch.log_softmax(flat, -1).view_as(out)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Raw decoder output for ``x`` (deterministic: VAEs decode the posterior mean)."""
        return self.decode(self.encode(x, y), y)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.to_data(self(x, y))

    def reconstruction_error(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-example reconstruction term, summed over an example's elements: BCE, or squared
        error. Dimensions before the example's own are kept (several decodings per example,
        scored against a target expanded to match)."""
        if self.recon_loss == "bce":
            err = F.binary_cross_entropy_with_logits(out, target, reduction="none")
        elif self.recon_loss == "multinomial":
            err = -target * self._log_shares(out)
        else:
            err = (self.to_data(out) - target).square()
        return err.sum(self._example_dims(out))

    def reconstruction_loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Batch mean of :meth:`reconstruction_error`, computed with one fused reduction
        (the training hot path: fewer kernels and temporaries than the per-example form)."""
        if self.recon_loss == "bce":
            total = F.binary_cross_entropy_with_logits(out, target, reduction="sum")
        elif self.recon_loss == "multinomial":
            total = -(target * self._log_shares(out)).sum()
        else:
            total = F.mse_loss(self.to_data(out), target, reduction="sum")
        return total / len(target)

    def log_likelihood(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """log p(x|z) per example: Bernoulli, Gaussian with unit variance for MSE models, or
        multinomial (without its constant: the log of the counts' multinomial coefficient).

        The Bernoulli term is written x.l - softplus(l), the negated BCE: two passes over the
        logits instead of BCE's five, which is most of the importance-weighted NLL's time
        outside the decoder's matrix products (benchmarks/RESULTS.md, "Likelihood
        evaluation")."""
        if self.recon_loss == "bce":
            dims = self._example_dims(out)
            return (out * target).sum(dims) - F.softplus(out).sum(dims)
        if self.recon_loss == "multinomial":
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

    def require_labels(self, y: torch.Tensor | None) -> None:
        """Conditional models cannot encode or decode without labels. (Their range is checked
        where data comes in, :func:`aekit.runs.inference.labels_for`: a check of values here
        would not survive tracing for ``--compile``.)"""
        if self.conditional and y is None:
            raise AekitError(f"model {self.name!r} is conditional: give a label per example")


if TYPE_CHECKING:
    # A mixin is listed before the model class it extends; mypy checks its methods as that
    # class's, through this base, which at run time is ``object``.
    AutoencoderMixin = Autoencoder
else:
    AutoencoderMixin = object


def build_model(
    spec: dict[str, Any], input_shape: tuple[int, ...], num_classes: int | None = None
) -> Autoencoder:
    """Build a registered model from ``{"name": ..., **options}`` (the same as calling its
    class with those options)."""
    cls, options = _registered(spec)
    return cls(tuple(input_shape), num_classes=num_classes, **options)


def check_model_options(spec: dict[str, Any]) -> None:
    """What building the model would check of its options (unknown names, values of the wrong
    type or range), without the data it is built for."""
    cls, options = _registered(spec)
    _resolve_options(cls, options)


def _registered(spec: dict[str, Any]) -> tuple[type[Autoencoder], dict[str, Any]]:
    spec = dict(spec)
    name = spec.pop("name", "ae")
    if not isinstance(name, str) or name not in MODELS:
        raise unknown_choice("model", str(name), MODELS)
    return MODELS[name], spec
