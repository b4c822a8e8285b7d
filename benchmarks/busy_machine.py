"""Training on a shared machine: one busy competitor process, and two trainings at once.

Every variant is a fresh process, as a user starts it:

- ``aekit``: ``aekit train --dataset mnist --epochs E --quiet`` (the default model on the
  60,000 training digits), its thread count left to aekit (the free cores, counted again
  every second);
- ``aekit --threads N``: the same with the count fixed at torch's default (one per physical
  core: what aekit did before it followed the free cores);
- ``plain``: the S1 article's PyTorch loop on the same digits (benchmarks/train_throughput.py's
  ``plain`` variant), at torch's default thread count.

Each runs on the quiet machine and beside a competitor, ``python -c "while True: pass"``
(one core kept busy); the epoch time is the median of epochs 2..E (``seconds`` in the run's
metrics, validation included). Then two ``aekit train`` runs start together, against the same
two run one after the other (whole-process wall time). ``--rounds`` repeats everything; the
table keeps each variant's median.

Goals (the busy-machines issue): with the competitor, aekit's epoch within 1.5x of its quiet
epoch; the two concurrent runs finish in at most 1.2x the time of the two in a row.

    python benchmarks/busy_machine.py --data-dir ../shared/data --rounds 3
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
# The children choose their own thread counts: no inherited setting decides for them.
os.environ.pop("AEKIT_THREADS", None)
os.environ.pop("OMP_NUM_THREADS", None)


@contextlib.contextmanager
def competitor(busy: bool) -> Iterator[None]:
    """One process spinning on a core for the duration (nothing when not ``busy``)."""
    if not busy:
        yield
        return
    process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.5)  # scheduled and spinning
    try:
        yield
    finally:
        process.kill()
        process.wait()


def aekit(args: argparse.Namespace, out: Path, *extra: str) -> list[str]:
    script = str(Path(sys.executable).with_name("aekit"))
    return [script, "train", "--dataset", "mnist", "--data-dir", args.data_dir, "--epochs",
            str(args.epochs), "--quiet", "--out", str(out), *extra]  # fmt: skip


def aekit_epoch(args: argparse.Namespace, work: Path, busy: bool, *extra: str) -> float:
    out = work / f"run-{time.monotonic_ns()}"
    with competitor(busy):
        subprocess.run(aekit(args, out, *extra), check=True, capture_output=True)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return statistics.median(row["seconds"] for row in rows[1:])


def plain_epoch(args: argparse.Namespace, busy: bool) -> float:
    command = [sys.executable, str(HERE / "train_throughput.py"), "--variant", "plain",
               "--dataset", "mnist", "--data-dir", args.data_dir, "--epochs",
               str(args.plain_epochs)]  # fmt: skip
    with competitor(busy):
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    seconds = json.loads(out.strip().splitlines()[-1])["epoch_seconds"]
    return statistics.median(seconds[1:])


def two_runs(args: argparse.Namespace, work: Path, together: bool) -> float:
    """Wall time of two ``aekit train`` processes, started together or one after the other."""
    outs = [work / f"pair-{time.monotonic_ns()}-{i}" for i in range(2)]
    start = time.perf_counter()
    if together:
        processes = [subprocess.Popen(aekit(args, out), stdout=subprocess.DEVNULL) for out in outs]
        if any(p.wait() != 0 for p in processes):
            raise RuntimeError("a concurrent run failed")
    else:
        for out in outs:
            subprocess.run(aekit(args, out), check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--plain-epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    default = str(torch.get_num_threads())
    fixed = ("--threads", default)
    variants = {
        "aekit, quiet": lambda w: aekit_epoch(args, w, False),
        "aekit, busy": lambda w: aekit_epoch(args, w, True),
        f"aekit --threads {default}, quiet": lambda w: aekit_epoch(args, w, False, *fixed),
        f"aekit --threads {default}, busy": lambda w: aekit_epoch(args, w, True, *fixed),
        "plain, quiet": lambda w: plain_epoch(args, False),
        "plain, busy": lambda w: plain_epoch(args, True),
        "two aekit runs, one after the other": lambda w: two_runs(args, w, False),
        "two aekit runs, together": lambda w: two_runs(args, w, True),
    }  # fmt: skip
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for name, measure in variants.items():
                seconds[name].append(measure(Path(tmp)))
                print(f"round {round_ + 1}: {name}: {seconds[name][-1]:.3f} s", flush=True)
    median = {name: statistics.median(values) for name, values in seconds.items()}
    print(f"\n{torch.get_num_threads()} threads by default; medians of {args.rounds} rounds")
    print("| variant | seconds (epoch, or both runs) | ratio |")
    print("|---|---:|---:|")
    for stem in ("aekit", f"aekit --threads {default}", "plain"):
        quiet, busy = median[f"{stem}, quiet"], median[f"{stem}, busy"]
        print(f"| {stem}, quiet | {quiet:.3f} | |")
        print(f"| {stem}, busy | {busy:.3f} | {busy / quiet:.2f}x its quiet epoch |")
    alone = median["two aekit runs, one after the other"]
    both = median["two aekit runs, together"]
    print(f"| two aekit runs, one after the other | {alone:.1f} | |")
    print(f"| two aekit runs, together | {both:.1f} | {both / alone:.2f}x one after the other |")


if __name__ == "__main__":
    main()
