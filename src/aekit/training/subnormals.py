"""Flush subnormal floats to zero on every CPU thread that trains.

Why: an x86 core computes on subnormal numbers (|x| < 1.2e-38 in float32) up to ~20 times
slower than on normal ones, and training autoencoders makes many of them. Pixels that are
always 0 (MNIST's border) push their output units' gradients toward 0, so Adam's running
averages fill with subnormals; measured here, fused Adam on S1's 400k parameters goes from
0.2 ms to 3.7 ms per step when its gradients are subnormal, and the plain S1 loop slows by 25%
from its 4th epoch on (``benchmarks/RESULTS.md``). Flushing them to zero (FTZ/DAZ, which GPUs
do in their fast paths) keeps the step time flat; the loss curve is unchanged at the precision
anyone reads (the S1 run ends at the same loss to 5 digits).

The CPU flag is per thread and a new thread inherits its creator's, so setting it on the
calling thread is not enough once PyTorch's OpenMP pool exists: it is also set from inside one
OpenMP parallel region, which runs on every thread of the pool.
"""

from __future__ import annotations

import ctypes

import torch

_OPENMP_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def flush_subnormals_to_zero() -> bool:
    """Set FTZ/DAZ on this thread and on PyTorch's OpenMP threads; False if the CPU can't."""
    if not torch.set_flush_denormal(True):
        return False
    gomp = _pytorch_openmp_runtime()
    if gomp is not None:
        callback = _OPENMP_CALLBACK(lambda _data: torch.set_flush_denormal(True))
        gomp.GOMP_parallel(callback, None, ctypes.c_uint(0), ctypes.c_uint(0))
    return True


def _pytorch_openmp_runtime() -> ctypes.CDLL | None:
    """The GNU OpenMP runtime this process has loaded (PyTorch's Linux wheels bundle one)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "/libgomp" in line}
    except OSError:  # not Linux: only the calling thread is set
        return None
    for path in sorted(paths):
        library = ctypes.CDLL(path)  # already mapped: this only looks it up
        if hasattr(library, "GOMP_parallel"):
            return library
    return None
