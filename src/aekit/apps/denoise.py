"""Denoising with a trained autoencoder: corrupt clean data with seeded noise, reconstruct,
and measure how much closer to the clean data the reconstructions are (PSNR). The figure is
the ``denoise`` figure kind (``aekit plot RUN denoise``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from aekit.data.transforms import Noise
from aekit.evaluation.metrics import pooled_psnr
from aekit.models.base import Autoencoder
from aekit.runs import inference


@dataclass
class Denoised:
    """Clean inputs, their corrupted versions and the model's reconstructions of those."""

    clean: torch.Tensor
    noisy: torch.Tensor
    denoised: torch.Tensor

    @property
    def psnr_noisy(self) -> float:
        return pooled_psnr(self.noisy, self.clean)

    @property
    def psnr_denoised(self) -> float:
        return pooled_psnr(self.denoised, self.clean)


def denoise(
    model: Autoencoder,
    clean: torch.Tensor,
    noise: Noise,
    labels: torch.Tensor | None = None,
    seed: int = 0,
) -> Denoised:
    """Corrupt ``clean`` with ``noise`` (seeded: same seed, same corruption) and reconstruct."""
    noisy, denoised = inference.denoise(model, clean, labels, noise, seed)
    return Denoised(clean, noisy, denoised)
