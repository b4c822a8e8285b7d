"""Keep freed batch memory in the process instead of handing it back to the OS every step.

Why: PyTorch allocates every activation and gradient of a CPU training step with ``malloc``
and frees it a moment later. glibc gives large freed blocks back to the kernel (blocks above
its mmap threshold are unmapped; free space above its trim threshold at the top of the heap is
released), so the next step's tensors land on fresh pages and the kernel has to fault in and
zero every 4 KiB page again. Measured here (``benchmarks/page_faults.py``: ``aekit train
--epochs 2`` on full MNIST, two runs): conv-ae and conv-vae took 1.8 to 23 million page faults
with glibc's defaults and about 70 thousand with the two thresholds raised, and ran 1.13-1.18x
and 1.32-1.71x faster, with the same losses to the last digit. What stays resident (14-23 MiB
more at peak) is what the next step reuses anyway.
"""

from __future__ import annotations

import ctypes
import sys

# mallopt(3) parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

# The largest mmap threshold glibc accepts on 64-bit systems: blocks up to 32 MiB (a batch of
# 128 images with 32 feature maps of 28x28 is 12.8 MiB) are served from the heap.
MMAP_THRESHOLD = 32 * 1024**2
# Free memory at the top of the heap is kept up to this size; a training step's transient
# tensors are far below it, so they are never released between steps.
TRIM_THRESHOLD = 1024**3


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; False where there is no glibc
    (macOS, Windows, musl), whose allocators need no such setting or offer none."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None)
    if not hasattr(libc, "gnu_get_libc_version"):
        return False
    return bool(
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
