"""Opening a finished run for use: its config, its model, its data, and new inputs for it."""

from __future__ import annotations

import os
from dataclasses import dataclass

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


def open_run(path: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedRun:
    """Load a run directory's config and trained model."""
    run = RunDir.open(path)
    if not run.model.is_file():
        raise AekitError(f"{run.path} has no trained model yet (model.safetensors is missing)")
    return LoadedRun(run, run.load_config(), load_model(run.model, device))


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
