"""The training curves: loss and every logged metric per epoch, split by stage for greedy
runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.ticker import MaxNLocator

from aekit.figures.options import PlotOptions
from aekit.figures.plotting import Figure, new_figure
from aekit.runs.directory import Run

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# Row keys that are not curves: the epoch itself, its duration, greedy stages' bookkeeping.
_NOT_CURVES = ("epoch", "seconds", "stage", "stage_epoch")


def curves(run: Run, options: PlotOptions) -> Figure:
    """The run's own curves (``metrics.jsonl``)."""
    return curves_figure(run.history)


def curves_figure(history: list[dict[str, Any]]) -> Figure:
    """Training and validation loss per epoch, then every other logged metric, three a row,
    then what a schedule changed (the learning rate, scheduled loss weights)."""
    epochs = [row["epoch"] for row in history]
    logged = {
        k.split("_", 1)[1] for row in history for k in row if k.startswith(("train_", "val_"))
    }
    scheduled = sorted(
        {k for row in history for k in row if not k.startswith(("train_", "val_"))}
        - set(_NOT_CURVES)
    )
    metrics = ["loss", *sorted(logged - {"loss"}), *scheduled]
    cols = min(3, len(metrics))
    rows = -(-len(metrics) // cols)
    fig, axes = new_figure(rows, cols, figsize=(4.6 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat[len(metrics) :]:
        ax.set_axis_off()
    stages = _stages(history)
    for ax, metric in zip(axes.flat, metrics):
        lines: tuple[tuple[str, str, str], ...] = (("train", "-o", "C0"), ("val", "-s", "C1"))
        if metric in scheduled:
            lines = (("", "-^", "C2"),)
        for split, style, color in lines:
            key = f"{split}_{metric}" if split else metric
            values = np.array([row.get(key, np.nan) for row in history], dtype=float)
            if np.isnan(values).all():
                continue
            for i, (_, start, stop) in enumerate(stages):  # no line across a stage change
                label = (split or "schedule") if i == 0 else None
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
    return fig


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


def _mark_stages(ax: Axes, stages: list[tuple[str, int, int]], epochs: list[int]) -> None:
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
