"""A run: one folder holds everything it produced, and one object gives access to all of it.

RUN/config.yaml             the full RunConfig (rebuilds data, model and trainer)
RUN/model.safetensors       the trained weights (self-describing)
RUN/checkpoint.safetensors  weights + optimizer + RNG state of the last finished epoch
RUN/metrics.jsonl           one JSON object per epoch
RUN/figures/                PNG figures

:class:`Run` is that folder for the code: its paths, its config, its model, its metrics, its
data splits (rebuilt from the config on first use) and the batched operations every consumer
needs (encode, decode, reconstruct, sample, draw from the code space). Training fills one,
evaluation, figures, applications and the CLI read one. A run without a folder (``train``
without ``out``, or a model assembled in code) is the same object with ``path`` None.
"""

from __future__ import annotations

import json
import os
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aekit.config import RunConfig
from aekit.data.raw import fit_shape
from aekit.data.sources import NAMED, load_source
from aekit.data.splits import DataBundle, Split, held_out_inputs, prepare_data
from aekit.errors import AekitError
from aekit.io import atomic_write, write_yaml
from aekit.models.base import Autoencoder
from aekit.runs import inference
from aekit.runs.checkpoint import load_model, save_model

TRAIN_CODES = 5000  # training examples whose codes bound the code space of plain AEs (S2)


