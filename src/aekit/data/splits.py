"""Turn a raw source into train / validation / test tensors, deterministically.

The split depends only on the data and ``split_seed``, so ``aekit evaluate RUN`` rebuilds
exactly the test split the run was trained against. Data that came as bytes stays bytes (a
quarter of float32's memory) until a batch is drawn, and a memory-mapped file is split by
row indices, never copied: what does not fit in memory stays on disk.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from aekit.config import DataConfig
from aekit.data.files import ImageFiles
from aekit.data.interactions import Interactions, split_users
from aekit.data.raw import RawData, Rows, Scaling
from aekit.data.sources import load_source
from aekit.data.transforms import binarize_dynamic, binarize_static
from aekit.errors import AekitError

# What a split stores: a tensor, or rows read when asked for (a folder's images, the users of
# a sparse interaction matrix)
Stored = torch.Tensor | ImageFiles | Interactions


class Split:
    """Examples (N, *shape) with values in [0, 1] and optional integer labels ``y``.

    ``stored`` holds the examples as they came: float32, or uint8 bytes that mean v / 255;
    possibly memory-mapped from a file, with ``index`` naming the rows that are this split's
    (None: all of them, in order). ``x`` is every example as float32 (made on access: the
    small splits' way); ``batch`` gives a few, on a device (the trainer's way)."""

    def __init__(
        self,
        x: Stored,
        y: torch.Tensor | None,
        index: torch.Tensor | None = None,
        mapped: bool = False,
        thresholded: bool = False,
    ) -> None:
        self.stored, self.y, self.index = x, y, index
        self.mapped = mapped  # stored is a file's memory map (or files): it stays where it is
        self.thresholded = thresholded  # static binarization, applied as examples are read

    def _unit(self, rows: torch.Tensor) -> torch.Tensor:
        unit = to_unit(rows)
        return binarize_static(unit) if self.thresholded else unit

    @property
    def x(self) -> torch.Tensor:
        if self.index is not None:
            return self._unit(self.stored.index_select(0, self.index))
        assert isinstance(self.stored, torch.Tensor), "rows read when asked for have an index"
        return self._unit(self.stored)

    @x.setter
    def x(self, value: torch.Tensor) -> None:
        self.stored, self.index, self.mapped, self.thresholded = value, None, False, False

    def __len__(self) -> int:
        return len(self.stored if self.index is None else self.index)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.stored.shape[1:])

    def subset(self, n: int) -> Split:
        y = None if self.y is None else self.y[:n]
        if self.index is None:
            assert isinstance(self.stored, torch.Tensor), "rows read when asked for have an index"
            return Split(self.stored[:n], y, None, self.mapped, self.thresholded)
        return Split(self.stored, y, self.index[:n], self.mapped, self.thresholded)

    def to(self, device: torch.device) -> Split:
        """This split with its examples and labels on ``device``, unless they are a file's
        memory map, which stays where it is (batches are then copied over one at a time)."""
        stored = self.stored
        if not self.mapped:
            assert isinstance(stored, torch.Tensor), "what is not a file's is a tensor"
            stored = stored.to(device)
        index = None if self.index is None else self.index.to(stored.device)
        y = None if self.y is None else self.y.to(device)
        return Split(stored, y, index, self.mapped, self.thresholded)

    def batch(self, idx: torch.Tensor, device: torch.device) -> torch.Tensor:
        """The examples at positions ``idx`` as float32 on ``device`` (converted there: bytes
        cross to a GPU as bytes, through pinned memory when they come from a mapped file)."""
        idx = idx.to(self.stored.device)
        rows = self.stored.index_select(0, idx if self.index is None else self.index[idx])
        if rows.device != device:
            if device.type == "cuda":
                rows = rows.pin_memory()
            rows = rows.to(device, non_blocking=True)
        return self._unit(rows)

    def fetch(self, batches: list[torch.Tensor], device: torch.device) -> Iterator[torch.Tensor]:
        """The examples of each index batch in turn, as :meth:`batch` gives them; images
        still in their files are decoded ahead by a DataLoader's worker processes."""
        if not isinstance(self.stored, ImageFiles):
            return (self.batch(idx, device) for idx in batches)
        return self._decoded(batches, device)

    def _decoded(self, batches: list[torch.Tensor], device: torch.device) -> Iterator[torch.Tensor]:
        from torch.utils.data import DataLoader

        assert isinstance(self.stored, ImageFiles), "fetch() decodes only images in files"
        loader = DataLoader(
            _StoredRows(self),
            batch_sampler=[idx.tolist() for idx in batches],
            num_workers=self.stored.workers,
            collate_fn=torch.stack,
            pin_memory=device.type == "cuda",
        )
        for rows in loader:
            yield self._unit(rows.to(device, non_blocking=True))


