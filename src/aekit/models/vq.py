"""``vq-vae``: the vector-quantised autoencoder of van den Oord et al. 2017 ("Neural discrete
representation learning").

A convolutional encoder maps an image to a grid of ``embedding_dim``-vectors; each is replaced
by its nearest entry of a learned codebook of ``codebook_size`` vectors, and the decoder reads
the quantised grid. The gradient passes the quantisation straight through (the decoder's
gradient with respect to the quantised vector is used as the encoder's). The loss is
recon + |sg(z_e) - e|^2 + beta |z_e - sg(e)|^2 (codebook and commitment terms, beta =
``commitment`` = 0.25 as in the paper), each a sum over the grid, averaged over the batch.

``ema: true`` (the default) updates the codebook by exponential moving averages of the vectors
assigned to each entry (the paper's appendix A.1, decay 0.99) instead of the codebook term;
entries no vector has chosen for a while (an average count below ``restart_below``) are
restarted at a random encoder output of the batch, a common remedy for dead codes that the
paper does not use.

The code (``encode``, ``code_dim``) is the quantised grid, flattened; ``decode`` snaps any
code to the codebook first, so decoded codes are always codebook vectors. ``codes_of(x)``
gives the grid of codebook indices. Without a prior over those indices (an autoregressive
model of the grid) a VQ-VAE has nothing to sample from, so this one is not ``generative``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from aekit.errors import AekitError
from aekit.models.base import Autoencoder, check_weight, register_model
from aekit.models.layers import activation as make_activation
from aekit.models.layers import image_shape, transpose_padding
from aekit.values import PositiveInt, RequiredSizes

KERNEL = 4  # stride-2 convolutions with 4x4 kernels, as in the paper


def _halved(size: int) -> int:
    """Output size of a 4x4, stride-2 convolution with padding 1."""
    return (size + 2 - KERNEL) // 2 + 1


class VectorQuantizer(nn.Module):
    """The codebook and the nearest-entry lookup, with optional EMA updates."""

    counts: torch.Tensor  # buffers: each entry's EMA count and sum of assigned vectors
    sums: torch.Tensor

    def __init__(self, size: int, dim: int, ema: bool, decay: float, restart_below: float) -> None:
        super().__init__()
        self.ema, self.decay, self.restart_below = ema, decay, restart_below
        self.codebook = nn.Parameter(torch.empty(size, dim), requires_grad=not ema)
        nn.init.uniform_(self.codebook, -1 / size, 1 / size)
        self.register_buffer("counts", torch.ones(size))
        self.register_buffer("sums", self.codebook.detach().clone())

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """Index of the nearest codebook entry for each row of ``flat`` (n, dim), in float32
        (under bf16 autocast, near ties would be decided by rounding)."""
        flat, codebook = flat.float(), self.codebook.float()
        distances = (
            flat.square().sum(1, keepdim=True) - 2 * flat @ codebook.T + codebook.square().sum(1)
        )
        return distances.argmin(1)

    @torch.no_grad()
    def update(self, flat: torch.Tensor, indices: torch.Tensor) -> None:
        """One EMA step of the entries' counts and sums, then restarts of dead entries."""
        flat = flat.float()
        assigned = F.one_hot(indices, len(self.codebook)).to(flat.dtype)
        self.counts.mul_(self.decay).add_(assigned.sum(0), alpha=1 - self.decay)
        self.sums.mul_(self.decay).add_(assigned.T @ flat, alpha=1 - self.decay)
        total = self.counts.sum()
        smoothed = (self.counts + 1e-5) / (total + len(self.counts) * 1e-5) * total
        self.codebook.copy_(self.sums / smoothed.unsqueeze(1))
        dead = self.counts < self.restart_below
        if dead.any():
            picks = torch.randint(len(flat), (int(dead.sum()),), device=flat.device)
            self.codebook[dead] = flat[picks]
            self.sums[dead] = flat[picks]
            self.counts[dead] = 1.0


def perplexity(indices: torch.Tensor, quantizer: VectorQuantizer) -> torch.Tensor:
    """exp(entropy) of the batch's codebook usage: how many entries are in use, in effect."""
    usage = torch.bincount(indices, minlength=len(quantizer.codebook)) / len(indices)
    return torch.exp(-torch.special.xlogy(usage, usage).sum())


