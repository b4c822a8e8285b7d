"""Input corruption and binarization, applied to whole batches on the training device.

Noise is drawn from an explicit ``torch.Generator`` so that the same seed gives the same
corrupted inputs, and a resumed run continues the exact random stream it left.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from aekit.config import split_noise_spec


@dataclass(frozen=True)
class Noise:
    """A corruption process: ``gaussian`` (additive, clipped to [0, 1]) or ``dropout`` (masking)."""

    kind: str
    amount: float

    def apply(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.kind == "gaussian":
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            return (x + self.amount * noise).clamp_(0.0, 1.0)
        # Inverted dropout, as Keras' Dropout layer on the input (S14): kept values are rescaled.
        keep = torch.rand(x.shape, generator=generator, device=x.device) >= self.amount
        return x * keep / (1.0 - self.amount)

    @property
    def corrupts_validation(self) -> bool:
        """Gaussian noise is part of the task (S21 validates noisy -> clean); dropout is a
        training-time regulariser that Keras switches off at validation (S14)."""
        return self.kind == "gaussian"


def parse_noise(spec: str) -> Noise:
    """Parse ``gaussian:FACTOR`` or ``dropout:P`` (the grammar is the config's)."""
    return Noise(*split_noise_spec(spec))


def binarize_static(x: torch.Tensor) -> torch.Tensor:
    """Threshold at 0.5 (S17: pixels >= .5 become 1)."""
    return (x >= 0.5).to(x.dtype)


def binarize_dynamic(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw each pixel from Bernoulli(intensity), fresh every time it is seen."""
    return torch.bernoulli(x, generator=generator)
