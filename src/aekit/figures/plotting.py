"""Matplotlib plumbing shared by every figure: saving, grids of examples, class names.

Examples are drawn as pictures when they have an image form (see :func:`as_images`) and as
small line plots otherwise (sequences ``(T, F)`` or plain vectors), so every figure works for
every data set.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.figure
import numpy as np
import torch
from PIL import Image

from aekit.data.images import as_images, tile
from aekit.io import atomic_write

# Label names of the data sets whose labels are not self-explanatory digits.
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "fashion-mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
}

CELL_INCHES = 0.9  # size of one example in a grid: 28x28 digits legible at 100 dpi
MAX_LINE_PANELS = 60  # line-plot grids get slow and unreadable beyond this


def class_names(dataset: str, num_classes: int) -> list[str]:
    """Human names for labels 0..num_classes-1 (the digits themselves when unnamed)."""
    names = CLASS_NAMES.get(dataset, ())
    return [names[i] if i < len(names) else str(i) for i in range(num_classes)]


class Figure(matplotlib.figure.Figure):
    """A matplotlib figure made without pyplot, so that drawing one never chooses or changes
    the process's backend (a notebook's inline backend, a desktop's window toolkit) and
    none is left open in pyplot's list. In Jupyter it shows itself, whatever the backend."""

    def _repr_png_(self) -> bytes:
        return png_bytes(self)


def new_figure(
    rows: int = 1, cols: int = 1, *, figsize: tuple[float, float] | None = None, **grid: Any
) -> tuple[Figure, Any]:
    """A figure and its grid of axes (what pyplot's ``subplots`` gives), without pyplot."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(rows, cols, **grid)


def png_bytes(fig: matplotlib.figure.Figure) -> bytes:
    """The figure as an opaque PNG cropped to its content (the alpha channel matplotlib
    writes is dropped: a tenth smaller)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    out = io.BytesIO()
    Image.open(buffer).convert("RGB").save(out, format="PNG", optimize=True)
    return out.getvalue()


def save_figure(fig: matplotlib.figure.Figure, path: Path) -> Path:
    """Save the figure as a PNG (:func:`png_bytes`), atomically."""
    with atomic_write(path) as handle:
        handle.write(png_bytes(fig))
    return path


def has_image_form(x: torch.Tensor) -> bool:
    return as_images(x[:1]) is not None


def example_grid(
    examples: torch.Tensor,
    rows: int,
    cols: int,
    *,
    title: str,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """``rows x cols`` examples (row-major) as one tiled picture, or as small line plots."""
    pictures = as_images(examples)
    if pictures is not None:
        return _picture_grid(
            pictures, rows, cols, title, row_labels, col_labels, xlabel, ylabel, figsize
        )
    return _line_grid(examples, rows, cols, title, row_labels, col_labels, figsize)


def _picture_grid(
    pictures: np.ndarray,
    rows: int,
    cols: int,
    title: str,
    row_labels: Sequence[str] | None,
    col_labels: Sequence[str] | None,
    xlabel: str | None,
    ylabel: str | None,
    figsize: tuple[float, float] | None,
) -> Figure:
    h, w = pictures.shape[1:3]
    margin_left = 1.3 if row_labels else 0.2
    size = figsize or (cols * CELL_INCHES + margin_left, rows * CELL_INCHES + 0.8)
    fig, ax = new_figure(figsize=size)
    cmap = None if pictures.ndim == 4 else "gray"
    ax.imshow(tile(pictures, rows, cols), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title)
    ax.set_xticks([c * (w + 1) + w / 2 for c in range(cols)] if col_labels else [])
    ax.set_yticks([r * (h + 1) + h / 2 for r in range(rows)] if row_labels else [])
    if col_labels:
        ax.set_xticklabels(col_labels)
    if row_labels:
        ax.set_yticklabels(row_labels)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    return fig


def _line_grid(
    examples: torch.Tensor,
    rows: int,
    cols: int,
    title: str,
    row_labels: Sequence[str] | None,
    col_labels: Sequence[str] | None,
    figsize: tuple[float, float] | None,
) -> Figure:
    """Each example as lines: one per feature of a ``(T, F)`` sequence, or one for a vector."""
    stride = cols  # examples are laid out row-major in the full grid
    rows, cols = min(rows, MAX_LINE_PANELS // min(cols, 10) or 1), min(cols, 10)
    series = as_series(examples)
    size = figsize or (1.8 * cols + 0.8, 1.3 * rows + 0.8)
    fig, axes = new_figure(rows, cols, figsize=size, squeeze=False, sharex=True, sharey=True)
    for r in range(rows):
        for c in range(cols):
            ax, index = axes[r, c], r * stride + c
            if index < len(series):
                ax.plot(series[index], linewidth=1)
            ax.tick_params(labelsize=7)
            if c == 0 and row_labels:
                ax.set_ylabel(row_labels[r], fontsize=8)
            if r == 0 and col_labels:
                ax.set_title(col_labels[c], fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def as_series(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """(N, *shape) -> (N, T, F): sequences keep their features, anything else is one line."""
    arr = x.detach().float().cpu().numpy() if torch.is_tensor(x) else np.asarray(x, np.float32)
    if arr.ndim == 3:
        return arr
    return arr.reshape(len(arr), -1, 1)


def square_grid(n: int) -> tuple[int, int]:
    """Rows and columns of the most square grid holding ``n`` items."""
    cols = int(np.ceil(np.sqrt(n)))
    return int(np.ceil(n / cols)), cols
