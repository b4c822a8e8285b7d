"""Figures that decode chosen points of the code space: samples (S2, S5, S17), traversals (S4),
interpolations (S18), the 2-d manifold, and denoising (S21)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from aekit.data.splits import Split
from aekit.data.transforms import parse_noise
from aekit.errors import AekitError
from aekit.figures.plotting import example_grid, square_grid
from aekit.figures.subject import PlotOptions, Subject


def chosen_labels(subject: Subject, options: PlotOptions) -> list[int] | None:
    """The labels a conditional model should draw: ``--labels`` or all of them."""
    model = subject.model
    if not model.conditional:
        if options.labels:
            raise AekitError(f"model {model.name!r} is not conditional; drop --labels")
        return None
    labels = options.labels or list(range(model.num_classes))
    bad = [k for k in labels if not 0 <= k < model.num_classes]
    if bad:
        raise AekitError(
            f"--labels {bad[0]} is out of range; this model knows labels 0..{model.num_classes - 1}"
        )
    return labels


def _label_note(subject: Subject, labels: list[int] | None) -> str:
    """Which label a conditional model decoded with (the first of ``--labels``)."""
    return "" if labels is None else f", label {subject.class_names()[labels[0]]}"


def samples_figure(subject: Subject, options: PlotOptions) -> plt.Figure:
    """Random decoded points: one row per label for conditional models, else a square grid."""
    generator = torch.Generator().manual_seed(options.seed)
    labels = chosen_labels(subject, options)
    where = "the prior" if subject.model.generative else "the box of training codes"
    if labels is not None:
        cols = options.count or 10
        y = torch.tensor(labels).repeat_interleave(cols)
        names = subject.class_names()
        return example_grid(
            subject.generate(len(y), y, generator),
            len(labels),
            cols,
            title=f"{subject.title}: samples from {where}, one row per label",
            row_labels=[names[k] for k in labels],
        )
    n = options.count or 16
    rows, cols = square_grid(n)
    return example_grid(
        subject.generate(n, None, generator),
        rows,
        cols,
        title=f"{subject.name}: {n} samples\nfrom {where}",
    )


def traverse_figure(subject: Subject, options: PlotOptions) -> plt.Figure:
    """One code with a single coordinate swept across its range, one row per coordinate."""
    model = subject.model
    dims = options.dims if options.dims is not None else list(range(min(model.code_dim, 10)))
    bad = [d for d in dims if not 0 <= d < model.code_dim]
    if bad:
        raise AekitError(
            f"--dims {bad[0]} is out of range: the code has {model.code_dim} coordinates "
            f"(0..{model.code_dim - 1})"
        )
    base = _start_code(subject, options)
    low, high = _span(subject, options)
    steps = options.steps or 9
    rows = []
    for d in dims:
        z = base.repeat(steps, 1)
        z[:, d] = torch.linspace(float(low[d]), float(high[d]), steps)
        rows.append(z)
    labels = chosen_labels(subject, options)
    y = None if labels is None else torch.full((steps * len(dims),), labels[0])
    decoded = subject.decode(torch.cat(rows), y)
    return example_grid(
        decoded,
        len(dims),
        steps,
        title=f"{subject.title}: one coordinate swept at a time{_label_note(subject, labels)}",
        row_labels=[f"z[{d}]: {float(low[d]):.2g} .. {float(high[d]):.2g}" for d in dims],
        xlabel="coordinate value, low to high",
    )


def _start_code(subject: Subject, options: PlotOptions) -> torch.Tensor:
    """``--code`` if given, else one random code (a prior draw, or a point of the box)."""
    if options.code is None:
        return subject.draw_codes(1, torch.Generator().manual_seed(options.seed))[0]
    if len(options.code) != subject.model.code_dim:
        raise AekitError(
            f"--code has {len(options.code)} values but the code has "
            f"{subject.model.code_dim} dimensions"
        )
    return torch.tensor(options.code, dtype=torch.float32)


def _span(subject: Subject, options: PlotOptions) -> tuple[torch.Tensor, torch.Tensor]:
    if options.span is None:
        return subject.code_range()
    low, high = options.span
    if not low < high:
        raise AekitError(f"--range {low},{high}: the first value must be below the second")
    full = torch.ones(subject.model.code_dim)
    return full * low, full * high


def interpolate_figure(subject: Subject, options: PlotOptions) -> plt.Figure:
    """Decodings along the straight line between the codes of two test inputs (S18).

    Each row starts and ends with the two inputs themselves. Conditional models decode the
    whole line with the first input's label (only the code is interpolated).
    """
    test = subject.data.test
    pairs = options.pairs or _default_pairs(test)
    for pair in pairs:
        if not all(0 <= i < len(test) for i in pair):
            raise AekitError(
                f"--pair {pair[0]},{pair[1]} is out of range: the test split has {len(test)} "
                f"examples (0..{len(test) - 1})"
            )
    steps = options.steps or 8
    t = torch.linspace(0, 1, steps)[:, None]
    rows = []
    for a, b in pairs:
        ends = Split(test.x[[a, b]], None if test.y is None else test.y[[a, b]])
        za, zb = subject.encode(ends)
        labels = subject.labels_of(ends)
        y = None if labels is None else labels[:1].repeat(steps)
        line = subject.decode((1 - t) * za + t * zb, y)
        rows.append(torch.cat([ends.x[:1], line, ends.x[1:]]))
    col_labels = ["input A", "t=0", *[""] * (steps - 2), "t=1", "input B"]
    return example_grid(
        torch.cat(rows),
        len(pairs),
        steps + 2,
        title=f"{subject.title}: decoding the line between two codes",
        col_labels=col_labels,
        row_labels=[f"test {a} -> {b}" for a, b in pairs],
    )


def _default_pairs(test: Split, rows: int = 4) -> list[tuple[int, int]]:
    """Pairs of test examples of different labels (0 -> 1, 2 -> 3, ...) when labelled."""
    if test.y is None:
        return [(2 * r, 2 * r + 1) for r in range(min(rows, len(test) // 2))]
    first: dict[int, int] = {}
    for i, label in enumerate(test.y.tolist()):
        first.setdefault(label, i)
    ordered = [first[k] for k in sorted(first)]
    pairs = list(zip(ordered[0::2], ordered[1::2]))[:rows]
    return pairs or [(0, min(1, len(test) - 1))]


def manifold_figure(subject: Subject, options: PlotOptions) -> plt.Figure:
    """A grid of decodings over the 2-d code plane: prior quantiles, or the training box."""
    model = subject.model
    if model.code_dim != 2:
        raise AekitError(
            f"manifold needs a 2-d code; {subject.name} has {model.code_dim} dimensions "
            "(use `aekit plot RUN traverse` instead)"
        )
    n = options.steps or 15
    axes = _manifold_axes(subject, options, n)
    grid_x, grid_y = axes
    z = torch.stack(torch.meshgrid(grid_y.flip(0), grid_x, indexing="ij")[::-1], -1).reshape(-1, 2)
    labels = chosen_labels(subject, options)
    y = None if labels is None else torch.full((len(z),), labels[0])
    every = max(1, n // 5)
    return example_grid(
        subject.decode(z, y),
        n,
        n,
        title=f"{subject.title}: decoded code plane{_label_note(subject, labels)}",
        col_labels=[f"{v:.2g}" if i % every == 0 else "" for i, v in enumerate(grid_x.tolist())],
        row_labels=[
            f"{v:.2g}" if i % every == 0 else "" for i, v in enumerate(grid_y.flip(0).tolist())
        ],
        xlabel="z[0]",
        ylabel="z[1]",
        figsize=(n * 0.4 + 1.5, n * 0.4 + 1.2),
    )


def _manifold_axes(subject: Subject, options: PlotOptions, n: int):
    """Coordinates along each axis: Gaussian quantiles 5%..95% for a prior, else even
    steps across the training box or ``--range``."""
    if options.span is None and subject.model.generative:
        quantiles = torch.linspace(0.05, 0.95, n)
        values = torch.distributions.Normal(0.0, 1.0).icdf(quantiles)
        return values, values
    low, high = _span(subject, options)
    return torch.linspace(float(low[0]), float(high[0]), n), torch.linspace(
        float(low[1]), float(high[1]), n
    )


def denoise_figure(subject: Subject, options: PlotOptions) -> plt.Figure:
    """Noisy test inputs above their reconstructions above the clean originals (S21)."""
    spec = options.noise or subject.noise
    if spec is None:
        raise AekitError(
            f"{subject.name} was trained without noise; give one, e.g. --noise gaussian:0.5"
        )
    noise = parse_noise(spec)
    test = subject.data.test.subset(options.count or 10)
    noisy = noise.apply(test.x.clone(), torch.Generator().manual_seed(options.seed))
    recon = subject.decode(subject.encode(Split(noisy, test.y)), subject.labels_of(test))
    n = len(test)
    return example_grid(
        torch.cat([noisy, recon, test.x]),
        3,
        n,
        title=f"{subject.title}: denoising ({spec})",
        row_labels=["noisy input", "reconstruction", "clean original"],
    )
