"""Flush subnormal floats to zero while a model trains, on every CPU thread that computes.

Why: an x86 core computes on subnormal numbers (|x| < 1.2e-38 in float32) many times slower
than on normal ones, and training autoencoders makes many of them: pixels that are always 0
(MNIST's border) push their output units' gradients toward 0, so Adam's running averages
fill with subnormals and the step time grows epoch after epoch (benchmarks/RESULTS.md,
"Where the time goes"). Flushing them to zero (FTZ/DAZ, which GPUs do in their fast paths)
keeps the step time flat and leaves the loss curve unchanged at the precision anyone reads.

The CPU flag is per thread, so it is set on the calling thread and on PyTorch's OpenMP
threads. It is also process state a user's own numerical code depends on (numpy's arithmetic
on subnormals changes under it), so it is only set for the duration of training and then put
back as it was.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from aekit.training.internals import run_on_openmp_threads

_SMALLEST_NORMAL = torch.finfo(torch.float32).tiny


def flushing_now() -> bool:
    """Whether this thread flushes subnormals (a subnormal input then reads as zero)."""
    subnormal = torch.tensor([_SMALLEST_NORMAL / 4])
    return bool((subnormal * 1.0).item() == 0.0)


def _set_everywhere(enabled: bool) -> bool:
    if not torch.set_flush_denormal(enabled):
        return False
    run_on_openmp_threads(lambda: torch.set_flush_denormal(enabled))
    return True


@contextlib.contextmanager
def subnormals_flushed() -> Iterator[bool]:
    """Flush subnormals to zero on every thread inside the block, then restore the calling
    thread's previous setting everywhere; yields False on CPUs without the flag."""
    before = flushing_now()
    supported = _set_everywhere(True)
    try:
        yield supported
    finally:
        if supported:
            _set_everywhere(before)
