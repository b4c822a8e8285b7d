"""Fully connected autoencoders: ``ae`` (S1, S7, S19) and ``linear-ae`` (S6, the PCA link)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from aekit.errors import AekitError
from aekit.models.base import (
    MODELS,
    Autoencoder,
    build_model,
    is_positive_int,
    model_params,
    register_model,
)
from aekit.models.layers import initialize, mlp


def parse_sizes(
    hidden: Sequence[int] | str | int | None, option: str = "hidden", required: bool = False
) -> list[int]:
    """Layer sizes from a list, an int, or ``"256,128"``; anything but positive integers (a
    YAML typo, a 0, none where ``required``) is the user's mistake, said in one line instead
    of failing inside PyTorch."""
    items = [] if hidden is None or hidden == "" else hidden
    items = items.split(",") if isinstance(items, str) else items
    items = items if isinstance(items, Sequence) else [items]
    sizes = [int(s) if isinstance(s, str) and s.strip().isdigit() else s for s in items]
    if (required and not sizes) or not all(is_positive_int(s) for s in sizes):
        count = "one or more " if required else ""
        raise AekitError(f"bad {option} {hidden!r}; give {count}whole numbers >= 1, e.g. [32, 64]")
    return sizes


class LayerwiseStacking:
    """Mixin for dense autoencoders built from one layer per step of ``layer_sizes`` (S11).

    Greedy layer-wise training (:mod:`aekit.training.greedy`) only uses these three methods:
    ``stage_model(i)`` builds a shallow autoencoder of the same kind for layer ``i``, the
    trainer fits it on the codes of layer ``i - 1``, and ``adopt_stage(i, stage)`` copies its
    weights into layer ``i`` of the encoder and the mirror layer of the decoder. A class using
    the mixin sets ``layer_sizes``, ``hidden_activation`` and ``code_activation`` and says
    which parameters make up a layer (``layer_parameters``).
    """

    layer_sizes: list[int]
    hidden_activation: str
    code_activation: str
    greedy_refusal: ClassVar[str] = ""  # why a subclass cannot be trained greedily, if it cannot

    def layer_parameters(self, index: int) -> list[nn.Parameter]:
        """The tensors of layer ``index``, in the same order for a stack and for a stage."""
        raise NotImplementedError

    def stage_model(self, index: int) -> Autoencoder:
        """A one-hidden-layer autoencoder ``sizes[index] -> sizes[index + 1] -> sizes[index]``.

        The first stage reconstructs the data with this model's own loss. Later stages
        reconstruct the previous stage's real-valued codes, so they use MSE and a linear
        output (Keras' S11 uses a SELU output there; with ReLU codes, which are never negative,
        the stacked decoder's activation then changes nothing; fine-tuning settles the rest).
        """
        sizes = self.layer_sizes
        last = index == len(sizes) - 2
        spec = {
            **self.hparams,
            "name": self.name,
            "hidden": [],
            "latent_dim": sizes[index + 1],
            "activation": self.hidden_activation,
            "code_activation": self.code_activation if last else self.hidden_activation,
            "recon_loss": self.recon_loss if index == 0 else "mse",
            "output": self.output if index == 0 else "linear",
        }
        accepted = model_params(type(self))  # pinned options (linear-ae's) are not passed
        spec = {k: v for k, v in spec.items() if k == "name" or k in accepted}
        shape = self.input_shape if index == 0 else (sizes[index],)
        return build_model(spec, shape, self.num_classes)

    @torch.no_grad()
    def adopt_stage(self, index: int, stage: LayerwiseStacking) -> None:
        """Copy a trained stage's weights into layer ``index`` of this stack."""
        for mine, theirs in zip(self.layer_parameters(index), stage.layer_parameters(0)):
            mine.copy_(theirs)


def greedy_model_names() -> list[str]:
    """The registered models that greedy layer-wise training (``--greedy``) can stack."""
    return sorted(
        name
        for name, cls in MODELS.items()
        if issubclass(cls, LayerwiseStacking) and not cls.greedy_refusal
    )


def greedy_unavailable(name: str, reason: str) -> AekitError:
    """The one refusal of ``--greedy`` for a model it cannot stack, naming those it can."""
    *rest, last = greedy_model_names()
    names = f"{', '.join(rest)} or {last}" if rest else last
    return AekitError(
        f"greedy layer-wise training is not available for {name} ({reason}); "
        f"use {names}, or train {name} without --greedy"
    )


@register_model("ae")
class MLPAutoencoder(LayerwiseStacking, Autoencoder):
    """Encoder ``input -> hidden... -> latent_dim``, decoder the mirror image.

    ``code_activation`` is applied to the code layer: the articles use their hidden activation
    there (ReLU in S1/S19, SELU in S7); the default ``linear`` keeps all code values usable.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        *,
        latent_dim: int = 16,
        hidden: Sequence[int] = (256,),
        activation: str = "relu",
        code_activation: str = "linear",
        init: str = "torch",
        **base,
    ) -> None:
        super().__init__(input_shape, **base)
        self.latent_dim = int(latent_dim)
        self.layer_sizes = [self.input_dim, *parse_sizes(hidden), self.latent_dim]
        self.hidden_activation, self.code_activation = activation, code_activation
        self.encoder = mlp(self.layer_sizes, activation, code_activation)
        self.decoder = mlp(self.layer_sizes[::-1], activation, None)
        initialize(self, init)

    def layer_parameters(self, index: int) -> list[nn.Parameter]:
        encoder = linear_layers(self.encoder)[index]
        decoder = linear_layers(self.decoder)[-1 - index]
        return [encoder.weight, encoder.bias, decoder.weight, decoder.bias]

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.encoder(x.flatten(1))

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(z).reshape(-1, *self.input_shape)


def linear_layers(stack: nn.Module) -> list[nn.Linear]:
    """The ``nn.Linear`` layers of a stack, in order (skipping the activations between them)."""
    return [m for m in stack.modules() if isinstance(m, nn.Linear)]


@register_model("linear-ae")
class LinearAutoencoder(MLPAutoencoder):
    """No non-linearity anywhere, trained with MSE: its optimum spans PCA's subspace (S6)."""

    fixed: ClassVar[dict[str, Any]] = {
        "activation": "linear",
        "code_activation": "linear",
        "recon_loss": "mse",
        "output": "linear",
    }

    def __init__(
        self,
        input_shape: tuple[int, ...],
        *,
        latent_dim: int = 2,
        hidden: Sequence[int] = (),
        **rest,
    ) -> None:
        super().__init__(input_shape, latent_dim=latent_dim, hidden=hidden, **rest)
