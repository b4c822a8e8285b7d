"""Denoising with a trained autoencoder: corrupt clean data with seeded noise, reconstruct,
and measure how much closer to the clean data the reconstructions are (PSNR)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from aekit.data.transforms import Noise
from aekit.models.base import Autoencoder
from aekit.runs import map_batches


@dataclass
class Denoised:
    """Clean inputs, their corrupted versions and the model's reconstructions of those."""

    clean: torch.Tensor
    noisy: torch.Tensor
    denoised: torch.Tensor

    @property
    def psnr_noisy(self) -> float:
        return psnr(self.noisy, self.clean)

    @property
    def psnr_denoised(self) -> float:
        return psnr(self.denoised, self.clean)


def psnr(estimate: torch.Tensor, reference: torch.Tensor, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB over the whole set: 10 log10(peak^2 / MSE).

    Data is in [0, 1], so the peak is 1. The MSE is pooled over every value of every example
    (not an average of per-image PSNRs, which a single perfect image would make infinite).
    """
    mse = float((estimate.double() - reference.double()).square().mean())
    return math.inf if mse == 0 else 10.0 * math.log10(peak**2 / mse)


def denoise(
    model: Autoencoder,
    clean: torch.Tensor,
    noise: Noise,
    labels: torch.Tensor | None = None,
    seed: int = 0,
) -> Denoised:
    """Corrupt ``clean`` with ``noise`` (seeded: same seed, same corruption) and reconstruct."""
    noisy = noise.apply(clean.clone(), torch.Generator().manual_seed(seed))
    device = next(model.parameters()).device
    model.eval()

    def reconstruct(xb: torch.Tensor, yb: torch.Tensor | None) -> torch.Tensor:
        return model.reconstruct(xb.to(device), None if yb is None else yb.to(device)).cpu()

    denoised = map_batches(reconstruct, noisy, labels if model.conditional else None)
    return Denoised(clean, noisy, denoised)


def denoise_figure(result: Denoised, path: Path, n: int = 10) -> Path | None:
    """Three rows: noisy inputs, their reconstructions, the clean originals (None: not images).

    ``reconstruction_figure`` draws two rows only; this is its three-row form.
    """
    rows = {
        "noisy": result.noisy[:n],
        "denoised": result.denoised[:n],
        "clean": result.clean[:n],
    }
    title = f"PSNR {result.psnr_noisy:.1f} dB noisy -> {result.psnr_denoised:.1f} dB denoised"
    return rows_figure(rows, path, title)


def rows_figure(rows: dict[str, torch.Tensor], path: Path, title: str) -> Path | None:
    """One labelled row of images per entry, columns aligned (None if the data has no image
    form)."""
    import matplotlib.pyplot as plt

    from aekit.figures.images import as_images
    from aekit.figures.run_figures import save_figure

    pictures = {name: as_images(images) for name, images in rows.items()}
    if any(p is None for p in pictures.values()):
        return None
    cols = min(len(p) for p in pictures.values())
    fig, axes = plt.subplots(
        len(rows), cols, figsize=(1.2 * cols, 1.3 * len(rows) + 0.3), squeeze=False
    )
    for r, (name, images) in enumerate(pictures.items()):
        for c in range(cols):
            axes[r, c].imshow(images[c], cmap="gray", vmin=0, vmax=1)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(name)
    fig.suptitle(title)
    return save_figure(fig, path)
