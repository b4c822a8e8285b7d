"""The figures every run writes into ``RUN/figures/`` when training ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from aekit.data.splits import DataBundle
from aekit.figures.images import as_images, tile
from aekit.io import atomic_save
from aekit.models.base import Autoencoder
from aekit.training.rundir import RunDir


def save_figure(fig: plt.Figure, path: Path) -> Path:
    """Save a PNG atomically and free the figure."""
    atomic_save(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight"))
    plt.close(fig)
    return path


def reconstruction_figure(
    originals: torch.Tensor, reconstructions: torch.Tensor, path: Path, n: int = 10
) -> Path | None:
    """Originals (top row) above their reconstructions (bottom row), as in S1 and S19."""
    top, bottom = as_images(originals[:n]), as_images(reconstructions[:n])
    if top is None or bottom is None:
        return None
    fig, axes = plt.subplots(2, len(top), figsize=(1.2 * len(top), 2.8), squeeze=False)
    for i in range(len(top)):
        for row, images in enumerate((top, bottom)):
            ax = axes[row, i]
            ax.imshow(images[i], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        if i == 0:
            axes[0, 0].set_ylabel("original")
            axes[1, 0].set_ylabel("reconstructed")
    fig.suptitle("Test images and their reconstructions")
    return save_figure(fig, path)


def grid_figure(
    images: torch.Tensor, path: Path, title: str, rows: int = 4, cols: int = 4
) -> Path | None:
    """A rows x cols grid of images in one panel (S17's 4x4 sample grid)."""
    pictures = as_images(images)
    if pictures is None:
        return None
    fig, ax = plt.subplots(figsize=(4, 4.3))
    ax.imshow(tile(pictures, rows, cols), cmap="gray", vmin=0, vmax=1)
    ax.set_axis_off()
    ax.set_title(title)
    return save_figure(fig, path)


def curves_figure(history: list[dict[str, Any]], path: Path) -> Path | None:
    """Training and validation loss per epoch, plus every other logged metric beside it."""
    if not history:
        return None
    epochs = [row["epoch"] for row in history]
    others = sorted(
        {k[len("train_") :] for row in history for k in row if k.startswith("train_")} - {"loss"}
    )
    panels = 1 + len(others)
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.4), squeeze=False)
    for ax, metric in zip(axes[0], ["loss", *others]):
        for split, style in (("train", "-o"), ("val", "-s")):
            key = f"{split}_{metric}"
            values = [row.get(key, np.nan) for row in history]
            if not all(np.isnan(values)):
                ax.plot(epochs, values, style, markersize=3, label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(metric)
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


@torch.no_grad()
def write_run_figures(
    run: RunDir, model: Autoencoder, data: DataBundle, history: list[dict[str, Any]]
) -> list[Path]:
    """Reconstructions of test images, a 4x4 grid of samples (generative models), curves."""
    model.eval()
    device = next(model.parameters()).device
    test = data.test.subset(10)
    y = None if test.y is None else test.y.to(device)
    recon = model.reconstruct(test.x.to(device), y if model.conditional else None).cpu()
    written = [
        reconstruction_figure(test.x, recon, run.figures / "reconstructions.png"),
        curves_figure(history, run.figures / "curves.png"),
    ]
    if model.generative:
        generator = torch.Generator().manual_seed(0)
        labels = torch.arange(16, device=device) % model.num_classes if model.conditional else None
        samples = model.sample(16, labels, generator=generator).cpu()
        title = (
            "Samples (label = position mod classes)"
            if model.conditional
            else "Samples from the prior"
        )
        written.append(grid_figure(samples, run.figures / "samples.png", title))
    return [p for p in written if p is not None]
