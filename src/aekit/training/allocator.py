"""Keep freed batch memory in the process instead of handing it back to the OS every step.

Why: PyTorch allocates every activation and gradient of a CPU training step with ``malloc``
and frees it a moment later. glibc gives large freed blocks back to the kernel (blocks above
its mmap threshold are unmapped; free space above its trim threshold at the top of the heap is
released), so the next step's tensors land on fresh pages and the kernel has to fault in and
zero every 4 KiB page again. With the thresholds raised the convolutional models take a few
percent of the page faults and train markedly faster, with the same losses to the last digit
(benchmarks/RESULTS.md, "Page faults"); what stays resident is what the next step reuses.

The setting is the whole process's and cannot be undone (glibc offers no way to read the
thresholds back), so only the ``aekit`` command applies it (``aekit.cli``), never the library
itself on behalf of a user's program.
"""

from __future__ import annotations

import ctypes
import sys

# mallopt(3) parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

# The largest mmap threshold glibc accepts on 64-bit systems: blocks up to 32 MiB (a batch of
# 128 images with 32 feature maps of 28x28 is 12.8 MiB of float32) are served from the heap.
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
