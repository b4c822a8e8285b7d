"""Every figure kind by name: what ``aekit plot RUN KIND`` draws and the report embeds.

Light to import (the CLI lists the kinds in its help): the drawing modules, matplotlib and
scikit-learn load only when a figure is drawn.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aekit.errors import AekitError, unknown_choice

if TYPE_CHECKING:
    from aekit.figures.subject import PlotOptions, Subject


@dataclass(frozen=True)
class Kind:
    """A figure kind: its help line, how to write it, and when it does not apply."""

    help: str
    write: Callable[[Subject, PlotOptions, Path], Path]
    unavailable: Callable[[Subject], str | None] = lambda subject: None
    suffix: str = ".png"
    needs_other: bool = False


def _drawn(module: str, function: str):
    """Adapt ``aekit.figures.MODULE.FUNCTION(subject, options) -> Figure`` to a writer."""

    def write(subject: Subject, options: PlotOptions, path: Path) -> Path:
        from aekit.figures.plotting import save_figure

        draw = getattr(importlib.import_module(f"aekit.figures.{module}"), function)
        return save_figure(draw(subject, options), path)

    return write


def _reconstructions(subject: Subject, options: PlotOptions, path: Path) -> Path:
    from aekit.figures.run_figures import reconstruction_figure

    test = subject.data.test.subset(options.count or 10)
    return reconstruction_figure(test.x, subject.reconstruct(test), path, n=len(test))


def _curves(subject: Subject, options: PlotOptions, path: Path) -> Path:
    from aekit.figures.run_figures import curves_figure

    return curves_figure(subject.history, path)


def _progress(subject: Subject, options: PlotOptions, path: Path) -> Path:
    from aekit.figures.progress import assemble_gif, frames_dir

    return assemble_gif(frames_dir(subject.figures), path)


def _no_history(subject: Subject) -> str | None:
    return None if subject.history else f"{subject.name} has no logged epochs (metrics.jsonl)"


def _not_2d(subject: Subject) -> str | None:
    dims = subject.model.code_dim
    if dims == 2:
        return None
    return f"{subject.name} has a {dims}-d code; manifold needs a 2-d code (try traverse)"


def _no_frames(subject: Subject) -> str | None:
    from aekit.figures.progress import frames_dir

    if subject.figures is not None and any(frames_dir(subject.figures).glob("epoch-*.png")):
        return None
    return (
        f"{subject.name} has no progress frames; train with `aekit train --progress-gif` "
        "(on by default for generative models)"
    )


def _kinds() -> dict[str, Kind]:
    return {
        "latent": Kind(
            "test codes coloured by label (2-d codes as they are, else --method pca/tsne)",
            _drawn("latent", "latent_figure"),
        ),
        "compare": Kind(
            "the latent scatter of RUN and --other RUN2 side by side",
            _drawn("latent", "compare_figure"),
            needs_other=True,
        ),
        "samples": Kind(
            "random decoded codes: prior draws, or the training-code box; rows per label",
            _drawn("generation", "samples_figure"),
        ),
        "traverse": Kind(
            "one code with each coordinate swept in turn (--dims, --code, --range)",
            _drawn("generation", "traverse_figure"),
        ),
        "interpolate": Kind(
            "decodings on the line between the codes of two test inputs (--pair I,J)",
            _drawn("generation", "interpolate_figure"),
        ),
        "manifold": Kind(
            "a grid of decodings over a 2-d code plane",
            _drawn("generation", "manifold_figure"),
            unavailable=_not_2d,
        ),
        "progress": Kind(
            "GIF, a frame per epoch: 16 fixed prior draws (plain AEs: 16 test reconstructions)",
            _progress,
            unavailable=_no_frames,
            suffix=".gif",
        ),
        "denoise": Kind(
            "noisy inputs, their reconstructions, the clean originals (--noise)",
            _drawn("generation", "denoise_figure"),
        ),
        "activations": Kind(
            "histogram of code values of test inputs, mean marked",
            _drawn("latent", "activations_figure"),
        ),
        "curves": Kind(
            "training and validation loss and every logged metric per epoch",
            _curves,
            unavailable=_no_history,
        ),
        "reconstructions": Kind("test inputs above their reconstructions", _reconstructions),
    }


KINDS: dict[str, Kind] = _kinds()


def get_kind(name: str) -> Kind:
    if name not in KINDS:
        raise unknown_choice("figure kind", name, KINDS)
    return KINDS[name]


def default_path(subject: Subject, name: str) -> Path:
    if subject.figures is None:
        raise AekitError("give --out: this model has no run directory to write figures into")
    return subject.figures / f"{name}{get_kind(name).suffix}"


def plot(subject: Subject, name: str, options: PlotOptions, path: Path | None = None) -> Path:
    """Write one figure kind (to ``RUN/figures/KIND.png`` unless ``path`` is given)."""
    kind = get_kind(name)
    path = Path(path) if path is not None else default_path(subject, name)
    if path.suffix.lower() != kind.suffix:
        raise AekitError(f"{path}: the {name} figure is written as {kind.suffix}")
    if kind.needs_other and options.other is None:
        raise AekitError(f"{name} needs a second run: aekit plot RUN {name} --other RUN2")
    reason = kind.unavailable(subject)
    if reason:
        raise AekitError(reason)
    return kind.write(subject, options, path)


def applicable(subject: Subject) -> list[str]:
    """The kinds that can be drawn for this run with their default options."""
    return [
        name
        for name, kind in KINDS.items()
        if not kind.needs_other
        and kind.unavailable(subject) is None
        and (name != "denoise" or subject.noise)
        and (name != "latent" or subject.model.code_dim >= 2)
    ]


def after_training(subject: Subject) -> list[str]:
    """What a finished training run draws by itself, where the articles do (S1, S3, S8, S17,
    S21); every other kind is one ``aekit plot`` away."""
    model, is_2d = subject.model, subject.model.code_dim == 2
    wanted = {
        "reconstructions": True,
        "curves": bool(subject.history),
        "samples": model.generative,
        "latent": is_2d,
        "manifold": is_2d,
        "denoise": bool(subject.noise),
    }
    return [name for name, draw in wanted.items() if draw]