class _InRun:
    """A path inside the run directory, as a read-only attribute of :class:`Run`."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, run: Run | None, owner: type) -> Path:
        if run is None:
            return self  # type: ignore[return-value]  (the class attribute itself)
        if run.path is None:
            raise AekitError("this run has no directory; give it one (--out) to keep files")
        return run.path / self.name


class Run:
    """A run directory and everything in it, loaded when first used."""

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        config: RunConfig | None = None,
        *,
        model: Autoencoder | None = None,
        data: DataBundle | None = None,
        history: list[dict[str, Any]] | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        self.path = None if path is None else Path(path)
        self._config = config
        self._model = model
        self._data = data
        self._history = history
        self.device = device

    # -- creating and opening -------------------------------------------------------------
    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        config: RunConfig,
        *,
        overwrite: bool = False,
        data: DataBundle | None = None,
    ) -> Run:
        """Start a new run directory; refuse to mix with an existing run unless ``overwrite``."""
        run = cls(path, config, data=data, history=[])
        if run.config_file.exists() and not overwrite:
            raise AekitError(
                f"{run.path} already holds a run; use --resume to continue it, "
                "--overwrite to replace it, or another --out"
            )
        if run.path.exists() and not run.path.is_dir():
            raise AekitError(f"{run.path} exists and is not a directory")
        run.figures.mkdir(parents=True, exist_ok=True)
        if overwrite:
            for stale in (run.checkpoint_file, run.metrics_file, run.model_file):
                stale.unlink(missing_ok=True)
        write_yaml(run.config_file, config.to_dict())
        return run

    @classmethod
    def open(
        cls,
        path: str | os.PathLike,
        *,
        data_dir: str | None = None,
        device: str | torch.device = "cpu",
    ) -> Run:
        """An existing run directory, checked to be one. ``data_dir`` (a folder with one
        sub-folder per named data set) overrides where its data set is read from."""
        run = cls(path, device=device)
        if not run.path.is_dir():
            raise AekitError(f"run directory not found: {run.path}")
        if not run.config_file.is_file():
            raise AekitError(f"{run.path} is not an aekit run directory (no config.yaml)")
        run._config = _reading_data_from(RunConfig.load(run.config_file), data_dir)
        return run

    # -- where things are -----------------------------------------------------------------
    config_file = _InRun("config.yaml")
    model_file = _InRun("model.safetensors")
    checkpoint_file = _InRun("checkpoint.safetensors")
    metrics_file = _InRun("metrics.jsonl")
    figures = _InRun("figures")

    @property
    def name(self) -> str:
        return self.path.name if self.path is not None else self.model.name

    @property
    def title(self) -> str:
        return f"{self.name} ({self.model.name}, {self.model.code_dim}-d code)"

    # -- what is in it --------------------------------------------------------------------
    @property
    def config(self) -> RunConfig:
        if self._config is None:
            self._config = RunConfig.load(self.config_file)
        return self._config

    @config.setter
    def config(self, config: RunConfig) -> None:
        self._config = config

    @property
    def model(self) -> Autoencoder:
        """The trained model (loaded from ``model.safetensors`` on first use)."""
        return self._model if self._model is not None else self.load_model()

    def load_model(self) -> Autoencoder:
        """Read the trained model from ``model.safetensors``, in eval mode."""
        if not self.model_file.is_file():
            raise AekitError(f"{self.path} has no trained model yet (model.safetensors is missing)")
        self._model = load_model(self.model_file, self.device)
        return self._model

    @model.setter
    def model(self, model: Autoencoder) -> None:
        self._model = model
        self.__dict__.pop("code_box", None)

    @property
    def data(self) -> DataBundle:
        """The run's own splits, rebuilt deterministically from its config on first use."""
        if self._data is None:
            self._data = prepare_data(self.config.data)
        return self._data

    @data.setter
    def data(self, data: DataBundle) -> None:
        self._data = data

    @property
    def history(self) -> list[dict[str, Any]]:
        """One row per finished epoch (``metrics.jsonl``)."""
        if self._history is None:
            self._history = self.read_metrics()
        return self._history

    @property
    def binarized(self) -> bool:
        return self.config.data.binarize is not None

    def inputs(self, source: str | None = None) -> Split:
        """The run's test split, or every example of another data set or file, prepared as
        the run's own data (:meth:`prepared_inputs`)."""
        return self.data.test if source is None else self.prepared_inputs(source)[0]

    def prepared_inputs(self, source: str) -> tuple[Split, list[str]]:
        """Every example of a data set or file (named ones from the run's data folder) in the
        model's input shape, scaled and binarized as the run's own data were, and what was
        done to match them (for the user to read)."""
        data = self.config.data
        scaling = None if data.dataset in NAMED else self.data.scaling
        raw = load_source(source, data.data_dir, scaling)
        x, y = raw.everything()
        x = fit_shape(x, self.model.input_shape, source)
        labels = None if y is None else torch.from_numpy(np.ascontiguousarray(y))
        notes = []
        if scaling is not None and raw.scaling is scaling:
            notes.append(f"values scaled as the run's training data ({scaling.describe()})")
        if data.binarize:
            notes.append(f"binarized ({data.binarize}) as the run's own data")
        return Split(held_out_inputs(torch.from_numpy(x), data), labels), notes

    # -- metrics.jsonl --------------------------------------------------------------------
    def read_metrics(self) -> list[dict[str, Any]]:
        if self.path is None or not self.metrics_file.is_file():
            return []
        with self.metrics_file.open() as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        """Rewrite the whole history atomically (used when a resumed run trims stale rows)."""
        self._history = list(rows)
        if self.path is None:
            return
        with atomic_write(self.metrics_file, "w") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")

    def append_metrics(self, row: dict[str, Any]) -> None:
        self.history.append(row)
        if self.path is None:
            return
        with self.metrics_file.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def save_model(self, model: Autoencoder | None = None) -> None:
        """Write ``model`` (default: the run's) to ``model.safetensors``."""
        if model is not None:
            self.model = model
        if self.path is not None:
            save_model(self.model, self.model_file)

    # -- using the model ------------------------------------------------------------------
    def encode(self, split: Split) -> torch.Tensor:
        """Codes of every example of ``split`` (conditional models see its labels)."""
        return inference.encode(self.model, split.x, split.y)

    def decode(
        self, z: torch.Tensor, y: torch.Tensor | None = None, option: str | None = None
    ) -> torch.Tensor:
        """Codes back to data space; ``option`` names where labels come from in errors."""
        return inference.decode(self.model, z, y, option)

    def reconstruct(self, split: Split) -> torch.Tensor:
        return inference.reconstruct(self.model, split.x, split.y)

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

    def generate(
        self,
        n: int,
        y: torch.Tensor | None,
        generator: torch.Generator,
        option: str | None = None,
    ) -> torch.Tensor:
        """New examples: the model's own sampler if it has one, else decoded box draws."""
        if self.model.generative:
            return inference.sample(self.model, n, y, generator, option)
        return self.decode(self.draw_codes(n, generator), y, option)


def open_run(
    path: str | os.PathLike, device: str | torch.device = "cpu", data_dir: str | None = None
) -> Run:
    """A finished run with its trained model (``Run.open`` and a check that the model exists)."""
    run = Run.open(path, data_dir=data_dir, device=device)
    run.load_model()
    return run


def _reading_data_from(config: RunConfig, data_dir: str | None) -> RunConfig:
    """``data_dir`` if given, else the folder the run was trained from while it exists, else
    the default ($AEKIT_DATA_DIR, then the cache): a run copied to another machine, or whose
    data folder moved, still opens with its data there."""
    stored = config.data.data_dir
    if data_dir is None and (stored is None or Path(stored).is_dir()):
        return config
    return config.with_overrides({"data.data_dir": data_dir})
