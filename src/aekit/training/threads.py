"""How many CPU threads torch computes with when other processes share the machine.

Why: torch starts one OpenMP thread per physical core, and every parallel operation waits
for all of them. When another process keeps a core busy, the thread sharing that core runs
only part of the time and each operation waits for it: on a 2-core machine with one busy
competitor, two threads train many times slower than one (benchmarks/RESULTS.md, "Busy
machines"). So the ``aekit`` command computes with the cores the others leave free, and
while it trains it counts them again every :data:`RECOUNT_SECONDS`: the CPU time the
process's allowed cores spent, less this process's own, per second of wall time, is the
others' load. ``--threads N`` or ``$AEKIT_THREADS`` fix the count instead, and so does an
``OMP_NUM_THREADS`` the user (or torchrun) set. Results can differ in the last digits between
thread counts (a sum split over threads adds in another order); a fixed count makes repeated
runs on a loaded machine identical too.

The thread count is the whole process's (``torch.set_num_threads``), so only the command
changes it, never the library on behalf of a user's program.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from aekit.errors import AekitError

THREADS_ENV = "AEKIT_THREADS"
RECOUNT_SECONDS = 1.0  # how often a training run counts the free cores again
# Shorter windows are too coarse: the kernel counts CPU time in ticks of 10 ms.
MIN_WINDOW_SECONDS = 0.2


def threads_from_environment() -> int | None:
    """``$AEKIT_THREADS`` as a thread count (None when unset)."""
    text = os.environ.get(THREADS_ENV, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise AekitError(f"${THREADS_ENV}={text!r}: give a whole number of threads >= 1")
    return int(text)


def allowed_cores() -> list[int]:
    """The CPUs this process may run on (its affinity mask; all of them where unknown)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def _quota_cores() -> float | None:
    """The cgroup (v2) CPU quota in cores, as a container's ``--cpus`` sets it."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
    except (OSError, ValueError):
        return None
    return None if quota == "max" else int(quota) / int(period)


@dataclass(frozen=True)
class _Sample:
    wall: float
    busy: float  # CPU seconds the allowed cores spent on anything but idling
    own: float  # CPU seconds of this process, all its threads


def _sample(cores: list[int]) -> _Sample | None:
    """Now, from /proc/stat (None where there is none: not Linux)."""
    wanted = {f"cpu{core}" for core in cores}
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    busy = 0
    for line in lines:
        name, *fields = line.split()
        if name in wanted:
            ticks = [int(field) for field in fields[:8]]
            busy += sum(ticks) - ticks[3] - ticks[4]  # all but idle and iowait
    return _Sample(time.monotonic(), busy / _TICKS_PER_SECOND, time.process_time())


_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class ThreadCount:
    """The number of threads torch uses in this process: fixed, or what the others leave."""

    def __init__(self, fixed: int | None = None) -> None:
        self.cores = allowed_cores()
        quota = _quota_cores()
        capacity = len(self.cores) if quota is None else min(len(self.cores), quota)
        self.capacity = float(capacity)
        self.most = max(1, min(torch.get_num_threads(), math.ceil(capacity)))
        self._mark = _sample(self.cores)
        self.fixed: int | None = None
        if fixed is not None:
            self.fix(fixed)
        elif os.environ.get("OMP_NUM_THREADS"):
            self.fixed = torch.get_num_threads()

    def fix(self, threads: int) -> None:
        """Compute with ``threads`` threads from now on, whatever the load."""
        self.fixed = threads
        torch.set_num_threads(threads)

    def recount(self) -> int:
        """Set (and return) the thread count for the free cores seen since the last count;
        unchanged when fixed, on a window too short to tell, or where /proc/stat is missing."""
        if self.fixed is not None:
            return self.fixed
        now = _sample(self.cores)
        if now is None or self._mark is None:
            return torch.get_num_threads()
        window = now.wall - self._mark.wall
        if window < MIN_WINDOW_SECONDS:
            return torch.get_num_threads()
        others = max(0.0, (now.busy - self._mark.busy) - (now.own - self._mark.own)) / window
        self._mark = now
        threads = max(1, min(self.most, int(self.capacity - others + 0.5)))
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
        return threads


class FollowFreeCores:
    """Training callback: counts the free cores when training starts and every
    :data:`RECOUNT_SECONDS` of it, between steps (torch takes the count from the thread that
    computes, so it is set there)."""

    def __init__(self, count: ThreadCount) -> None:
        self.count = count
        self._next = 0.0

    def on_train_begin(self, trainer: Any) -> None:
        self._recount()

    def on_step_end(self, trainer: Any) -> None:
        if time.monotonic() >= self._next:
            self._recount()

    def on_epoch_end(self, trainer: Any, metrics: dict[str, Any]) -> None:
        pass

    def on_train_end(self, trainer: Any) -> None:
        pass

    def _recount(self) -> None:
        self.count.recount()
        self._next = time.monotonic() + RECOUNT_SECONDS
