"""Figures that decode chosen points of the code space: samples (S2, S5, S17), traversals (S4),
interpolations (S18), the 2-d manifold, denoising (S21) and inputs moved along an attribute
direction. IDs: docs/articles.md."""

from __future__ import annotations

import torch

from aekit.data.splits import Split
from aekit.data.transforms import parse_noise
from aekit.errors import AekitError
from aekit.evaluation.metrics import pooled_psnr
from aekit.figures.options import PlotOptions
from aekit.figures.plotting import Figure, class_names, example_grid, square_grid
from aekit.runs.directory import Run
from aekit.runs.inference import denoise, requested_labels
from aekit.sampling import SAMPLER_WORDS, default_sampler, generate


def _names(run: Run) -> list[str]:
    return class_names(run.config.data.dataset, run.model.num_classes or 0)


def _label_note(run: Run, labels: list[int] | None) -> str:
    """Which label a conditional model decoded with (the first of ``--labels``)."""
    return "" if labels is None else f", label {_names(run)[labels[0]]}"


def _one_label(labels: list[int] | None, n: int) -> torch.Tensor | None:
    """The first requested label for ``n`` decodings (None for unconditional models)."""
    return None if labels is None else torch.full((n,), labels[0])


def samples_figure(run: Run, options: PlotOptions) -> Figure:
    """Random decoded points: a square grid, or for conditional models one row per label
    (a square grid of a single requested label)."""
    generator = torch.Generator().manual_seed(options.seed)
    labels = requested_labels(run.model, options.labels)
    where = SAMPLER_WORDS[options.sampler or default_sampler(run)]

    def new(count: int, y: torch.Tensor | None) -> torch.Tensor:
        return generate(run, count, y, generator, options.sampler)

    if labels is not None and len(labels) > 1:
        cols = options.count or 10
        y = torch.tensor(labels).repeat_interleave(cols)
        names = _names(run)
        return example_grid(
            new(len(y), y),
            len(labels),
            cols,
            title=f"{run.title}: samples from {where}, one row per label",
            row_labels=[names[k] for k in labels],
        )
    n = options.count or 16
    rows, cols = square_grid(n)
    return example_grid(
        new(n, _one_label(labels, n)),
        rows,
        cols,
        title=f"{run.name}: {n} samples{_label_note(run, labels)}\nfrom {where}",
    )


def traverse_figure(run: Run, options: PlotOptions) -> Figure:
    """One code with a single coordinate swept across its range, one row per coordinate."""
    dims_available = run.model.code_dim
    dims = options.dims if options.dims is not None else list(range(min(dims_available, 10)))
    bad = [d for d in dims if not 0 <= d < dims_available]
    if bad:
        raise AekitError(
            f"--dims {bad[0]} is out of range: the code has {dims_available} coordinates "
            f"(0..{dims_available - 1})"
        )
    base = _start_code(run, options)
    low, high = _span(run, options)
    steps = options.steps or 9
    rows = []
    for d in dims:
        z = base.repeat(steps, 1)
        z[:, d] = torch.linspace(float(low[d]), float(high[d]), steps)
        rows.append(z)
    labels = requested_labels(run.model, options.labels)
    decoded = run.decode(torch.cat(rows), _one_label(labels, steps * len(dims)), "--labels")
    return example_grid(
        decoded,
        len(dims),
        steps,
        title=f"{run.title}: one coordinate swept at a time{_label_note(run, labels)}",
        row_labels=[f"z[{d}]: {float(low[d]):.2g} .. {float(high[d]):.2g}" for d in dims],
        xlabel="coordinate value, low to high",
    )


def _start_code(run: Run, options: PlotOptions) -> torch.Tensor:
    """``--code`` if given, else one random code (a prior draw, or a point of the box)."""
    if options.code is None:
        return run.draw_codes(1, torch.Generator().manual_seed(options.seed))[0]
    if len(options.code) != run.model.code_dim:
        raise AekitError(
            f"--code has {len(options.code)} values but the code has "
            f"{run.model.code_dim} dimensions"
        )
    return torch.tensor(options.code, dtype=torch.float32)


def _span(run: Run, options: PlotOptions) -> tuple[torch.Tensor, torch.Tensor]:
    if options.span is None:
        return run.code_range()
    low, high = options.span
    if not low < high:
        raise AekitError(f"--range {low},{high}: the first value must be below the second")
    full = torch.ones(run.model.code_dim)
    return full * low, full * high