class _StoredRows(Dataset[torch.Tensor]):
    """A streamed split's examples one at a time, what a DataLoader's workers decode (a
    map-style data set: a length and an item per position)."""

    def __init__(self, split: Split) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, position: int) -> torch.Tensor:
        index, stored = self.split.index, self.split.stored
        assert isinstance(stored, ImageFiles), "fetch() decodes only images in files"
        return stored.read(position if index is None else int(index[position]))


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """Stored examples as float32 in [0, 1]: bytes become v / 255, floats are kept."""
    if x.dtype == torch.uint8:
        return x.to(torch.float32).div_(255.0)
    return x


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
        return self.train.shape

    @property
    def interactions(self) -> bool:
        """Users' item vectors (recommendation data), which have no picture to draw."""
        return isinstance(self.train.stored, Interactions)


def prepare_data(cfg: DataConfig) -> DataBundle:
    """Load the configured source and split it."""
    return split_raw(load_source(cfg.dataset, cfg.data_dir, None, cfg.stream, cfg.workers), cfg)


def split_raw(raw: RawData, cfg: DataConfig) -> DataBundle:
    """Split deterministically; hold out test data only when the source has no test split."""
    if isinstance(raw.x_train, Interactions):
        return _split_interactions(raw, cfg)
    order = np.random.default_rng(cfg.split_seed).permutation(len(raw.x_train))
    if raw.x_test is not None:
        test = _split(raw.x_test, raw.y_test, np.arange(len(raw.x_test)))
    else:
        n_test = round(len(order) * cfg.test_fraction)
        test, order = _split(raw.x_train, raw.y_train, order[:n_test]), order[n_test:]
    if cfg.validation == "test":
        val = test
    else:
        n_val = round(len(order) * cfg.val_fraction)
        val, order = _split(raw.x_train, raw.y_train, order[:n_val]), order[n_val:]
    train = _split(raw.x_train, raw.y_train, order[: cfg.limit])
    parts = {"train": train, "validation": val, "test": test}
    empty = [name for name, part in parts.items() if not len(part)]
    if empty:
        raise AekitError(
            f"{raw.name}: the {' and '.join(empty)} split would be empty ({len(raw.x_train)} "
            f"examples, val_fraction {cfg.val_fraction}, test_fraction {cfg.test_fraction}); "
            "use more examples or larger fractions"
        )
    bundle = DataBundle(raw.name, train, val, test, _num_classes(raw), raw.scaling)
    return _binarize(bundle, cfg)


def _split_interactions(raw: RawData, cfg: DataConfig) -> DataBundle:
    """Training users and held-out users (each shown 80% of their items): see
    ``data.interactions``. The splits stay sparse; batches are made dense as they are drawn."""
    if cfg.binarize or cfg.noise or cfg.validation != "split":
        raise AekitError(
            f"{raw.name}: interaction data take no --binarize, --noise or validation: test "
            "(the models that read them corrupt their own inputs)"
        )
    assert isinstance(raw.x_train, Interactions), "split_raw() sends interactions here"
    parts = split_users(raw.x_train, cfg.val_fraction, cfg.test_fraction, cfg.split_seed, cfg.limit)
    train, val, test = (Split(p, None, torch.arange(len(p)), mapped=True) for p in parts)
    return DataBundle(raw.name, train, val, test, None)


def _split(x: np.ndarray | Rows, y: np.ndarray | None, rows: np.ndarray) -> Split:
    """The examples of ``x`` at ``rows``: copied out (kept as bytes if they are bytes), or for
    a memory-mapped file left in the file and named by their indices."""
    labels = None if y is None else torch.from_numpy(np.ascontiguousarray(y[rows], np.int64))
    index = torch.from_numpy(rows.astype(np.int64))
    if isinstance(x, ImageFiles):
        return Split(x, labels, index, mapped=True)
    if isinstance(x, np.memmap):
        return Split(torch.from_numpy(x), labels, index, mapped=True)
    assert isinstance(x, np.ndarray), "split_users() splits interactions"
    dtype = np.uint8 if x.dtype == np.uint8 else np.float32
    return Split(torch.from_numpy(np.ascontiguousarray(x[rows], dtype=dtype)), labels)


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
        train = bundle.train
        if train.mapped:  # thresholded as batches are read: the file stays on disk
            train.thresholded = True
        else:
            stored = train.stored
            assert isinstance(stored, torch.Tensor), "what is not a file's is a tensor"
            if stored.dtype == torch.uint8:  # v / 255 >= 0.5 exactly when v >= 128
                train.x = (stored >= 128).to(torch.uint8) * 255
            else:
                train.x = binarize_static(stored)
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
