"""Figures of examples: inputs above their reconstructions (S1, S19), and any set of decoded
examples as one grid (``aekit decode``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import torch

from aekit.figures.options import PlotOptions
from aekit.figures.plotting import as_series, example_grid, has_image_form, square_grid
from aekit.runs.directory import Run

if TYPE_CHECKING:
    from matplotlib.figure import Figure

GRID_LIMIT = 100  # examples in one grid figure: beyond it a figure is too large to look at


def reconstructions_figure(run: Run, options: PlotOptions) -> Figure:
    """The first ``count`` (10) test inputs, or of ``inputs``, above their reconstructions."""
    shown = options.examples(run).subset(options.count or 10)
    return reconstruction_figure(shown.x, run.reconstruct(shown))


def reconstruction_figure(originals: torch.Tensor, reconstructions: torch.Tensor) -> Figure:
    """Originals (top row) above their reconstructions (bottom row).

    Data without an image form (sequences, vectors) is drawn as line plots of each input with
    its reconstruction overlaid.
    """
    if not has_image_form(originals):
        return _overlay_figure(originals, reconstructions)
    return example_grid(
        torch.cat([originals, reconstructions]),
        2,
        len(originals),
        title="Inputs and their reconstructions",
        row_labels=["original", "reconstructed"],
    )


def grid_figure(examples: torch.Tensor, title: str) -> Figure:
    """Examples in the most square grid, at most :data:`GRID_LIMIT` of them (the title says
    how many of how many are shown)."""
    shown = examples[:GRID_LIMIT]
    if len(shown) < len(examples):
        title = f"{title} (the first {len(shown)} of {len(examples)})"
    rows, cols = square_grid(len(shown))
    return example_grid(shown, rows, cols, title=title)


def _overlay_figure(originals: torch.Tensor, reconstructions: torch.Tensor) -> Figure:
    """One panel per example: input features solid, their reconstructions dashed."""
    inputs, outputs = as_series(originals), as_series(reconstructions)
    n = min(len(inputs), 6)
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows + 0.6), squeeze=False)
    features = min(inputs.shape[2], 4)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.set_axis_off()
            continue
        for f in range(features):
            colour = f"C{f}"
            ax.plot(inputs[i, :, f], color=colour, label="input" if f == 0 else None)
            ax.plot(
                outputs[i, :, f],
                color=colour,
                linestyle="--",
                label="reconstruction" if f == 0 else None,
            )
        ax.set_title(f"example {i}", fontsize=9)
        ax.set_xlabel("step" if inputs.shape[1] > 1 else "")
        ax.set_ylabel("value")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("Inputs (solid) and their reconstructions (dashed)")
    fig.tight_layout()
    return fig