def edit_figure(run: Run, options: PlotOptions) -> Figure:
    """Inputs moved along an attribute direction (``aekit attribute``): a row per input, its
    code plus each amount of the direction decoded in turn (0: its own reconstruction).
    Label directions start from the inputs without the attribute (of class J for
    ``label:J:K``); conditional models decode with each input's own label."""
    from aekit.runs.attributes import load_direction

    direction = load_direction(run, options.attribute)
    examples = options.examples(run)
    starts = direction.starts(examples.y)
    rows = torch.arange(len(examples)) if starts is None else starts.nonzero()[:, 0]
    rows = rows[: options.count or 8]
    if not len(rows):
        raise AekitError(f"no input to move along {direction.spec}: none lacks the attribute")
    inputs = Split(examples.x[rows], None if examples.y is None else examples.y[rows])
    low, high = options.span or (-1.0, 2.0)
    if not low < high:
        raise AekitError(f"--range {low},{high}: the first value must be below the second")
    amounts = torch.linspace(low, high, options.steps or 7)
    codes = run.encode(inputs)[:, None, :] + amounts[None, :, None] * direction.vector
    labels = None if inputs.y is None else inputs.y.repeat_interleave(len(amounts))
    decoded = run.decode(codes.reshape(-1, codes.shape[-1]), labels)
    return example_grid(
        decoded,
        len(rows),
        len(amounts),
        title=f"{run.title}: inputs moved along {direction.spec}",
        col_labels=[f"{a:+.2g}" for a in amounts.tolist()],
        xlabel="amount of the direction added to the input's code (0: its reconstruction)",
    )


def interpolate_figure(run: Run, options: PlotOptions) -> Figure:
    """Decodings along the straight line between the codes of two test inputs (S18).

    Each row starts and ends with the two inputs themselves. Conditional models decode the
    whole line with the first input's label (only the code is interpolated).
    """
    test = options.examples(run)
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
        za, zb = run.encode(ends)
        y = None if ends.y is None else ends.y[:1].repeat(steps)
        line = run.decode((1 - t) * za + t * zb, y)
        rows.append(torch.cat([ends.x[:1], line, ends.x[1:]]))
    col_labels = ["input A", "t=0", *[""] * (steps - 2), "t=1", "input B"]
    return example_grid(
        torch.cat(rows),
        len(pairs),
        steps + 2,
        title=f"{run.title}: decoding the line between two codes",
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


def manifold_figure(run: Run, options: PlotOptions) -> Figure:
    """A grid of decodings over the 2-d code plane: prior quantiles, or the training box."""
    if run.model.code_dim != 2:
        raise AekitError(
            f"manifold needs a 2-d code; {run.name} has {run.model.code_dim} dimensions "
            "(use `aekit plot RUN traverse` instead)"
        )
    n = options.steps or 15
    grid_x, grid_y = _manifold_axes(run, options, n)
    z = torch.stack(torch.meshgrid(grid_y.flip(0), grid_x, indexing="ij")[::-1], -1).reshape(-1, 2)
    labels = requested_labels(run.model, options.labels)
    every = max(1, n // 5)
    return example_grid(
        run.decode(z, _one_label(labels, len(z)), "--labels"),
        n,
        n,
        title=f"{run.title}: decoded code plane{_label_note(run, labels)}",
        col_labels=[f"{v:.2g}" if i % every == 0 else "" for i, v in enumerate(grid_x.tolist())],
        row_labels=[
            f"{v:.2g}" if i % every == 0 else "" for i, v in enumerate(grid_y.flip(0).tolist())
        ],
        xlabel="z[0]",
        ylabel="z[1]",
        figsize=(n * 0.4 + 1.5, n * 0.4 + 1.2),
    )


def _manifold_axes(run: Run, options: PlotOptions, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Coordinates along each axis: Gaussian quantiles 5%..95% for a prior, else even
    steps across the training box or ``--range``."""
    if options.span is None and run.model.generative:
        quantiles = torch.linspace(0.05, 0.95, n)
        values = torch.distributions.Normal(0.0, 1.0).icdf(quantiles)
        return values, values
    low, high = _span(run, options)
    return torch.linspace(float(low[0]), float(high[0]), n), torch.linspace(
        float(low[1]), float(high[1]), n
    )


def noise_of(run: Run, spec: str | None) -> str:
    """The noise to denoise: ``spec`` if given, else the noise the run was trained with."""
    spec = spec or run.config.data.noise
    if spec is None:
        raise AekitError(
            f"{run.name} was trained without noise; give one, e.g. --noise gaussian:0.5"
        )
    return spec


def denoise_figure(run: Run, options: PlotOptions) -> Figure:
    """Noisy inputs above their reconstructions above the clean originals (S21), with the
    PSNR of the shown examples before and after."""
    spec = noise_of(run, options.noise)
    clean = options.examples(run).subset(options.count or 10)
    noisy, recon = denoise(run.model, clean.x, clean.y, parse_noise(spec), options.seed)
    before, after = pooled_psnr(noisy, clean.x), pooled_psnr(recon, clean.x)
    return example_grid(
        torch.cat([noisy, recon, clean.x]),
        3,
        len(clean),
        title=f"{run.title}: denoising ({spec}), PSNR {before:.1f} -> {after:.1f} dB",
        row_labels=["noisy input", "reconstruction", "clean original"],
    )
