"""The figures every run writes into ``RUN/figures/`` when training ends, and the shared
reconstruction, grid and curve figures that ``aekit reconstruct`` / ``sample`` also draw."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch

from aekit.data.splits import DataBundle
from aekit.figures.plotting import as_series, example_grid, has_image_form, save_figure
from aekit.models.base import Autoencoder
from aekit.training.rundir import RunDir


def reconstruction_figure(
    originals: torch.Tensor, reconstructions: torch.Tensor, path: Path, n: int = 10
) -> Path | None:
    """Originals (top row) above their reconstructions (bottom row), as in S1 and S19.

    Data without an image form (sequences, vectors) is drawn as line plots of each input with
    its reconstruction overlaid.
    """
    originals, reconstructions = originals[:n], reconstructions[:n]
    if not has_image_form(originals):
        return save_figure(_overlay_figure(originals, reconstructions), path)
    fig = example_grid(
        torch.cat([originals, reconstructions]),
        2,
        len(originals),
        title="Test inputs and their reconstructions",
        row_labels=["original", "reconstructed"],
    )
    return save_figure(fig, path)


def _overlay_figure(originals: torch.Tensor, reconstructions: torch.Tensor) -> plt.Figure:
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
        ax.set_title(f"test example {i}", fontsize=9)
        ax.set_xlabel("step" if inputs.shape[1] > 1 else "")
        ax.set_ylabel("value")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("Test inputs (solid) and their reconstructions (dashed)")
    fig.tight_layout()
    return fig


def grid_figure(
    images: torch.Tensor, path: Path, title: str, rows: int = 4, cols: int = 4
) -> Path | None:
    """A rows x cols grid of examples in one panel (S17's 4x4 sample grid)."""
    return save_figure(example_grid(images[: rows * cols], rows, cols, title=title), path)


def curves_figure(history: list[dict[str, Any]], path: Path) -> Path | None:
    """Training and validation loss per epoch, then every other logged metric, three a row."""
    if not history:
        return None
    from matplotlib.ticker import MaxNLocator

    epochs = [row["epoch"] for row in history]
    logged = {
        k.split("_", 1)[1] for row in history for k in row if k.startswith(("train_", "val_"))
    }
    metrics = ["loss", *sorted(logged - {"loss"})]
    cols = min(3, len(metrics))
    rows = -(-len(metrics) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat[len(metrics) :]:
        ax.set_axis_off()
    stages = _stages(history)
    for ax, metric in zip(axes.flat, metrics):
        for split, style, color in (("train", "-o", "C0"), ("val", "-s", "C1")):
            values = np.array([row.get(f"{split}_{metric}", np.nan) for row in history])
            if np.isnan(values).all():
                continue
            for i, (_, start, stop) in enumerate(stages):  # no line across a stage change
                label = split if i == 0 else None
                ax.plot(
                    epochs[start:stop],
                    values[start:stop],
                    style,
                    color=color,
                    markersize=3,
                    label=label,
                )
        _mark_stages(ax, stages, epochs)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(metric, pad=14 if len(stages) > 1 else 6)  # room for the stage names
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def _stages(history: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
    """(stage, first row, end row) of a greedy run (layer1, layer2, ..., finetune); one
    unnamed stage for ordinary runs."""
    bounds: list[tuple[str, int, int]] = []
    for i, row in enumerate(history):
        name = row.get("stage", "")
        if bounds and bounds[-1][0] == name:
            bounds[-1] = (name, bounds[-1][1], i + 1)
        else:
            bounds.append((name, i, i + 1))
    return bounds


def _mark_stages(ax, stages: list[tuple[str, int, int]], epochs: list[int]) -> None:
    """Greedy runs: a dashed line between stages (each optimises a different loss) and the
    stage's name at the top of its span."""
    if len(stages) < 2:
        return
    for i, (name, start, stop) in enumerate(stages):
        if i > 0:
            ax.axvline(epochs[start] - 0.5, color="grey", linestyle="--", linewidth=0.8)
        middle = (epochs[start] + epochs[stop - 1]) / 2
        ax.annotate(
            name,
            (middle, 1.0),
            xycoords=("data", "axes fraction"),
            ha="center",
            va="bottom",
            fontsize=8,
            color="grey",
        )


def write_run_figures(
    run: RunDir, model: Autoencoder, data: DataBundle, history: list[dict[str, Any]]
) -> list[Path]:
    """The figures the articles show after training: reconstructions and curves always,
    samples for generative models, the code plane for 2-d codes, denoising for noisy runs."""
    from aekit.figures.kinds import after_training, plot
    from aekit.figures.subject import PlotOptions, Subject

    config = run.load_config()
    subject = Subject(
        name=run.path.name,
        model=model,
        data=data,
        dataset=config.data.dataset,
        noise=config.data.noise,
        history=history,
        figures=run.figures,
    )
    return [plot(subject, name, PlotOptions()) for name in after_training(subject)]
