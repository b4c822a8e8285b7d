"""Which models ``--compile`` speeds up: ``aekit train`` with and without it, model by model.

Each run is the whole command a user types (``aekit train --model M --epochs E``, the model's
defaults, batch 128), in its own process, ``--rounds`` times in alternating order; the table
keeps each epoch's fastest round (a shared machine's load only ever adds time). The epoch
times come from the run's own ``metrics.jsonl`` (training, validation and checkpoint).
"Epochs 2+" is the steady state. The runs share an aekit cache of their own, empty at the
start: the first ``--compile`` run of a model builds its step there and later ones load it.
"build s" and "load s" are how much longer epoch 1 took than a steady epoch in the first run
and, at best, in the later runs.

    python benchmarks/compile_models.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch


def run_train(args: argparse.Namespace, model: str, compile_step: bool, cache: str) -> list[dict]:
    """One ``aekit train`` in a fresh process with aekit's cache in ``cache``; its per-epoch
    metrics rows."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "aekit", "train", "--model", model, "--quiet"]
        cmd += ["--dataset", args.dataset, "--limit", str(args.limit)]
        cmd += ["--epochs", str(args.epochs), "--out", f"{tmp}/run"]
        if args.data_dir:
            cmd += ["--data-dir", args.data_dir]
        if compile_step:
            cmd.append("--compile")
        env = {**os.environ, "AEKIT_CACHE_DIR": cache}
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
        lines = Path(f"{tmp}/run/metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--models", default="ae,vae,conv-ae,conv-vae")
    parser.add_argument("--limit", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    print(
        f"{args.dataset}, first {args.limit} training examples, {args.epochs} epochs, "
        f"{args.rounds} rounds, {torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    print("| model | eager s/epoch (2+) | --compile s/epoch (2+) | speed-up | build s | load s |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as cache:
        for model in args.models.split(","):
            print(model_row(args, model, cache))


def model_row(args: argparse.Namespace, model: str, cache: str) -> str:
    """The table row of one model: each epoch's fastest round, with and without --compile."""
    best, first_compiled = {}, None
    for r in range(args.rounds):
        for compile_step in (False, True) if r % 2 == 0 else (True, False):
            seconds = [row["seconds"] for row in run_train(args, model, compile_step, cache)]
            if compile_step and first_compiled is None:
                first_compiled = seconds[0]
            old = best.get(compile_step, seconds)
            best[compile_step] = [min(a, b) for a, b in zip(old, seconds)]
    eager, compiled = (statistics.fmean(best[c][1:]) for c in (False, True))
    build, load = first_compiled - compiled, best[True][0] - compiled
    return (
        f"| {model} | {eager:.2f} | {compiled:.2f} | {eager / compiled:.2f}x "
        f"| {build:.1f} | {load:.1f} |"
    )


if __name__ == "__main__":
    main()
