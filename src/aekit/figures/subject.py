"""What a figure is drawn from (a trained model with its data) and the options figures take.

Figures need the same few things, computed the same way everywhere: the codes of some
examples, decodings in data space, and where in the code space to draw new points from:
the prior for generative models, the bounding box of the training codes otherwise (S2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from aekit.data.splits import DataBundle, Split
from aekit.errors import AekitError
from aekit.models.base import Autoencoder
from aekit.runs import map_batches

TRAIN_CODES = 5000  # training examples whose codes bound the latent space of plain AEs


@dataclass
class PlotOptions:
    """Every option of ``aekit plot``; each figure reads the ones it needs."""

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
    other: Subject | None = None  # compare: the second run


@dataclass
class Subject:
    """A trained model, its data splits and training history, and where its figures go."""

    name: str
    model: Autoencoder
    data: DataBundle
    dataset: str
    noise: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    figures: Path | None = None

    @classmethod
    def from_run(cls, path: str | Path, data_dir: str | None = None) -> Subject:
        """Open a run directory (config, weights, splits, metrics) for plotting; ``data_dir``
        overrides where its data set is read from."""
        from aekit.runs import open_run

        loaded = open_run(path, data_dir=data_dir)
        return cls(
            name=loaded.run.path.name,
            model=loaded.model.eval(),
            data=loaded.data(),
            dataset=loaded.config.data.dataset,
            noise=loaded.config.data.noise,
            history=loaded.run.read_metrics(),
            figures=loaded.run.figures,
        )

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def title(self) -> str:
        return f"{self.name} ({self.model.name}, {self.model.code_dim}-d code)"

    def labels_of(self, split: Split) -> torch.Tensor | None:
        """The labels a conditional model needs; None for the others."""
        return split.y if self.model.conditional else None

    @torch.no_grad()
    def encode(self, split: Split) -> torch.Tensor:
        """Codes of every example of ``split`` (on the CPU)."""
        self.model.eval()
        return map_batches(
            lambda xb, yb: self.model.encode(xb.to(self.device), _on(yb, self.device)).float(),
            split.x,
            self.labels_of(split),
        ).cpu()

    @torch.no_grad()
    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Decodings of codes ``z`` in data space (on the CPU)."""
        self.model.eval()
        self.check_labels(y)
        return map_batches(
            lambda zb, yb: self.model.to_data(
                self.model.decode(zb.to(self.device), _on(yb, self.device))
            ).float(),
            z,
            y,
        ).cpu()

    @torch.no_grad()
    def reconstruct(self, split: Split) -> torch.Tensor:
        return self.decode(self.encode(split), self.labels_of(split))

    def check_labels(self, y: torch.Tensor | None) -> None:
        if self.model.conditional and y is None:
            raise AekitError(f"model {self.model.name!r} is conditional: give --labels")

    @cached_property
    def code_box(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-coordinate minimum and maximum of the training codes (S2's sampling box)."""
        codes = self.encode(self.data.train.subset(TRAIN_CODES))
        return codes.min(0).values, codes.max(0).values

    def code_range(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Where codes live: +-3 standard deviations of the prior, or the training box."""
        if self.model.generative:
            full = torch.full((self.model.code_dim,), 3.0)
            return -full, full
        return self.code_box

    def draw_codes(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Random codes: from the prior N(0, I) for generative models, else uniform in the box."""
        if self.model.generative:
            return torch.randn(n, self.model.code_dim, generator=generator)
        low, high = self.code_box
        return low + (high - low) * torch.rand(n, self.model.code_dim, generator=generator)

    def generate(self, n: int, y: torch.Tensor | None, generator: torch.Generator) -> torch.Tensor:
        """New examples: the model's own sampler if it has one, else decoded box draws."""
        self.check_labels(y)
        if self.model.generative:
            with torch.no_grad():
                self.model.eval()
                return self.model.sample(n, _on(y, self.device), generator=generator).cpu()
        return self.decode(self.draw_codes(n, generator), y)

    def class_names(self) -> list[str]:
        from aekit.figures.plotting import class_names

        return class_names(self.dataset, self.data.num_classes or 0)


def _on(t: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    return None if t is None else t.to(device)
