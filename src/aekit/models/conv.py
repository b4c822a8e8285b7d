"""``conv-ae``: convolutional autoencoder covering S12 (transposed-convolution decoder) and
S20 / S21 (upsampling decoder), with a spatial code or an optional dense bottleneck."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from aekit.errors import AekitError, unknown_choice
from aekit.models.base import Autoencoder, register_model
from aekit.models.layers import activation as make_activation
from aekit.models.layers import image_shape, transpose_padding, widened
from aekit.values import PositiveInt, RequiredSizes


@register_model("conv-ae")
class ConvAutoencoder(Autoencoder):
    """Convolutional autoencoder with max-pooling encoder and upsampling decoder (S12, S20).

    Encoder: per entry of ``channels``, a 'same' convolution, the activation, a 2x2 max-pool.
    Decoder ``upsampling="transpose"`` (S12): stride-2 transposed convolutions sized to undo
    each pool exactly. ``upsampling="nearest"`` (S20): a convolution, then per stage a nearest
    upsampling and a convolution. ``pool_padding="valid"`` floors odd sizes (Keras' default,
    S12); ``"same"`` rounds them up (S20). ``latent_dim`` adds a dense bottleneck; without it
    the code is the flattened final feature map.
    """

    # Channels-last: on the CPU PyTorch's max-pooling is several times faster in it, and the
    # convolutional recipes train faster with the same losses (benchmarks/RESULTS.md,
    # "Memory layout of the convolutional models").
    memory_format = torch.channels_last

    def __init__(
        self,
        input_shape: tuple[int, ...],
        *,
        channels: RequiredSizes = (16, 32, 64),
        kernel_size: PositiveInt = 3,
        activation: str = "selu",
        upsampling: str = "transpose",
        pool_padding: str = "same",
        latent_dim: PositiveInt | None = None,
        **base: Any,
    ) -> None:
        super().__init__(input_shape, **base)
        in_channels, height, width = image_shape(self.name, self.input_shape)
        if upsampling not in ("transpose", "nearest"):
            raise unknown_choice("upsampling", upsampling, ["nearest", "transpose"])
        if pool_padding not in ("valid", "same"):
            raise unknown_choice("pool_padding", pool_padding, ["same", "valid"])
        chans, k, ceil = channels, kernel_size, pool_padding == "same"
        if k > min(height, width):
            raise AekitError(
                f"model {self.name!r}: bad kernel_size {k}; it must be at most the images' "
                f"{min(height, width)} pixels"
            )
        sizes = [(height, width)]
        encoder: list[nn.Module] = []
        for c_in, c_out in zip([in_channels, *chans[:-1]], chans):
            encoder += [nn.Conv2d(c_in, c_out, k, padding="same"), make_activation(activation)]
            encoder.append(nn.MaxPool2d(2, ceil_mode=ceil))
            h, w = sizes[-1]
            sizes.append(((h + ceil) // 2, (w + ceil) // 2))
        self.encoder = nn.Sequential(*encoder)
        self.feature_shape = (chans[-1], *sizes[-1])
        flat = chans[-1] * sizes[-1][0] * sizes[-1][1]
        self.code_dim = latent_dim or flat
        self.to_code: nn.Module = nn.Linear(flat, self.code_dim) if latent_dim else nn.Identity()
        self.from_code: nn.Module = (
            nn.Sequential(nn.Linear(self.code_dim, flat), make_activation(activation))
            if latent_dim
            else nn.Identity()
        )
        targets = sizes[-2::-1]  # the size before each pool, innermost first
        out_chans = [*chans[-2::-1], in_channels]
        build = self._transpose_decoder if upsampling == "transpose" else self._nearest_decoder
        self.decoder = build(chans[-1], out_chans, sizes[-1], targets, k, activation)

    @staticmethod
    def _transpose_decoder(
        c_in: int,
        out_chans: list[int],
        size: tuple[int, int],
        targets: list[tuple[int, int]],
        k: int,
        act: str,
    ) -> nn.Sequential:
        layers: list[nn.Module] = []
        for i, (c_out, target) in enumerate(zip(out_chans, targets)):
            pad_h, extra_h = transpose_padding(size[0], target[0], k)
            pad_w, extra_w = transpose_padding(size[1], target[1], k)
            layers.append(
                nn.ConvTranspose2d(
                    c_in,
                    c_out,
                    k,
                    stride=2,
                    padding=(pad_h, pad_w),
                    output_padding=(extra_h, extra_w),
                )
            )
            if i < len(out_chans) - 1:
                layers.append(make_activation(act))
            c_in, size = c_out, target
        return nn.Sequential(*layers)

    @staticmethod
    def _nearest_decoder(
        c_in: int,
        out_chans: list[int],
        size: tuple[int, int],
        targets: list[tuple[int, int]],
        k: int,
        act: str,
    ) -> nn.Sequential:
        layers: list[nn.Module] = [nn.Conv2d(c_in, c_in, k, padding="same"), make_activation(act)]
        for i, (c_out, target) in enumerate(zip(out_chans, targets)):
            layers += [
                nn.Upsample(size=tuple(target), mode="nearest"),
                nn.Conv2d(c_in, c_out, k, padding="same"),
            ]
            if i < len(out_chans) - 1:
                layers.append(make_activation(act))
            c_in = c_out
        return nn.Sequential(*layers)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        code: torch.Tensor = self.to_code(self.encoder(x).flatten(1))
        return code

    def decoder_parameters(self) -> list[nn.Parameter]:
        return [*self.from_code.parameters(), *self.decoder.parameters()]

    def widen_code_layer(self, factor: int) -> None:
        """Give the code layer ``factor`` outputs per code unit (the AAE's Gaussian posterior:
        a mean and a log-variance, side by side in ``encode``'s output)."""
        if not isinstance(self.to_code, nn.Linear):
            raise AekitError(
                f"model {self.name!r}: a Gaussian posterior needs a latent_dim (a dense code layer)"
            )
        self.to_code = widened(self.to_code, factor)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        features = self.from_code(z).reshape(-1, *self.feature_shape)
        out: torch.Tensor = self.decoder(features)
        return out
