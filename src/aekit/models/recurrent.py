"""``recurrent-ae`` (S13): LSTM sequence-to-vector encoder, vector-to-sequence decoder."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from aekit.errors import AekitError
from aekit.models.base import Autoencoder, register_model
from aekit.values import PositiveInt, Sizes


def sequence_shape(model_name: str, input_shape: tuple[int, ...]) -> tuple[int, int]:
    """(steps, features) for the data: (1, H, W) images are read row by row (H steps of W
    pixels), (T, F) examples are already sequences, and (D,) vectors are D steps of 1 value."""
    if len(input_shape) == 3 and input_shape[0] == 1:
        return input_shape[1], input_shape[2]
    if len(input_shape) == 2:
        return input_shape[0], input_shape[1]
    if len(input_shape) == 1:
        return input_shape[0], 1
    raise AekitError(
        f"model {model_name!r} reads sequences: single-channel images (1, H, W) row by row, "
        f"(steps, features) arrays, or (length,) series; this data has examples shaped "
        f"{tuple(input_shape)}"
    )


def lstm_stack(sizes: Sequence[int]) -> nn.ModuleList:
    """One batch-first LSTM per step of ``sizes`` (their widths differ, unlike ``num_layers``)."""
    return nn.ModuleList(nn.LSTM(a, b, batch_first=True) for a, b in itertools.pairwise(sizes))


def run_stack(stack: nn.ModuleList, h: torch.Tensor) -> torch.Tensor:
    """Feed a (batch, steps, features) sequence through the LSTMs; every step's output."""
    for lstm in stack:
        h, _ = lstm(h)
    return h


@register_model("recurrent-ae")
class RecurrentAutoencoder(Autoencoder):
    """LSTM encoder (sequence to code) and LSTM decoder (code repeated over time), S13.

    Encoder: LSTMs through ``hidden`` then ``latent_dim`` units; the code is the last
    LSTM's final output. Decoder: the code repeated at every step, LSTMs through the reversed
    ``hidden`` sizes, then one dense layer per step back to the features (S13's 100/30 layout:
    ``LSTM(100) -> LSTM(30)``, ``RepeatVector -> LSTM(100) -> TimeDistributed(Dense)``).

    Inputs may be single-channel images (rows are steps), (steps, features) sequences or
    (length,) series; the decoder returns its output in the input's own shape.

    Expect a plateau: for the first few hundred optimiser steps the reconstruction is the
    mean example before the code starts to carry the example's shape; the article trains 10
    epochs of 55,000 digits at batch size 32. ``init`` defaults to ``glorot``, Keras' LSTM
    initialisation (the article's), which leaves the plateau sooner than PyTorch's
    (benchmarks/RESULTS.md, "Model defaults").
    """

    defaults: ClassVar[dict[str, Any]] = {"init": "glorot"}
    decoder: nn.ModuleList

    def __init__(
        self,
        input_shape: tuple[int, ...],
        *,
        latent_dim: PositiveInt = 30,
        hidden: Sizes = (100,),
        **base: Any,
    ) -> None:
        super().__init__(input_shape, **base)
        self.steps, self.features = sequence_shape(self.name, self.input_shape)
        self.code_dim = latent_dim
        self.encoder = lstm_stack([self.features, *hidden, latent_dim])
        # Without hidden sizes the decoder still needs one LSTM, or every step would be equal.
        decoder_widths = hidden[::-1] or [latent_dim]
        self.decoder = lstm_stack([latent_dim, *decoder_widths])
        self.readout = nn.Linear(decoder_widths[-1], self.features)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.input_shape:
            raise AekitError(
                f"model {self.name!r} was built for examples shaped {self.input_shape}; "
                f"got {tuple(x.shape[1:])}"
            )
        return run_stack(self.encoder, x.reshape(-1, self.steps, self.features))[:, -1]

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        repeated = z.unsqueeze(1).expand(-1, self.steps, -1)
        out: torch.Tensor = self.readout(run_stack(self.decoder, repeated))
        return out.reshape(-1, *self.input_shape)
