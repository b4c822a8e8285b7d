"""Figures of the code space itself: test codes by label (S8, S18), side by side for two runs,
and the distribution of code activations (S15). IDs: docs/articles.md."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
import torch
from matplotlib.axes import Axes

from aekit.errors import AekitError, unknown_choice
from aekit.evaluation.baselines import principal_components
from aekit.figures.options import PlotOptions
from aekit.figures.plotting import Figure, class_names, new_figure
from aekit.runs.directory import Run

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.collections import PathCollection

    # What a scatter's legend is made from: a colour mapping, or handles and their labels
    LegendKey = PathCollection | tuple[list[Artist], list[Any]]

METHODS = ("auto", "codes", "pca", "tsne")


def project(codes: np.ndarray, method: str, seed: int) -> tuple[np.ndarray, str, list[str]]:
    """Codes -> 2-d points, the projection's name ("" for none) and the two axis labels.

    ``auto`` shows 2-d codes as they are and projects longer ones with PCA (fast and
    deterministic); t-SNE shows clusters better but takes tens of seconds per thousand points.
    """
    if method not in METHODS:
        raise unknown_choice("--method", method, METHODS)
    dims = codes.shape[1]
    if method == "auto":
        method = "codes" if dims == 2 else "pca"
    if dims < 2:
        raise AekitError(f"a {dims}-d code cannot be drawn as a 2-d scatter")
    if method == "codes":
        if dims != 2:
            raise AekitError(
                f"--method codes needs a 2-d code; this one has {dims} dimensions: "
                "use --method pca or --method tsne"
            )
        return codes, "", ["z[0]", "z[1]"]
    if method == "pca":
        points, shares = principal_components(torch.from_numpy(codes), 2)
        labels = [f"PC {i + 1} ({share:.0%} of variance)" for i, share in enumerate(shares)]
        return points.numpy(), "PCA", labels
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, (len(codes) - 1) / 3))
    tsne = TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed)
    return tsne.fit_transform(codes), "t-SNE", ["t-SNE 1", "t-SNE 2"]


def scatter_codes(ax: Axes, run: Run, options: PlotOptions) -> LegendKey | None:
    """Draw one run's test codes on ``ax``; return the legend handles (or a colour mapping)."""
    test = options.examples(run).subset(options.points)
    codes = run.encode(test).numpy()
    points, method, axis_labels = project(codes, options.method, options.seed)
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    how = f", {method} projection" if method else ""
    ax.set_title(f"{run.title}\n{len(points)} test codes{how}", fontsize=10)
    ax.grid(alpha=0.2)
    if test.y is None:
        ax.scatter(points[:, 0], points[:, 1], s=4, alpha=0.6)
        return None
    labels = test.y.numpy()
    classes = run.model.num_classes or run.data.num_classes or int(labels.max()) + 1
    if classes > 10:
        return ax.scatter(
            points[:, 0],
            points[:, 1],
            c=labels,
            cmap="viridis",
            s=4,
            alpha=0.7,
            vmin=0,
            vmax=classes - 1,
        )
    colours = matplotlib.colormaps["tab10"]
    names = class_names(run.config.data.dataset, classes)
    for k in range(classes):
        chosen = labels == k
        ax.scatter(
            points[chosen, 0], points[chosen, 1], s=4, alpha=0.7, color=colours(k), label=names[k]
        )
    return ax.get_legend_handles_labels()


def _add_key(fig: Figure, ax: Axes, key: LegendKey | None) -> None:
    """A legend of class names beside the axes, or a colour bar for many classes."""
    if key is None:
        return
    if isinstance(key, tuple):
        ax.legend(
            *key,
            title="label",
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            markerscale=3,
            frameon=False,
        )
    else:
        fig.colorbar(key, ax=ax, label="label")


def latent_figure(run: Run, options: PlotOptions) -> Figure:
    """Test codes coloured by label: the 2-d code itself, else a PCA or t-SNE projection."""
    fig, ax = new_figure(figsize=(7.5, 5.5))
    _add_key(fig, ax, scatter_codes(ax, run, options))
    fig.tight_layout()
    return fig


def compare_figure(run: Run, options: PlotOptions) -> Figure:
    """The latent scatter of two runs side by side (S18: AE against VAE)."""
    if options.other is None:
        raise AekitError("compare needs a second run: aekit plot RUN compare --other RUN2")
    fig, axes = new_figure(1, 2, figsize=(13, 5.5))
    scatter_codes(axes[0], run, options)
    _add_key(fig, axes[1], scatter_codes(axes[1], options.other, options))
    fig.tight_layout()
    return fig


def activations_figure(run: Run, options: PlotOptions) -> Figure:
    """Histogram of code values of test inputs, all units pooled, mean marked (S15)."""
    test = options.examples(run).subset(options.points)
    codes = run.encode(test).numpy()
    values = codes.ravel()
    mean = float(values.mean())
    fig, ax = new_figure(figsize=(7, 4.2))
    ax.hist(values, bins=60, color="tab:blue", alpha=0.8)
    ax.axvline(mean, color="tab:red", linestyle="--", label=f"mean {mean:.3g}")
    ax.set_xlabel("code value (all units pooled)")
    ax.set_ylabel("count")
    ax.set_title(
        f"{run.title}\ncode activations of {len(codes)} test inputs x {codes.shape[1]} units",
        fontsize=10,
    )
    ax.legend()
    ax.grid(alpha=0.2)
    fig.tight_layout()
    return fig
