"""Opening a finished run for use: its config, its model, its data, and new inputs for it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aekit.config import RunConfig
from aekit.data.sources import load_source
from aekit.data.splits import DataBundle, Split, prepare_data
from aekit.errors import AekitError
from aekit.models.base import Autoencoder
from aekit.training.checkpoint import load_model
from aekit.training.rundir import RunDir


@dataclass
class LoadedRun:
    run: RunDir
    config: RunConfig
    model: Autoencoder

    def data(self) -> DataBundle:
        """The run's own splits, rebuilt deterministically from its config."""
        return prepare_data(self.config.data)

    def inputs(self, name_or_path: str | None = None) -> Split:
        """The run's test split, or all of another data set / file (named data sets are read
        from the run's data folder) in the model's input shape."""
        if name_or_path is None:
            return self.data().test
        return load_inputs(name_or_path, self.model, self.config.data.data_dir)


def open_run(
    path: str | os.PathLike, device: str | torch.device = "cpu", data_dir: str | None = None
) -> LoadedRun:
    """Load a run directory's config and trained model; ``data_dir`` (a folder with one
    sub-folder per named data set) overrides where the run's own data set is read from."""
    run = RunDir.open(path)
    if not run.model.is_file():
        raise AekitError(f"{run.path} has no trained model yet (model.safetensors is missing)")
    config = _reading_data_from(run.load_config(), data_dir)
    return LoadedRun(run, config, load_model(run.model, device))


def _reading_data_from(config: RunConfig, data_dir: str | None) -> RunConfig:
    """``data_dir`` if given, else the folder the run was trained from while it exists, else
    the default ($AEKIT_DATA_DIR, then the cache): a run copied to another machine, or whose
    data folder moved, still opens with its data there."""
    stored = config.data.data_dir
    if data_dir is None and (stored is None or Path(stored).is_dir()):
        return config
    return config.with_overrides({"data.data_dir": data_dir})


def load_inputs(name_or_path: str, model: Autoencoder, data_dir: str | None = None) -> Split:
    """All examples of a data set or file, reshaped to the model's input shape if they fit."""
    raw = load_source(name_or_path, data_dir)
    parts = [raw.x_train] + ([raw.x_test] if raw.x_test is not None else [])
    x = np.concatenate(parts)
    labels = [raw.y_train] + ([raw.y_test] if raw.x_test is not None else [])
    y = None if any(lab is None for lab in labels) else np.concatenate(labels)
    x = fit_shape(x, model.input_shape, name_or_path)
    return Split(torch.from_numpy(x), None if y is None else torch.from_numpy(y))


def fit_shape(x: np.ndarray, shape: tuple[int, ...], source: str) -> np.ndarray:
    """Accept data whose examples have the model's shape, or the same number of values."""
    if tuple(x.shape[1:]) == tuple(shape):
        return np.ascontiguousarray(x, dtype=np.float32)
    if int(np.prod(x.shape[1:])) == int(np.prod(shape)):
        return np.ascontiguousarray(x.reshape(len(x), *shape), dtype=np.float32)
    raise AekitError(
        f"{source}: examples are shaped {tuple(x.shape[1:])} but the model expects {tuple(shape)}"
    )


@torch.no_grad()
def map_batches(
    fn, x: torch.Tensor, y: torch.Tensor | None = None, batch_size: int = 1024
) -> torch.Tensor:
    """Apply ``fn(xb, yb)`` over batches and concatenate (keeps memory flat on big inputs)."""
    outs = [
        fn(x[i : i + batch_size], None if y is None else y[i : i + batch_size])
        for i in range(0, len(x), batch_size)
    ]
    return torch.cat(outs) if outs else torch.empty(0)
