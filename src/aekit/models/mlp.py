"""Fully connected autoencoders: ``ae`` (S1, S7, S19) and ``linear-ae`` (S6, the PCA link)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from aekit.models.base import Autoencoder, register_model
from aekit.models.layers import init_glorot, mlp


def parse_sizes(hidden: Sequence[int] | str | int | None) -> list[int]:
    """Hidden layer sizes from a list, an int, or ``"256,128"``."""
    if hidden is None or hidden == "":
        return []
    if isinstance(hidden, int):
        return [hidden]
    if isinstance(hidden, str):
        return [int(s) for s in hidden.split(",") if s.strip()]
    return [int(s) for s in hidden]


@register_model("ae")
class MLPAutoencoder(Autoencoder):
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
        sizes = [self.input_dim, *parse_sizes(hidden), self.latent_dim]
        self.encoder = mlp(sizes, activation, code_activation)
        self.decoder = mlp(sizes[::-1], activation, None)
        if init == "glorot":
            init_glorot(self)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.encoder(x.flatten(1))

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(z).reshape(-1, *self.input_shape)


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
