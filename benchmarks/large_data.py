"""Data larger than memory: ``aekit train`` on 1,000,000 real digits in a memory-mapped .npy.

The array is MNIST's 60,000 training digits, each shifted by up to 2 pixels in 17 ways
(uint8, 784 MB), written once to ``--work`` in chunks (it is never whole in this process's
memory). Each variant is ``aekit train`` as a user runs it, in a fresh process (its peak
resident memory is that process's own): the whole command (data loading, one epoch of the
default ``ae`` at batch 128, validation, checkpoint and figures), ``--rounds`` times in
alternating order; the table keeps each variant's fastest round (load only adds time):

- ``mapped``: ``--dataset digits-1m.npy``, memory-mapped, split by row indices;
- ``in memory``: ``--dataset digits-1m.npz``, the same bytes read into memory first.

Throughput is training examples per second of the epoch (validation included, as in the
metrics' ``seconds``). Goal (the data-larger-than-memory issue): the mapped run peaks under
1.5 GiB and trains within 10% of the in-memory run's throughput.

    python benchmarks/large_data.py --data-dir ../shared/data --work /tmp/aekit-large
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from aekit.data.sources import load_source

EXAMPLES = 1_000_000
SHIFTS = [(dy, dx) for dy in (-2, -1, 0, 1, 2) for dx in (-2, -1, 0, 1, 2)][:17]


def shifted(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """The images moved by (dy, dx) pixels, blank where they moved away from."""
    out = np.zeros_like(images)
    h, w = images.shape[-2:]
    src = images[..., max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
    out[..., max(0, dy) : h - max(0, -dy), max(0, dx) : w - max(0, -dx)] = src
    return out


def build(data_dir: str, work: Path) -> tuple[Path, Path]:
    """digits-1m.npy (written through a memory map) and digits-1m.npz (the same array)."""
    npy, npz = work / "digits-1m.npy", work / "digits-1m.npz"
    if npy.is_file() and npz.is_file():
        return npy, npz
    work.mkdir(parents=True, exist_ok=True)
    digits = load_source("mnist", data_dir).x_train[:, 0]  # (60000, 28, 28) uint8
    out = np.lib.format.open_memmap(npy, mode="w+", dtype=np.uint8, shape=(EXAMPLES, 28, 28))
    start = 0
    for dy, dx in SHIFTS:
        part = shifted(digits, dy, dx)[: EXAMPLES - start]
        out[start : start + len(part)] = part
        start += len(part)
    out.flush()
    del out
    np.savez(npz, x=np.load(npy, mmap_mode="r"))
    return npy, npz


def train_once(dataset: Path) -> dict:
    """One ``aekit train`` process; its seconds, peak memory and epoch throughput."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "aekit", "train", "--quiet", "--epochs", "1"]
        command += ["--dataset", str(dataset), "--out", f"{tmp}/run"]
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own resource usage
        seconds = time.perf_counter() - start
        if status != 0:
            raise SystemExit(f"aekit train failed: {child.stderr.read().decode()[-2000:]}")
        row = json.loads((Path(tmp) / "run" / "metrics.jsonl").read_text().splitlines()[-1])
        config = (Path(tmp) / "run" / "config.yaml").read_text()
    train_examples = round(EXAMPLES * 0.9 * 0.9)  # test_fraction, then val_fraction: 0.1
    return {
        "command_s": seconds,
        "peak_mib": usage.ru_maxrss / 1024,
        "examples_per_s": train_examples / row["seconds"],
        "val_loss": row["val_loss"],
        "config_ok": "digits-1m" in config,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="folder with mnist/ IDX files")
    parser.add_argument("--work", default="/tmp/aekit-large", help="where the arrays go")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    npy, npz = build(args.data_dir, Path(args.work))
    results: dict[str, list[dict]] = {"mapped": [], "in memory": []}
    for round_ in range(args.rounds):
        order = [("mapped", npy), ("in memory", npz)]
        for name, path in order if round_ % 2 == 0 else order[::-1]:
            results[name].append(train_once(path))
            print(name, results[name][-1], flush=True)
    print("| variant | command s | peak RSS MiB | train examples/s | val_loss |")
    print("|---|---|---|---|---|")
    best = {name: min(rows, key=lambda r: r["command_s"]) for name, rows in results.items()}
    for name, row in best.items():
        peak = f"{max(r['peak_mib'] for r in results[name]):.0f}"  # the worst round's
        print(
            f"| {name} | {row['command_s']:.1f} | {peak} | {row['examples_per_s']:.0f} | "
            f"{row['val_loss']:.5f} |"
        )
    ratio = best["mapped"]["examples_per_s"] / best["in memory"]["examples_per_s"]
    print(f"mapped / in-memory throughput: {ratio:.3f}")


if __name__ == "__main__":
    main()
