"""Shared fixtures: small real data, the real MNIST files when present, quick configs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from aekit.config import RunConfig

REPO = Path(__file__).resolve().parents[1]

# The aekit command otherwise follows the free cores, and a sum split over another number of
# threads can differ in its last digits: tests that compare runs need one fixed count.
os.environ.setdefault("AEKIT_THREADS", "1")


def real_data_dir() -> Path | None:
    """Folder with mnist/ and fashion-mnist/ IDX files: $AEKIT_DATA_DIR or ../shared/data."""
    for candidate in (os.environ.get("AEKIT_DATA_DIR"), REPO.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "mnist" / "t10k-images-idx3-ubyte.gz").is_file():
            return Path(candidate)
    return None


@pytest.fixture
def mnist_dir() -> Path:
    path = real_data_dir()
    if path is None:
        pytest.skip("real MNIST files not available (set AEKIT_DATA_DIR)")
    return path


@pytest.fixture(autouse=True)
def _quiet_threads():
    """Keep tests deterministic and light on this 2-core machine."""
    torch.set_num_threads(1)
    yield


def quick_config(**sections) -> RunConfig:
    """A tiny run: a few hundred bundled MNIST digits, 2 epochs. Sections update the
    defaults, except that a model section naming a model replaces the default model."""
    raw = {
        "model": {"name": "ae", "latent_dim": 8, "hidden": [64]},
        "data": {"dataset": "mnist-5k", "limit": 600},
        "train": {"epochs": 2, "batch_size": 64},
    }
    for section, values in sections.items():
        replaces = section == "model" and "name" in values
        raw[section] = values if replaces else {**raw.get(section, {}), **values}
    return RunConfig.from_dict(raw)


class ScaleWeightsAfterEpoch:
    """Trainer callback: multiply every weight by ``factor`` once epoch ``epoch`` is recorded,
    so that the next epochs validate worse (for early stopping and plateaus)."""

    def __init__(self, factor: float = 8.0, epoch: int = 1) -> None:
        self.factor, self.epoch = factor, epoch

    def on_epoch_end(self, trainer, metrics):
        if metrics["epoch"] == self.epoch:
            with torch.no_grad():
                for p in trainer.model.parameters():
                    p.mul_(self.factor)

    def on_train_end(self, trainer):
        pass
