"""``tied-ae`` (S10): the decoder reuses the encoder's weight matrices, transposed."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from aekit.models.base import register_model
from aekit.models.layers import activation as make_activation
from aekit.models.mlp import DenseAutoencoder, linear_layers


@register_model("tied-ae")
class TiedAutoencoder(DenseAutoencoder):
    """Dense autoencoder whose decoder layers are the encoder's, transposed (S10).

    Decoder layer ``i`` computes ``act(h @ W_i + b'_i)`` with ``W_i`` the weight of encoder
    layer ``i`` and ``b'_i`` its own bias (Keras' ``DenseTranspose``), so the model has about
    half the weights of the same ``ae``: the weight matrices are stored once, only the
    decoder biases are extra. The last decoder layer returns logits, as in every model.
    """

    def __init__(self, input_shape: tuple[int, ...], **options: Any) -> None:
        super().__init__(input_shape, **options)
        # One bias per decoder layer, indexed like the encoder layer it transposes.
        self.decoder_biases = nn.ParameterList(
            nn.Parameter(torch.zeros(size)) for size in self.layer_sizes[:-1]
        )
        self.decoder_activation = make_activation(self.hidden_activation)

    def layer_parameters(self, index: int) -> list[torch.Tensor]:
        layer = linear_layers(self.encoder)[index]
        return [layer.weight, layer.bias, self.decoder_biases[index]]

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = z
        layers = linear_layers(self.encoder)
        for index in reversed(range(len(layers))):
            # F.linear(h, A, b) = h @ A.T + b, so A = W.T applies the transpose of W.
            h = F.linear(h, layers[index].weight.t(), self.decoder_biases[index])
            if index > 0:
                h = self.decoder_activation(h)
        return h.reshape(-1, *self.input_shape)
