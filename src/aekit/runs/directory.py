"""A run: one folder holds everything it produced, and one object gives access to all of it.

RUN/config.yaml             the full RunConfig (rebuilds data, model and trainer)
RUN/model.safetensors       the trained weights (self-describing)
RUN/checkpoint.safetensors  weights + optimizer + RNG state of the last finished epoch
RUN/metrics.jsonl           one JSON object per epoch
RUN/figures/                PNG figures
RUN/samplers/, attributes/  what was fitted to the trained codes (latent samplers, directions)

:class:`Run` is that folder for the code: its paths, its config, its model, its metrics, its
data splits (rebuilt from the config on first use) and the batched operations every consumer
needs (``encode``, ``decode``, ``reconstruct``, ``generate``, ``draw_codes``). Training fills one,
evaluation, figures, applications and the CLI read one. A run without a folder (``train``
without ``out``, or a model assembled in code) is the same object with ``path`` None.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from functools import cached_property
from pathlib import Path
from typing import Any, overload

import numpy as np
import torch
import yaml

from aekit.config import RunConfig
from aekit.data.raw import fit_shape
from aekit.data.sources import NAMED, load_source
from aekit.data.splits import DataBundle, Split, held_out_inputs, prepare_data
from aekit.errors import AekitError, AekitWarning, WriteFailed
from aekit.io import atomic_write, remove_orphans, to_json, write_yaml
from aekit.models.base import Autoencoder
from aekit.runs import display, inference
from aekit.runs.checkpoint import checkpoint_state, load_model, model_epoch, save_model

TRAIN_CODES = 5000  # training examples whose codes bound the code space of plain AEs (S2)


class _InRun:
    """A path inside the run directory, as a read-only attribute of :class:`Run`."""

    def __init__(self, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, run: None, owner: type) -> _InRun: ...

    @overload
    def __get__(self, run: Run, owner: type) -> Path: ...

    def __get__(self, run: Run | None, owner: type) -> Path | _InRun:
        if run is None:
            return self  # the class attribute itself
        if run.path is None:
            raise AekitError("this run has no directory; give it one (--out) to keep files")
        return run.path / self.name


class Run:
    """A run directory and everything in it, loaded when first used."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
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
        path: str | os.PathLike[str],
        config: RunConfig,
        *,
        overwrite: bool = False,
        data: DataBundle | None = None,
    ) -> Run:
        """Start a new run directory; refuse to mix with an existing run unless ``overwrite``."""
        run = cls(path, config, data=data, history=[])
        assert run.path is not None, "made from path"
        if run.config_file.exists() and not overwrite:
            raise AekitError(
                f"{run.path} already holds a run; use --resume to continue it, "
                "--overwrite to replace it, or another --out"
            )
        if run.path.exists() and not run.path.is_dir():
            raise AekitError(f"{run.path} exists and is not a directory")
        try:
            run.figures.mkdir(parents=True, exist_ok=True)
            if overwrite:  # the old run's files, figures and report go with it
                for stale in (run.checkpoint_file, run.metrics_file, run.model_file):
                    stale.unlink(missing_ok=True)
                (run.path / "report.html").unlink(missing_ok=True)
                shutil.rmtree(run.figures / "progress", ignore_errors=True)
                for figure in run.figures.iterdir():
                    if figure.is_file():
                        figure.unlink()
            write_yaml(run.config_file, config.to_dict())
        except OSError as exc:
            raise AekitError(f"cannot write {run.path}: {exc.strerror or exc}") from None
        return run

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        data_dir: str | None = None,
        device: str | torch.device = "cpu",
    ) -> Run:
        """An existing run directory, checked to be one. ``data_dir`` (a folder with one
        sub-folder per named data set) overrides where its data set is read from."""
        run = cls(path, device=device)
        assert run.path is not None, "made from path"
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
    attributes = _InRun("attributes")  # attribute directions (aekit.runs.attributes)

    @property
    def name(self) -> str:
        return self.path.name if self.path is not None else self.model.name

    @property
    def title(self) -> str:
        return f"{self.name} ({self.model.name}, {self.model.code_dim}-d code)"

    @property
    def final_epoch(self) -> dict[str, Any]:
        """The last row of ``metrics.jsonl`` (empty before the first epoch)."""
        return self.history[-1] if self.history else {}

    @property
    def loss_unit(self) -> str:
        """What one unit of the train and validation loss is: the trainer optimises a mean
        per element (Keras' convention) or per example (nats, for VAEs), so losses of two
        runs compare only in the same unit."""
        reduction = self.config.train.loss_reduction or self.model.default_reduction
        return "element" if reduction == "per_element" else "example"

    def facts(self) -> dict[str, Any]:
        """Model, data, size and training length: what a summary of the run starts with."""
        return {
            "model": self.model.name,
            "data set": self.config.data.dataset,
            "code size": self.model.code_dim,
            "parameters": f"{sum(p.numel() for p in self.model.parameters()):,}",
            "epochs trained": self.final_epoch.get("epoch", 0),
            "training examples": len(self.data.train),
            "test examples": len(self.data.test),
        }

    def _repr_html_(self) -> str:
        """How Jupyter shows a run: facts, last epoch, test reconstructions, config. What
        cannot be shown yet (no trained model, data that is not here) is said instead: a
        display must not raise."""
        config = yaml.safe_dump(self.config.to_dict(), sort_keys=False)
        title = "aekit run" if self.path is None else f"{self.path.name} ({self.path})"
        try:
            title = self.name if self.path is None else title  # the model's name: loads it
            shown = self.data.test.subset(8)
            pictured = not self.data.interactions  # item vectors are no pictures, square or not
            strip = display.picture_rows(shown.x, self.reconstruct(shown)) if pictured else None
            numbers = display.epoch_table(self.final_epoch, self.loss_unit)
            return display.summary_html(title, self.facts(), numbers, strip, config)
        except AekitError as exc:
            return display.summary_html(title, {"not shown": str(exc)}, "", None, config)

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

    @model.setter
    def model(self, model: Autoencoder) -> None:
        self._model = model
        self.__dict__.pop("code_box", None)

    def load_model(self) -> Autoencoder:
        """Read the trained model from ``model.safetensors``, in eval mode."""
        if not self.model_file.is_file():
            raise AekitError(f"{self.path} has no trained model yet (model.safetensors is missing)")
        model = load_model(self.model_file, self.device)
        self.model = model
        return model

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
        """The rows of ``metrics.jsonl``; a torn last line (a write cut short) is dropped with
        a warning, any other line that is not JSON is an error."""
        if self.path is None or not self.metrics_file.is_file():
            return []
        lines = [line for line in self.metrics_file.read_text().splitlines() if line.strip()]
        rows = []
        for number, line in enumerate(lines, start=1):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                if number < len(lines):
                    raise AekitError(f"{self.metrics_file}: line {number} is not JSON") from None
                warnings.warn(
                    f"{self.metrics_file}: dropped its torn last line", AekitWarning, stacklevel=2
                )
        return rows

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        """Rewrite the whole history atomically (a resumed run's rows, from its checkpoint)."""
        self._history = list(rows)
        if self.path is None:
            return
        with atomic_write(self.metrics_file, "w") as handle:
            handle.writelines(to_json(row) + "\n" for row in rows)

    def append_metrics(self, row: dict[str, Any]) -> None:
        self.history.append(row)
        if self.path is None:
            return
        try:
            with self.metrics_file.open("a") as handle:
                handle.write(to_json(row) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise WriteFailed(self.metrics_file, exc) from None

    def save_model(self, model: Autoencoder | None = None, epoch: int | None = None) -> None:
        """Write ``model`` (default: the run's; trained for ``epoch`` epochs) to
        ``model.safetensors``."""
        if model is not None:
            self.model = model
        if self.path is not None:
            save_model(self.model, self.model_file, epoch)

    # -- after a crash --------------------------------------------------------------------
    def remove_orphans(self) -> list[Path]:
        """Delete the temporary files of writes that a killed process left half done."""
        names = ["config.yaml", "model.safetensors", "checkpoint.safetensors", "metrics.jsonl"]
        assert self.path is not None, "only a run with a directory has files"
        found = remove_orphans(self.path, names)
        for folder in (self.figures, self.figures / "progress"):  # folders only aekit writes
            if folder.is_dir():
                found += remove_orphans(folder)
        return found

    def repair(self) -> str | None:
        """Bring ``model.safetensors`` up to the checkpoint, the file every epoch commits
        first: after a kill between the two writes of an epoch, its weights are rebuilt from
        the checkpoint (its metrics rows are too, when the trainer resumes from it). Says
        what was repaired, if anything."""
        if not self.checkpoint_file.is_file():
            return None
        state = checkpoint_state(self.checkpoint_file)
        wanted = state.get("model_epoch")  # absent from checkpoints older than this rule
        if wanted != state["epoch"] or self._model_epoch() == wanted:
            return None
        save_model(load_model(self.checkpoint_file), self.model_file, wanted)
        return f"model.safetensors now holds epoch {wanted}'s weights"

    def weights_digest(self) -> str:
        """Which trained weights something fitted to this run's model belongs to (a sampler,
        an attribute direction): file times survive copies badly, contents do not."""
        return hashlib.sha256(self.model_file.read_bytes()).hexdigest()[:32]

    def _model_epoch(self) -> int | None:
        return model_epoch(self.model_file) if self.model_file.is_file() else None

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
        """Random codes: from the model's prior for generative models, else uniform in the
        box of the training codes."""
        if self.model.generative:
            with torch.no_grad():
                return self.model.eval().draw_prior(n, generator).cpu()
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
    path: str | os.PathLike[str], device: str | torch.device = "cpu", data_dir: str | None = None
) -> Run:
    """A finished run with its trained model (``Run.open`` and a check that the model exists)."""
    run = Run.open(path, data_dir=data_dir, device=device)
    run.load_model()
    return run


def as_run(run: Run | str | os.PathLike[str]) -> Run:
    """A :class:`Run` as given, or the finished run in that directory (:func:`open_run`): what
    the functions called from notebooks and scripts accept."""
    return run if isinstance(run, Run) else open_run(run)


def _reading_data_from(config: RunConfig, data_dir: str | None) -> RunConfig:
    """``data_dir`` if given, else the folder the run was trained from while it exists, else
    the default ($AEKIT_DATA_DIR, then the cache): a run copied to another machine, or whose
    data folder moved, still opens with its data there."""
    stored = config.data.data_dir
    if data_dir is None and (stored is None or Path(stored).is_dir()):
        return config
    return config.with_overrides({"data.data_dir": data_dir})
