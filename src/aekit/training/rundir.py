"""The run directory: one folder holds everything a run produced.

RUN/config.yaml             the full RunConfig (rebuilds data, model and trainer)
RUN/model.safetensors       the trained weights (self-describing)
RUN/checkpoint.safetensors  weights + optimizer + RNG state of the last finished epoch
RUN/metrics.jsonl           one JSON object per epoch
RUN/figures/                PNG figures
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aekit.config import RunConfig
from aekit.errors import AekitError
from aekit.io import atomic_write, write_yaml


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    @property
    def model(self) -> Path:
        return self.path / "model.safetensors"

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoint.safetensors"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def figures(self) -> Path:
        return self.path / "figures"

    @classmethod
    def create(cls, path: str | os.PathLike, config: RunConfig, overwrite: bool = False) -> RunDir:
        """Start a new run; refuse to mix with an existing run unless ``overwrite``."""
        run = cls(Path(path))
        if run.config.exists() and not overwrite:
            raise AekitError(
                f"{run.path} already holds a run; use --resume to continue it, "
                "--overwrite to replace it, or another --out"
            )
        if run.path.exists() and not run.path.is_dir():
            raise AekitError(f"{run.path} exists and is not a directory")
        run.figures.mkdir(parents=True, exist_ok=True)
        if overwrite:
            for stale in (run.checkpoint, run.metrics, run.model):
                stale.unlink(missing_ok=True)
        write_yaml(run.config, config.to_dict())
        return run

    @classmethod
    def open(cls, path: str | os.PathLike) -> RunDir:
        """An existing run directory, checked to be one."""
        run = cls(Path(path))
        if not run.path.is_dir():
            raise AekitError(f"run directory not found: {run.path}")
        if not run.config.is_file():
            raise AekitError(f"{run.path} is not an aekit run directory (no config.yaml)")
        return run

    def load_config(self) -> RunConfig:
        return RunConfig.load(self.config)

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics.is_file():
            return []
        with self.metrics.open() as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        """Rewrite the whole history atomically (used when a resumed run trims stale rows)."""
        with atomic_write(self.metrics, "w") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")

    def append_metrics(self, row: dict[str, Any]) -> None:
        with self.metrics.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
