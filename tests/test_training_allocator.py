"""Freed batch memory stays in the process, so later steps do not page-fault it back in."""

import subprocess
import sys

import pytest

# A training step in miniature: eight 4 MiB tensors written and freed, ten times over; prints
# the page faults those ten steps took.
STEPS = """
import ctypes, resource, sys
import torch
from aekit.training.allocator import keep_freed_memory
# glibc's initial mmap threshold, pinned: left alone, glibc adapts it run by run.
assert ctypes.CDLL(None).mallopt(-3, 128 * 1024)
if sys.argv[1] == "keep":
    assert keep_freed_memory()
def step():
    tensors = [torch.empty(1 << 20).fill_(1.0) for _ in range(8)]
    del tensors
step(); step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode: str) -> int:
    """Faults of the ten steps in a fresh process (the setting is process-wide and sticky)."""
    out = subprocess.run(
        [sys.executable, "-c", STEPS, mode], check=True, capture_output=True, text=True
    ).stdout
    return int(out)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator only")
def test_kept_memory_is_reused_without_page_faults():
    handed_back, kept = page_faults("hand-back"), page_faults("keep")
    assert handed_back >= 10 * 8 * 1024, handed_back  # every 4 KiB page, every step
    assert kept < handed_back // 20, (kept, handed_back)
