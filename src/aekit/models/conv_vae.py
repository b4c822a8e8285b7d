"""``conv-vae``: the convolutional VAE of the TensorFlow tutorial (S17), and ``conv-cvae``."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from aekit.models.base import register_model
from aekit.models.layers import activation as make_activation
from aekit.models.layers import image_shape, transpose_padding
from aekit.models.vae import LabelConditioned, VariationalAutoencoder
from aekit.values import PositiveInt, RequiredSizes


def _halve(size: int) -> int:
    """Output size of a 3x3, stride-2, unpadded convolution (TF 'valid')."""
    return (size - 3) // 2 + 1


@register_model("conv-vae")
class ConvVAE(VariationalAutoencoder):
    """S17: the TensorFlow tutorial's convolutional VAE, strided convolutions both ways.

    Encoder: stride-2 3x3 convolutions (``channels``, 'valid'), flatten, one dense layer to
    mean and log-variance. Decoder: dense to ``channels[0]`` maps of a quarter of the image
    size, stride-2 transposed convolutions back up (reversed ``channels``), and a final
    stride-1 transposed convolution producing logits (S17: 32, 64 and a 50-d code)."""

    def __init__(
        self,
        input_shape: tuple[int, ...],
        *,
        latent_dim: PositiveInt = 50,
        channels: RequiredSizes = (32, 64),
        activation: str = "relu",
        **base: Any,
    ) -> None:
        super().__init__(input_shape, **base)
        in_channels, height, width = image_shape(self.name, self.input_shape)
        chans = channels
        self.code_dim = latent_dim
        layers: list[nn.Module] = []
        h, w = height, width
        for c_in, c_out in zip([in_channels, *chans[:-1]], chans):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2), make_activation(activation)]
            h, w = _halve(h), _halve(w)
        layers += [nn.Flatten(), nn.Linear(chans[-1] * h * w, 2 * latent_dim)]
        self.encoder = nn.Sequential(*layers)

        sizes = [(height, width)]
        for _ in chans:
            sizes.append(((sizes[-1][0] + 1) // 2, (sizes[-1][1] + 1) // 2))
        self.seed_shape = (chans[0], *sizes[-1])
        decoder: list[nn.Module] = [
            nn.Linear(self.decoder_input_dim(), chans[0] * sizes[-1][0] * sizes[-1][1]),
            make_activation(activation),
            nn.Unflatten(1, self.seed_shape),
        ]
        c_in = chans[0]
        for c_out, (size, target) in zip(chans[::-1], zip(sizes[:0:-1], sizes[-2::-1])):
            pad = [transpose_padding(s, t, 3) for s, t in zip(size, target)]
            decoder += [
                nn.ConvTranspose2d(
                    c_in,
                    c_out,
                    3,
                    stride=2,
                    padding=(pad[0][0], pad[1][0]),
                    output_padding=(pad[0][1], pad[1][1]),
                ),
                make_activation(activation),
            ]
            c_in = c_out
        decoder.append(nn.ConvTranspose2d(c_in, in_channels, 3, stride=1, padding=1))
        self.decoder = nn.Sequential(*decoder)

    def encode_dist(
        self, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return mean, logvar

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        out: torch.Tensor = self.decoder(z)
        return out


@register_model("conv-cvae")
class ConditionalConvVAE(LabelConditioned, ConvVAE):
    """The label conditioning of ``cvae`` (S5) applied to S17's convolutional VAE.

    By default the label is an extra input of the encoder and is concatenated to the code
    before decoding (``conditioning: add`` adds its projection instead, S5 as written), so
    ``sample(n, y)`` draws images of class ``y``."""
