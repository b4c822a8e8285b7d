"""An autoregressive prior over a grid of discrete codes (a small PixelCNN; van den Oord et
al. 2016, "Pixel recurrent neural networks"), what a ``vq-vae`` samples from: van den Oord et
al. 2017 fit one to the codebook indices of the training images after training.

It models p(c) = prod_i p(c_i | c_<i) in raster order with masked convolutions (the first
masked type A, the rest type B), and trains with the one trainer: it is an ``Autoencoder``
whose "data" are index grids (n, 1, h, w) and whose loss is their negative log-likelihood in
nats. It is not registered: it has no encoder or decoder, and ``aekit.sampling`` builds it.
Where it differs from the paper: no gating and no conditioning, a handful of layers.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from aekit.models.base import Autoencoder
from aekit.values import PositiveInt


class MaskedConv2d(nn.Conv2d):
    """A convolution that sees only the pixels before the centre in raster order (type A)
    or also the centre (type B)."""

    mask: torch.Tensor  # a buffer

    def __init__(self, kind: str, c_in: int, c_out: int, kernel: int) -> None:
        super().__init__(c_in, c_out, kernel, padding=kernel // 2)
        mask = torch.ones_like(self.weight)
        centre = kernel // 2
        mask[:, :, centre, centre + (kind == "B") :] = 0
        mask[:, :, centre + 1 :] = 0
        self.register_buffer("mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class GridPrior(Autoencoder):
    """p(indices) for grids of ``codes`` possible values, shaped like ``input_shape``."""

    name: ClassVar[str] = "grid-prior"
    default_reduction: ClassVar[str] = "per_example"
    fixed: ClassVar[dict[str, Any]] = {"recon_loss": "mse", "output": "linear"}

    def __init__(
        self,
        input_shape: tuple[int, ...],
        *,
        codes: PositiveInt = 64,
        channels: PositiveInt = 64,
        layers: PositiveInt = 5,
        **base: Any,
    ) -> None:
        super().__init__(input_shape, **base)
        self.codes = codes
        self.embed = nn.Embedding(codes, channels)
        stack: list[nn.Module] = [MaskedConv2d("A", channels, channels, 7)]
        for _ in range(layers - 1):
            stack += [nn.ReLU(), MaskedConv2d("B", channels, channels, 3)]
        stack += [nn.ReLU(), nn.Conv2d(channels, codes, 1)]
        self.net = nn.Sequential(*stack)

    def logits(self, grid: torch.Tensor) -> torch.Tensor:
        """(n, codes, h, w) logits of each position given the positions before it."""
        indices = grid.reshape(len(grid), *self.input_shape[1:]).long()
        logits: torch.Tensor = self.net(self.embed(indices).permute(0, 3, 1, 2))
        return logits

    def loss_terms(
        self, x: torch.Tensor, target: torch.Tensor, y: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        indices = target.reshape(len(target), *self.input_shape[1:]).long()
        nll = F.cross_entropy(self.logits(target), indices, reduction="sum") / len(target)
        return {"loss": nll, "nll": nll}

    @torch.no_grad()
    def sample_grid(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` grids drawn position by position (h * w passes of the network)."""
        height, width = self.input_shape[1:]
        device = next(self.parameters()).device
        grid = torch.zeros(n, 1, height, width, device=device)
        for i in range(height):
            for j in range(width):
                probs = torch.softmax(self.logits(grid)[:, :, i, j], 1).cpu()
                grid[:, 0, i, j] = torch.multinomial(probs, 1, generator=generator)[:, 0].to(device)
        return grid.long()
