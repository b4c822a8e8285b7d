"""A data set as it comes from its source, before splitting: the type every loader returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from aekit.errors import AekitError


class Rows(Protocol):
    """Examples read a few at a time when asked for: a folder's images streamed from disk
    (``files.ImageFiles``), the users of a sparse interaction matrix
    (``interactions.Interactions``)."""

    def __len__(self) -> int: ...

    @property
    def shape(self) -> tuple[int, ...]: ...


@dataclass(frozen=True, eq=False)
class Scaling:
    """How a source's values were mapped to [0, 1], so that other data can be mapped the
    same way: ``minmax`` with the source's extremes (``low``, ``high``: one number, or one
    per feature on the last axis), or ``unit`` (already in [0, 1], kept). Sources whose rule
    depends on their type only (8-bit pixels / 255, booleans) have none."""

    kind: str
    low: np.ndarray | float = 0.0
    high: np.ndarray | float = 1.0

    def apply(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "unit":
            return x.astype(np.float32)
        span = np.where(np.asarray(self.high - self.low) == 0, 1.0, self.high - self.low)
        return ((x - self.low) / span).astype(np.float32)

    def describe(self) -> str:
        per = "per feature" if np.ndim(self.low) else "overall"
        return "kept as they are" if self.kind == "unit" else f"min-max ({per})"


@dataclass
class RawData:
    """Arrays shaped ``(N, *shape)`` with values in [0, 1] (float32, or uint8 bytes that mean
    v / 255: 8-bit data is kept as it came, a quarter of the memory, possibly a file's memory
    map), integer labels when there are any, an official test split when the data set has one,
    and the scaling that mapped the source's values to [0, 1] when it depends on them."""

    name: str
    x_train: np.ndarray | Rows
    y_train: np.ndarray | None
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    scaling: Scaling | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def everything(self) -> tuple[np.ndarray, np.ndarray | None]:
        """All examples (train, then test) and their labels (None unless every part has some)."""
        if not isinstance(self.x_train, np.ndarray):  # a sparse matrix of users' interactions
            raise AekitError(
                f"{self.name}: interaction data cannot be taken whole as examples here; give "
                "an array file (.npz, .npy, .csv) or a folder of images"
            )
        parts = [self.x_train] + ([self.x_test] if self.x_test is not None else [])
        labels = [self.y_train] + ([self.y_test] if self.x_test is not None else [])
        known = [lab for lab in labels if lab is not None]
        y = np.concatenate(known) if len(known) == len(labels) else None
        return np.concatenate(parts), y


def bytes_to_unit(pixels: np.ndarray) -> np.ndarray:
    """uint8 values -> float32 ``v / 255`` in [0, 1], with one allocation (in-place division)."""
    unit = pixels.astype(np.float32)
    unit /= 255.0
    return unit


def unit_array(x: np.ndarray) -> np.ndarray:
    """A source's examples as float32 in [0, 1] (bytes divided by 255)."""
    return bytes_to_unit(x) if x.dtype == np.uint8 else np.ascontiguousarray(x, np.float32)


def fit_shape(x: np.ndarray, shape: tuple[int, ...], source: str) -> np.ndarray:
    """Examples in ``shape`` as float32: as they are, or reshaped when they hold as many
    values."""
    if tuple(x.shape[1:]) == tuple(shape):
        return unit_array(x)
    if int(np.prod(x.shape[1:])) == int(np.prod(shape)):
        return unit_array(x.reshape(len(x), *shape))
    raise AekitError(
        f"{source}: examples are shaped {tuple(x.shape[1:])} but the model expects {tuple(shape)}"
    )
