"""Building blocks shared by the model definitions: activations, MLP stacks, conditioning."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

from aekit.errors import AekitError, unknown_choice

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "selu": nn.SELU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU,
    "softplus": nn.Softplus,
    "linear": nn.Identity,
}


def activation(name: str | None) -> nn.Module:
    """An activation module by name; ``None`` or ``"linear"`` is the identity."""
    if name is None:
        return nn.Identity()
    if name not in ACTIVATIONS:
        raise unknown_choice("activation", name, ACTIVATIONS)
    return ACTIVATIONS[name]()


def mlp(
    sizes: Sequence[int], hidden_activation: str | None, last_activation: str | None
) -> nn.Sequential:
    """Linear layers through ``sizes``; every layer but the last uses ``hidden_activation``."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(fan_in, fan_out))
        last = i == len(sizes) - 2
        act = last_activation if last else hidden_activation
        if act not in (None, "linear"):
            layers.append(activation(act))
    return nn.Sequential(*layers)


def widened(layer: nn.Linear, factor: int) -> nn.Linear:
    """A fresh linear layer with ``layer``'s inputs and ``factor`` times its outputs."""
    return nn.Linear(layer.in_features, factor * layer.out_features)


INITS = ("torch", "glorot")


def initialize(module: nn.Module, init: str) -> None:
    """Set ``module``'s starting weights: ``torch`` keeps PyTorch's defaults, ``glorot``
    applies Keras' (the articles' framework), for faithful reproductions."""
    if init not in INITS:
        raise unknown_choice("init", init, INITS)
    if init == "glorot":
        init_glorot(module)


def init_glorot(module: nn.Module) -> None:
    """Keras' defaults: Glorot-uniform kernels and zero biases; for LSTMs also orthogonal
    recurrent kernels and a forget-gate bias of 1 (Keras' ``unit_forget_bias``)."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LSTM):
            _init_lstm_like_keras(m)


@torch.no_grad()
def _init_lstm_like_keras(lstm: nn.LSTM) -> None:
    """PyTorch stacks the gates (input, forget, cell, output: Keras' order) along dim 0."""
    for name, p in lstm.named_parameters():
        if name.startswith("weight_ih"):
            nn.init.xavier_uniform_(p)
        elif name.startswith("weight_hh"):
            nn.init.orthogonal_(p)
        else:  # Keras has one bias; PyTorch adds bias_ih and bias_hh
            nn.init.zeros_(p)
            if name.startswith("bias_ih"):
                p[lstm.hidden_size : 2 * lstm.hidden_size] = 1.0


class LabelConditioning(nn.Module):
    """S5's conditioning: one-hot label -> Linear -> ReLU, projected to the code size and
    *added* to the code before decoding, so the decoder learns what the label asks for."""

    def __init__(self, num_classes: int, code_dim: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.project = nn.Sequential(nn.Linear(num_classes, code_dim), nn.ReLU())

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        offset: torch.Tensor = self.project(one_hot(y, self.num_classes, z.dtype))
        return z + offset.reshape(z.shape)


def one_hot(y: torch.Tensor, num_classes: int, dtype: torch.dtype) -> torch.Tensor:
    """Rows of ``num_classes`` zeros with a one at each label, as ``dtype``. Written as a
    scatter rather than ``F.one_hot``: the scatter still refuses a label out of range when it
    runs, but needs no label values to be traced (``F.one_hot`` first computes their range).
    The row count is read as ``y.shape[0]``, which tracers keep as the batch size where
    ``len(y)`` would freeze it (``aekit export``'s dynamic batch)."""
    rows = torch.zeros(y.shape[0], num_classes, dtype=dtype, device=y.device)
    return rows.scatter_(1, y.long().unsqueeze(1), 1.0)


def transpose_padding(size_in: int, target: int, kernel: int, stride: int = 2) -> tuple[int, int]:
    """(padding, output_padding) so a ConvTranspose2d maps ``size_in`` exactly to ``target``.

    The smallest padding wins, so 3 -> 7 uses Keras' 'valid' (S12) and 7 -> 14 its 'same'.
    """
    for padding in range(kernel):
        extra = target - ((size_in - 1) * stride - 2 * padding + kernel)
        if 0 <= extra < stride:
            return padding, extra
    raise ValueError(f"no transposed convolution maps {size_in} to {target}")


def image_shape(model_name: str, input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """Convolutional models need (channels, height, width) inputs."""
    if len(input_shape) != 3:
        raise AekitError(
            f"model {model_name!r} needs images shaped (channels, height, width); "
            f"this data has examples shaped {tuple(input_shape)}"
        )
    return input_shape
