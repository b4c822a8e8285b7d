"""Fully connected autoencoders: ``ae`` (S1, S7, S19) and ``linear-ae`` (S6, the PCA link).

:class:`DenseAutoencoder` is the layout every dense model shares (``tied-ae`` and
``sparse-ae`` too): an encoder ``input -> hidden... -> latent_dim`` of linear layers, which
greedy layer-wise training (S11) can build one layer at a time.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from aekit.errors import AekitError
from aekit.models.base import Autoencoder, register_model
from aekit.models.layers import mlp, widened
from aekit.values import PositiveInt, Sizes


class DenseAutoencoder(Autoencoder):
    """Encoder ``input -> hidden... -> latent_dim``; subclasses add the decoder.

    ``code_activation`` is applied to the code layer: the articles use their hidden activation
    there (ReLU in S1/S19, SELU in S7); the default ``linear`` keeps all code values usable.
    ``layer_sizes`` lists the widths from the input to the code; ``layer_parameters(i)`` gives
    the tensors of layer ``i`` (encoder and mirror decoder part) in a fixed order, which is
    what greedy layer-wise training copies from a trained stage into the stack.
    """

    greedy_refusal: ClassVar[str] = ""  # why this model cannot be stacked greedily, if it can't

    def __init__(
        self,
        input_shape: tuple[int, ...],
        *,
        latent_dim: PositiveInt = 16,
        hidden: Sizes = (256,),
        activation: str = "relu",
        code_activation: str = "linear",
        **base: Any,
    ) -> None:
        super().__init__(input_shape, **base)
        self.code_dim = latent_dim
        self.layer_sizes = [self.input_dim, *hidden, latent_dim]
        self.hidden_activation, self.code_activation = activation, code_activation
        self.encoder = mlp(self.layer_sizes, activation, code_activation)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        code: torch.Tensor = self.encoder(x.flatten(1))
        return code

    def layer_parameters(self, index: int) -> list[torch.Tensor]:
        raise NotImplementedError


@register_model("ae")
class MLPAutoencoder(DenseAutoencoder):
    """MLP encoder ``input -> hidden... -> latent_dim`` and its mirror image as the decoder."""

    def __init__(self, input_shape: tuple[int, ...], **options: Any) -> None:
        super().__init__(input_shape, **options)
        self.decoder = mlp(self.layer_sizes[::-1], self.hidden_activation, None)

    def layer_parameters(self, index: int) -> list[torch.Tensor]:
        encoder = linear_layers(self.encoder)[index]
        decoder = linear_layers(self.decoder)[-1 - index]
        return [encoder.weight, encoder.bias, decoder.weight, decoder.bias]

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        out: torch.Tensor = self.decoder(z)
        return out.reshape(-1, *self.input_shape)

    def widen_code_layer(self, factor: int) -> None:
        """Give the code layer ``factor`` outputs per code unit (the AAE's Gaussian posterior:
        a mean and a log-variance, side by side in ``encode``'s output)."""
        if self.code_activation != "linear":
            raise AekitError(
                f"model {self.name!r}: a Gaussian posterior needs code_activation: linear"
            )
        last = len(self.encoder) - 1  # with a linear code, the code layer ends the stack
        code_layer = self.encoder[last]
        assert isinstance(code_layer, nn.Linear), "a linear code ends the encoder's stack"
        self.encoder[last] = widened(code_layer, factor)


def linear_layers(stack: nn.Module) -> list[nn.Linear]:
    """The ``nn.Linear`` layers of a stack, in order (skipping the activations between them)."""
    return [m for m in stack.modules() if isinstance(m, nn.Linear)]


@register_model("linear-ae")
class LinearAutoencoder(MLPAutoencoder):
    """No non-linearity anywhere, trained with MSE: its optimum spans PCA's subspace (S6).

    The optimum is reached slowly: the loss barely changes between a code that spans the
    k-th principal axis and one that spans the (k+1)-th when their variances are close (on
    MNIST the 8th and 9th differ by 4%), and Adam's minibatch noise at a constant step keeps
    it from settling. Its training defaults (many small batches, a cosine-decayed step from
    1e-2) learn the subspace in 40 epochs (benchmarks/RESULTS.md, "Model defaults").
    """

    fixed: ClassVar[dict[str, Any]] = {
        "activation": "linear",
        "code_activation": "linear",
        "recon_loss": "mse",
        "output": "linear",
    }
    defaults: ClassVar[dict[str, Any]] = {"latent_dim": 2, "hidden": ()}
    train_defaults: ClassVar[dict[str, Any]] = {
        "batch_size": 32,
        "lr": 1e-2,
        "lr_schedule": "cosine",
    }
