"""Page faults: what keeping freed memory (``aekit.training.allocator``) and decoding the
importance-weighted NLL in slices (``aekit.evaluation.likelihood.DECODE_ROWS``) are worth.

Two measurements, each variant in a fresh process (the allocator setting is process-wide), the
whole set ``--rounds`` times in alternating order; the table keeps each variant's fastest
round, since a shared machine's load only ever adds time:

- training: ``aekit train --epochs 2`` on full MNIST for each of ``--models`` (the model's
  defaults, batch 128; the whole command: training, validation, checkpoints, figures), with
  glibc's default thresholds (the setting switched off) and with aekit's; seconds, page
  faults, peak resident memory and final validation loss (the same in both: the setting
  changes where memory comes from, not what is computed);
- likelihood: the IW estimate (K = ``--iw-samples``) of an untrained conv-vae on the first
  ``--iw-examples`` test digits as ``aekit evaluate`` computed it before (16,384 decoder rows
  at a time, glibc's default thresholds) and now (``DECODE_ROWS``, aekit's thresholds);
  seconds, page faults and peak resident memory.

    python benchmarks/page_faults.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

import torch

from aekit.cli import main as cli_main
from aekit.config import DataConfig
from aekit.data import prepare_data
from aekit.evaluation import likelihood
from aekit.models import build_model
from aekit.runs import Run
from aekit.training import allocator

OLD_DECODE_ROWS = 16384


def faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def train_variant(args: argparse.Namespace, model: str, keep: bool) -> dict[str, Any]:
    """``aekit train`` as a user runs it, with aekit's allocator setting or glibc's default."""
    if not keep:
        allocator.keep_freed_memory = lambda: False
    with tempfile.TemporaryDirectory() as tmp:
        argv = ["train", "--quiet", "--model", model, "--dataset", args.dataset]
        argv += ["--epochs", str(args.epochs), "--out", f"{tmp}/run"]
        argv += ["--data-dir", args.data_dir] if args.data_dir else []
        before, start = faults(), time.perf_counter()
        with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):
            cli_main(argv)
        seconds = time.perf_counter() - start
        last = Run.open(f"{tmp}/run").read_metrics()[-1]
    return {
        "seconds": seconds,
        "faults": faults() - before,
        "loss": last["val_loss"],
        "peak_mib": peak_mib(),
    }


def likelihood_variant(args: argparse.Namespace, decode_rows: int, keep: bool) -> dict[str, Any]:
    """The IW estimate of an untrained conv-vae, decoding ``decode_rows`` rows at a time, with
    aekit's allocator setting (as every ``aekit`` command has it) or glibc's default."""
    if keep:
        allocator.keep_freed_memory()
    likelihood.DECODE_ROWS = decode_rows
    data = prepare_data(DataConfig(dataset=args.dataset, data_dir=args.data_dir))
    torch.manual_seed(0)
    model = build_model({"name": "conv-vae"}, data.shape).eval()
    x = data.test.x[: args.iw_examples]
    generator = torch.Generator().manual_seed(0)
    before, start = faults(), time.perf_counter()
    nll = -likelihood.iwae_log_likelihood(model, x, None, args.iw_samples, generator).mean()
    return {
        "seconds": time.perf_counter() - start,
        "faults": faults() - before,
        "peak_mib": peak_mib(),
        "nll": nll.item(),
    }


def spawn(args: argparse.Namespace, variant: str) -> dict[str, Any]:
    """Run one variant in a fresh Python process and read its JSON line."""
    cmd = [sys.executable, __file__, "--variant", variant, "--dataset", args.dataset]
    cmd += ["--epochs", str(args.epochs), "--iw-samples", str(args.iw_samples)]
    cmd += ["--iw-examples", str(args.iw_examples)]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_variant(args: argparse.Namespace) -> dict[str, Any]:
    """``train:MODEL:default|keep`` or ``iw:ROWS:default|keep``."""
    kind, what, allocator = args.variant.split(":")
    if kind == "train":
        return train_variant(args, what, keep=allocator == "keep")
    return likelihood_variant(args, int(what), keep=allocator == "keep")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--models", default="ae,conv-ae,conv-vae")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--iw-samples", type=int, default=1000)
    parser.add_argument("--iw-examples", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args)))
        return

    pairs = [(f"train:{m}:default", f"train:{m}:keep") for m in args.models.split(",")]
    pairs.append((f"iw:{OLD_DECODE_ROWS}:default", f"iw:{likelihood.DECODE_ROWS}:keep"))
    best: dict[str, dict[str, Any]] = {}
    for r in range(args.rounds):
        for pair in pairs:
            for variant in pair if r % 2 == 0 else pair[::-1]:
                result = spawn(args, variant)
                print(f"round {r + 1} {variant}: {result['seconds']:.1f} s", file=sys.stderr)
                if variant not in best or result["seconds"] < best[variant]["seconds"]:
                    best[variant] = result
    print_tables(args, pairs, best)


def print_tables(args: argparse.Namespace, pairs, best: dict[str, dict[str, Any]]) -> None:
    print(f"{args.rounds} rounds, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"`aekit train --epochs {args.epochs}` (whole command, model defaults, batch 128):")
    print("| model | glibc default | aekit | speed-up | page faults | peak RSS | final val_loss |")
    print("|---|---|---|---|---|---|---|")
    for old, new in pairs[:-1]:
        a, b = best[old], best[new]
        print(
            f"| `{old.split(':')[1]}` | {a['seconds']:.1f} s | {b['seconds']:.1f} s "
            f"| {a['seconds'] / b['seconds']:.2f}x | {a['faults']:,} -> {b['faults']:,} "
            f"| {a['peak_mib']:,.0f} -> {b['peak_mib']:,.0f} MiB "
            f"| {a['loss']:.5f} / {b['loss']:.5f} |"
        )
    a, b = best[pairs[-1][0]], best[pairs[-1][1]]
    print(f"\nconv-vae IW NLL, K={args.iw_samples}, {args.iw_examples} digits:")
    print("| | decoder rows per pass | seconds | page faults | peak RSS | NLL |")
    print("|---|---|---|---|---|---|")
    for label, rows, r in (("before", OLD_DECODE_ROWS, a), ("aekit", likelihood.DECODE_ROWS, b)):
        print(
            f"| {label} | {rows:,} | {r['seconds']:.2f} | {r['faults']:,} "
            f"| {r['peak_mib']:,.0f} MiB | {r['nll']:.4f} |"
        )


if __name__ == "__main__":
    main()
