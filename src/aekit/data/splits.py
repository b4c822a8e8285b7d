"""Turn a raw source into train / validation / test tensors, deterministically.

The split depends only on the data and ``split_seed``, so ``aekit evaluate RUN`` rebuilds
exactly the test split the run was trained against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from aekit.config import DataConfig
from aekit.data.raw import RawData, Scaling
from aekit.data.sources import load_source
from aekit.data.transforms import binarize_dynamic, binarize_static
from aekit.errors import AekitError


@dataclass
class Split:
    """Inputs ``x`` (N, *shape) float32 in [0, 1] and optional integer labels ``y``."""

    x: torch.Tensor
    y: torch.Tensor | None

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, n: int) -> Split:
        return Split(self.x[:n], None if self.y is None else self.y[:n])


@dataclass
class DataBundle:
    """The three splits of one data set, plus what models need to know about it, and how
    its source's values were scaled (to scale other data the same way)."""

    name: str
    train: Split
    val: Split
    test: Split
    num_classes: int | None
    scaling: Scaling | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.train.x.shape[1:])


def prepare_data(cfg: DataConfig) -> DataBundle:
    """Load the configured source and split it."""
    return split_raw(load_source(cfg.dataset, cfg.data_dir), cfg)


def split_raw(raw: RawData, cfg: DataConfig) -> DataBundle:
    """Split deterministically; hold out test data only when the source has no test split."""
    rng = np.random.default_rng(cfg.split_seed)
    x, y = raw.x_train, raw.y_train
    order = rng.permutation(len(x))
    x, y = x[order], None if y is None else y[order]
    if raw.x_test is not None:
        x_test, y_test = raw.x_test, raw.y_test
    else:
        n_test = round(len(x) * cfg.test_fraction)
        x_test, y_test = x[:n_test], None if y is None else y[:n_test]
        x, y = x[n_test:], None if y is None else y[n_test:]
    if cfg.validation == "test":
        x_val, y_val = x_test, y_test
    else:
        n_val = round(len(x) * cfg.val_fraction)
        x_val, y_val = x[:n_val], None if y is None else y[:n_val]
        x, y = x[n_val:], None if y is None else y[n_val:]
    if cfg.limit is not None:
        x, y = x[: cfg.limit], None if y is None else y[: cfg.limit]
    empty = [
        name
        for name, part in (("train", x), ("validation", x_val), ("test", x_test))
        if not len(part)
    ]
    if empty:
        raise AekitError(
            f"{raw.name}: the {' and '.join(empty)} split would be empty ({len(raw.x_train)} "
            f"examples, val_fraction {cfg.val_fraction}, test_fraction {cfg.test_fraction}); "
            "use more examples or larger fractions"
        )
    test = _split(x_test, y_test)
    val = test if cfg.validation == "test" else _split(x_val, y_val)
    bundle = DataBundle(raw.name, _split(x, y), val, test, _num_classes(raw), raw.scaling)
    return _binarize(bundle, cfg)


def _split(x: np.ndarray, y: np.ndarray | None) -> Split:
    return Split(
        torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
        None if y is None else torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64)),
    )


def _num_classes(raw: RawData) -> int | None:
    labels = [y for y in (raw.y_train, raw.y_test) if y is not None]
    return int(max(int(y.max()) for y in labels)) + 1 if labels else None


def _binarize(bundle: DataBundle, cfg: DataConfig) -> DataBundle:
    """Static: threshold everything once. Dynamic: training batches are resampled by the
    trainer; validation and test are binarized once with a fixed seed so scores are stable."""
    if cfg.binarize is None:
        return bundle
    generator = torch.Generator().manual_seed(cfg.split_seed + 1)
    if cfg.binarize == "static":
        bundle.train.x = binarize_static(bundle.train.x)
    bundle.val.x = held_out_inputs(bundle.val.x, cfg, generator)
    if bundle.test is not bundle.val:
        bundle.test.x = held_out_inputs(bundle.test.x, cfg, generator)
    return bundle


def held_out_inputs(
    x: torch.Tensor, cfg: DataConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Data a run is evaluated on, binarized as its validation and test splits are: at 0.5
    (static), or one Bernoulli draw per pixel, seeded (dynamic)."""
    if cfg.binarize == "static":
        return binarize_static(x)
    if cfg.binarize == "dynamic":
        generator = generator or torch.Generator().manual_seed(cfg.split_seed + 1)
        return binarize_dynamic(x, generator)
    return x