@register_model("vq-vae")
class VQVAE(Autoencoder):
    """The vector-quantised autoencoder (van den Oord et al. 2017): a grid of codebook entries.

    Encoder: stride-2 4x4 convolutions through ``channels``, then a 1x1 convolution to
    ``embedding_dim``; quantiser; decoder: the mirror image with transposed convolutions."""

    default_reduction: ClassVar[str] = "per_example"
    compile_refusal: ClassVar[str] = "its codebook moves by averages updated in place"

    def __init__(
        self,
        input_shape: tuple[int, ...],
        *,
        channels: RequiredSizes = (32, 64),
        embedding_dim: PositiveInt = 16,
        codebook_size: PositiveInt = 64,
        commitment: float = 0.25,
        ema: bool = True,
        decay: float = 0.99,
        restart_below: float = 0.01,
        activation: str = "relu",
        **base: Any,
    ) -> None:
        if codebook_size < 2:
            raise AekitError(f"bad codebook_size {codebook_size}; a codebook needs 2 or more")
        if not 0 < decay < 1:
            raise AekitError(f"bad decay {decay}; the EMA decay lies between 0 and 1")
        check_weight("commitment", commitment)
        super().__init__(input_shape, **base)
        in_channels, height, width = image_shape(self.name, self.input_shape)
        sizes = [(height, width)]
        layers: list[nn.Module] = []
        for c_in, c_out in zip([in_channels, *channels[:-1]], channels):
            layers += [nn.Conv2d(c_in, c_out, KERNEL, 2, 1), make_activation(activation)]
            sizes.append((_halved(sizes[-1][0]), _halved(sizes[-1][1])))
        if min(sizes[-1]) < 1:
            raise AekitError(f"{len(channels)} halvings leave nothing of {height}x{width} images")
        layers.append(nn.Conv2d(channels[-1], embedding_dim, 1))
        self.encoder = nn.Sequential(*layers)
        self.grid = (embedding_dim, *sizes[-1])
        self.code_dim = embedding_dim * sizes[-1][0] * sizes[-1][1]
        decoder: list[nn.Module] = [nn.Conv2d(embedding_dim, channels[-1], 1)]
        chans = [*channels[::-1], in_channels]
        for i, (size, target) in enumerate(zip(sizes[:0:-1], sizes[-2::-1])):
            pad = [transpose_padding(s, t, KERNEL) for s, t in zip(size, target)]
            decoder += [
                make_activation(activation),
                nn.ConvTranspose2d(
                    chans[i],
                    chans[i + 1],
                    KERNEL,
                    stride=2,
                    padding=(pad[0][0], pad[1][0]),
                    output_padding=(pad[0][1], pad[1][1]),
                ),
            ]
        self.decoder = nn.Sequential(*decoder)
        self.quantizer = VectorQuantizer(codebook_size, embedding_dim, ema, decay, restart_below)
        self.commitment = commitment

    def _vectors(self, grid: torch.Tensor) -> torch.Tensor:
        """(n, dim, h, w) -> (n * h * w, dim)."""
        return grid.permute(0, 2, 3, 1).reshape(-1, self.grid[0])

    def _grid(self, vectors: torch.Tensor) -> torch.Tensor:
        """(n * h * w, dim) -> (n, dim, h, w). Shapes here and below leave the batch as -1,
        which tracers keep dynamic where ``len(x)`` would freeze it (``aekit export``)."""
        dim, h, w = self.grid
        return vectors.reshape(-1, h, w, dim).permute(0, 3, 1, 2)

    def codes_of(self, x: torch.Tensor) -> torch.Tensor:
        """The grid of codebook indices (n, h, w) of each input."""
        z_e = self.encoder(x)
        return self.quantizer.nearest(self._vectors(z_e)).reshape(-1, *self.grid[1:])

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode_input(self.encoder(x)).flatten(1)

    def decode_input(self, z_e: torch.Tensor) -> torch.Tensor:
        """Each vector of the grid replaced by its codebook entry."""
        indices = self.quantizer.nearest(self._vectors(z_e))
        return self._grid(self.quantizer.codebook[indices])

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        out: torch.Tensor = self.decoder(self.decode_input(z.reshape(-1, *self.grid)))
        return out

    def loss_terms(
        self, x: torch.Tensor, target: torch.Tensor, y: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        z_e = self.encoder(x)
        flat = self._vectors(z_e)
        indices = self.quantizer.nearest(flat.detach())
        quantised = self.quantizer.codebook[indices]
        if self.training and self.quantizer.ema:
            self.quantizer.update(flat.detach(), indices)
        straight = flat + (quantised - flat).detach()  # value e, gradient to z_e
        recon = self.reconstruction_loss(self.decoder(self._grid(straight)), target)
        commitment = (flat - quantised.detach()).square().sum() / len(x)
        terms: dict[str, Any] = {"recon": recon, "commitment": commitment}
        loss = recon + self.commitment * commitment
        if not self.quantizer.ema:
            codebook = (flat.detach() - quantised).square().sum() / len(x)
            terms["codebook"], loss = codebook, loss + codebook
        return {"loss": loss, **terms, "perplexity": perplexity(indices, self.quantizer)}
