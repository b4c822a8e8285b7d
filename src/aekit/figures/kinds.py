"""Every figure kind by name: what ``aekit plot RUN KIND`` draws, what training draws when it
ends, what ``aekit reconstruct`` / ``sample`` / ``denoise`` write, and what the report embeds.

A kind is a drawing function ``draw(run, options) -> Figure`` in one of the figure modules,
named here with its help line and when it does not apply. This module stays light to import
(the CLI lists the kinds in its help): a kind's module, and matplotlib with it, is imported
when the kind is first drawn.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aekit.errors import AekitError, unknown_choice
from aekit.figures.options import PlotOptions
from aekit.values import options_of

if TYPE_CHECKING:
    from aekit.figures.plotting import Figure
    from aekit.runs.directory import Run

PROGRESS_FRAMES = "progress"  # RUN/figures/progress/epoch-NNNN.png


@dataclass(frozen=True)
class Kind:
    """A figure kind: its help line, its drawing function, and when it does not apply."""

    help: str
    module: str  # in aekit.figures
    name: str  # of the function in that module
    unavailable: Callable[[Run], str | None] = lambda run: None
    suffix: str = ".png"
    needs_other: bool = False
    draws: bool = True  # False: the function writes its file itself, (run, options, path)

    @property
    def function(self) -> Callable[..., Any]:
        """The drawing function (its module, and matplotlib, imported on first use)."""
        function: Callable[..., Any] = getattr(
            importlib.import_module(f"aekit.figures.{self.module}"), self.name
        )
        return function

    def write(self, run: Run, options: PlotOptions, path: Path) -> Path:
        """Draw the figure for ``run`` and save it at ``path``."""
        if not self.draws:
            written: Path = self.function(run, options, path)
            return written
        from aekit.figures.plotting import save_figure  # matplotlib: only once a kind is drawn

        return save_figure(self.function(run, options), path)


def _no_history(run: Run) -> str | None:
    return None if run.history else f"{run.name} has no logged epochs (metrics.jsonl)"


def _not_2d(run: Run) -> str | None:
    dims = run.model.code_dim
    if dims == 2:
        return None
    return f"{run.name} has a {dims}-d code; manifold needs a 2-d code (try traverse)"


def _no_frames(run: Run) -> str | None:
    if run.path is not None and any((run.figures / PROGRESS_FRAMES).glob("epoch-*.png")):
        return None
    return (
        f"{run.name} has no progress frames; train with `aekit train --progress-gif` "
        "(on by default for generative models)"
    )


def _no_directions(run: Run) -> str | None:
    if run.path is not None and any(run.attributes.glob("*.safetensors")):
        return None
    return (
        f"{run.name} has no attribute directions; compute one first: "
        f"aekit attribute {run.path} --attribute label:K"
    )


KINDS: dict[str, Kind] = {
    "latent": Kind(
        "test codes coloured by label (2-d codes as they are, else --method pca/tsne)",
        "latent",
        "latent_figure",
    ),
    "compare": Kind(
        "the latent scatter of RUN and --other RUN2 side by side",
        "latent",
        "compare_figure",
        needs_other=True,
    ),
    "samples": Kind(
        "random decoded codes: prior draws, or the training-code box; rows per label",
        "generation",
        "samples_figure",
    ),
    "traverse": Kind(
        "one code with each coordinate swept in turn (--dims, --code, --range)",
        "generation",
        "traverse_figure",
    ),
    "interpolate": Kind(
        "decodings on the line between the codes of two test inputs (--pair I,J)",
        "generation",
        "interpolate_figure",
    ),
    "edit": Kind(
        "inputs moved along an attribute direction (--attribute NAME, --range, --steps)",
        "generation",
        "edit_figure",
        unavailable=_no_directions,
    ),
    "manifold": Kind(
        "a grid of decodings over a 2-d code plane",
        "generation",
        "manifold_figure",
        unavailable=_not_2d,
    ),
    "progress": Kind(
        "GIF, a frame per epoch: 16 fixed prior draws (plain AEs: 16 test reconstructions)",
        "progress",
        "write_gif",
        unavailable=_no_frames,
        suffix=".gif",
        draws=False,
    ),
    "denoise": Kind(
        "noisy inputs, their reconstructions, the clean originals (--noise)",
        "generation",
        "denoise_figure",
    ),
    "activations": Kind(
        "histogram of code values of test inputs, mean marked",
        "latent",
        "activations_figure",
    ),
    "curves": Kind(
        "training and validation loss and every logged metric per epoch",
        "curves",
        "curves",
        unavailable=_no_history,
    ),
    "reconstructions": Kind(
        "test inputs above their reconstructions", "examples", "reconstructions_figure"
    ),
}


def get_kind(name: str) -> Kind:
    if name not in KINDS:
        raise unknown_choice("figure kind", name, KINDS)
    return KINDS[name]


def default_path(run: Run, name: str, options: PlotOptions | None = None) -> Path:
    """``RUN/figures/KIND.png`` (``.gif`` for the progress GIF); drawn with other than the
    default options, ``RUN/figures/KIND-OPTIONS.png``, so it replaces no other figure."""
    if run.path is None:
        raise AekitError("give --out: this model has no run directory to write figures into")
    stem = "-".join([name, *(options.differences() if options is not None else [])])
    return run.figures / f"{stem}{get_kind(name).suffix}"


def plot(run: Run, name: str, options: PlotOptions, path: Path | None = None) -> Path:
    """Write one figure kind (to its :func:`default_path` unless ``path`` is given)."""
    kind = _drawable(run, name, options)
    path = Path(path) if path is not None else default_path(run, name, options)
    if path.suffix.lower() != kind.suffix:
        raise AekitError(f"{path}: the {name} figure is written as {kind.suffix}")
    return kind.write(run, options, path)


def figure(run: Run | str | os.PathLike[str], kind: str, **options: Any) -> Figure:
    """One figure kind as a matplotlib figure, nothing written: ``aekit.plot(run, "latent",
    method="pca")``. A notebook shows it inline; ``fig.savefig(FILE)`` keeps it. ``run`` is a
    :class:`~aekit.runs.directory.Run` or a run directory; ``options`` are those of ``aekit
    plot`` (:class:`~aekit.figures.options.PlotOptions`: ``count``, ``method``, ``dims``,
    ``other`` ...)."""
    from aekit.runs.directory import as_run

    run = as_run(run)
    if options.get("other") is not None:
        options["other"] = as_run(options["other"])
    chosen = options_of(PlotOptions, options, f"option of the {kind} figure")
    drawn = _drawable(run, kind, chosen)
    if not drawn.draws:
        raise AekitError(f"the {kind} figure is a {drawn.suffix} file: aekit plot RUN {kind}")
    made: Figure = drawn.function(run, chosen)
    return made


def _drawable(run: Run, name: str, options: PlotOptions) -> Kind:
    """The kind, once it is known to apply to this run with these options."""
    kind = get_kind(name)
    if kind.needs_other and options.other is None:
        raise AekitError(f"{name} needs a second run: aekit plot RUN {name} --other RUN2")
    reason = kind.unavailable(run)
    if reason:
        raise AekitError(reason)
    return kind


def applicable(run: Run) -> list[str]:
    """The kinds that can be drawn for this run with their default options."""
    return [
        name
        for name, kind in KINDS.items()
        if not kind.needs_other
        and kind.unavailable(run) is None
        and (name != "denoise" or run.config.data.noise)
        and (name != "latent" or run.model.code_dim >= 2)
    ]


def after_training(run: Run) -> list[str]:
    """What a finished training run draws by itself, where the articles do (S1, S3, S8, S17,
    S21); every other kind is one ``aekit plot`` away. Recommendation data (item vectors)
    get the curves only."""
    model, is_2d = run.model, run.model.code_dim == 2
    if run.data.interactions:
        return ["curves"] if run.history else []
    wanted = {
        "reconstructions": True,
        "curves": bool(run.history),
        "samples": model.generative,
        "latent": is_2d,
        "manifold": is_2d,
        "denoise": bool(run.config.data.noise),
    }
    return [name for name, draw in wanted.items() if draw]


def figures_missing(run: Run) -> list[str]:
    """The figures a finished training run draws that its folder lacks (training was
    interrupted after its last epoch), the progress GIF included when it has frames."""
    missing = [name for name in after_training(run) if not default_path(run, name).is_file()]
    if _no_frames(run) is None and not default_path(run, "progress").is_file():
        missing.append("progress")
    return missing


def finish_figures(run: Run) -> list[Path]:
    """Draw the figures a finished training run lacks (:func:`figures_missing`)."""
    return [plot(run, name, PlotOptions()) for name in figures_missing(run)]


def write_run_figures(run: Run) -> list[Path]:
    """The figures the articles show after training, into ``RUN/figures/``."""
    return [plot(run, name, PlotOptions()) for name in after_training(run)]
