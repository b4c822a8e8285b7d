"""Mini-batches straight from in-memory tensors, for training and for batched inference.

``torch.utils.data.DataLoader`` over a tensor fetches every example with its own Python call
and stacks them again (per-sample collation); for data that already sits in memory that costs
more than the model's own work at small sizes. Here an epoch is one random permutation and
each batch is a single ``index_select``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import overload

import torch


def batch_indices(
    n: int, batch_size: int, generator: torch.Generator | None
) -> Iterator[torch.Tensor]:
    """Yield index tensors covering ``range(n)`` once, in random order."""
    yield from torch.randperm(n, generator=generator).split(batch_size)


@overload
def iterate(
    tensors: tuple[torch.Tensor, ...],
    batch_size: int,
    generator: torch.Generator | None = None,
    shuffle: bool = False,
) -> Iterator[tuple[torch.Tensor, ...]]: ...


@overload
def iterate(
    tensors: tuple[torch.Tensor | None, ...],
    batch_size: int,
    generator: torch.Generator | None = None,
    shuffle: bool = False,
) -> Iterator[tuple[torch.Tensor | None, ...]]: ...


def iterate(
    tensors: tuple[torch.Tensor | None, ...],
    batch_size: int,
    generator: torch.Generator | None = None,
    shuffle: bool = False,
) -> Iterator[tuple[torch.Tensor | None, ...]]:
    """Yield aligned batches of several tensors (``None`` entries stay ``None``)."""
    n = len(next(t for t in tensors if t is not None))
    if not shuffle:
        for start in range(0, n, batch_size):
            yield tuple(None if t is None else t[start : start + batch_size] for t in tensors)
        return
    for idx in batch_indices(n, batch_size, generator):
        yield tuple(None if t is None else t.index_select(0, idx) for t in tensors)


@torch.no_grad()
def map_batches(
    fn: Callable[..., torch.Tensor],
    *tensors: torch.Tensor | None,
    batch_size: int = 1024,
) -> torch.Tensor:
    """``fn`` applied to aligned batches of ``tensors`` (``None`` stays ``None``), the results
    concatenated: one pass over data too large to push through a model at once."""
    outs = [fn(*batch) for batch in iterate(tensors, batch_size)]
    return torch.cat(outs) if outs else torch.empty(0)
