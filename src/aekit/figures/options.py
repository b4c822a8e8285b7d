"""The options every figure kind draws with (``aekit plot``'s options, and the defaults
training and the report use)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aekit.data.splits import Split
    from aekit.runs.directory import Run


@dataclass
class PlotOptions:
    """Each figure reads the options it needs and ignores the others."""

    method: str = "auto"  # latent: auto, codes, pca, tsne
    points: int = 2000  # latent / activations: how many test examples
    count: int | None = None  # samples per row, images in a row, grid side...
    labels: list[int] | None = None  # conditional models: which labels
    dims: list[int] | None = None  # traverse: which coordinates
    code: list[float] | None = None  # traverse: the vector to start from
    span: tuple[float, float] | None = None  # traverse / manifold: value range
    steps: int | None = None  # traverse / interpolate / manifold resolution
    pairs: list[tuple[int, int]] | None = None  # interpolate: test indices
    noise: str | None = None  # denoise: overrides the run's noise
    seed: int = 0
    sampler: str | None = (
        None  # samples: where codes come from (aekit.sampling); None: the model's way
    )
    attribute: str | None = None  # edit: which direction (None: the newest)
    other: Run | None = None  # compare: the second run
    inputs: Split | None = None  # examples to draw instead of the run's test split
    source: str | None = None  # where ``inputs`` came from (a data set name or a file)

    def examples(self, run: Run) -> Split:
        """What figures of examples draw: ``inputs`` if given, else the run's test split."""
        return self.inputs if self.inputs is not None else run.data.test

    def differences(self) -> list[str]:
        """The options that differ from the defaults, as short words (``count-9``,
        ``labels-3-5``, ``vs-RUN2``, ``on-FILE``): a figure drawn with them is kept under its
        own name beside the one drawn with the defaults."""
        words = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name in ("inputs", "other", "source") or value == field.default:
                continue
            shown = value if not isinstance(value, (list, tuple)) else _joined(value)
            words.append(f"{field.name}-{shown}")
        if self.other is not None:
            words.append(f"vs-{self.other.name}")
        if self.source is not None:
            words.append(f"on-{Path(self.source).stem}")
        return [re.sub(r"[^A-Za-z0-9_.,-]+", "_", word) for word in words]


def _joined(values: Sequence[Any]) -> str:
    return "-".join(_joined(v) if isinstance(v, (list, tuple)) else f"{v:g}" for v in values)
