"""How long the literature's likelihood number takes: K = 5000 on all 10,000 MNIST test digits.

Burda et al.'s one-stochastic-layer VAE (784-200-200-50, tanh) is trained with ``aekit train``
on dynamically binarized MNIST; then, in this one run:

- ``aekit evaluate RUN --iw-samples 5000 --json`` on the whole test set, as a user types it
  (whole process), in fp32 and with ``--iw-precision bf16``;
- the textbook estimator a user would write (per digit: K draws, decode them all, BCE with
  logits, log-sum-exp in float64), timed on ``--plain-examples`` digits, whose NLL must agree
  with aekit's on the same digits within the standard error of their difference;
- the error bf16 adds: per-digit differences between fp32 and bf16 estimates drawn from the
  same random numbers, on ``--error-examples`` digits;
- the floor: the decoder's FLOPs per digit at the fp32 matrix-product speed of the decoder's own
  layer shapes, measured here in the same run.

Goal (the performance issue): the full test set at K = 5000 in at most 5 minutes here, with the
same NLL as the textbook estimator within its standard error.

    python benchmarks/likelihood_speed.py --data-dir /work/shared/data --epochs 5
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

GOAL_SECONDS = 300
BURDA = ["--model", "vae", "--hidden", "200,200", "--latent-dim", "50", "--activation", "tanh"]


def aekit_command(*arguments: str) -> list[str]:
    return [str(Path(sys.executable).with_name("aekit")), *arguments]


def train_run(args: argparse.Namespace, work: Path) -> Path:
    run = work / "burda-vae"
    command = aekit_command(
        "train", *BURDA, "--dataset", "mnist", "--data-dir", args.data_dir,
        "--binarize", "dynamic", "--epochs", str(args.epochs), "--quiet", "--out", str(run),
    )  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    return run


def cli_estimate(run: Path, args: argparse.Namespace, precision: str) -> dict:
    """One whole ``aekit evaluate`` process: its wall time and the metrics it printed."""
    command = aekit_command(
        "evaluate", str(run), "--iw-samples", str(args.iw_samples),
        "--iw-precision", precision, "--json",
    )  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, **json.loads(done.stdout)}


@torch.no_grad()
def plain_estimate(model, x: torch.Tensor, samples: int, seed: int) -> torch.Tensor:
    """The importance-weighted estimate as the textbook writes it, one digit at a time."""
    generator = torch.Generator().manual_seed(seed)
    results = []
    for digit in x:
        mean, logvar = model.encode_dist(digit[None])
        eps = torch.randn(samples, mean.shape[1], generator=generator)
        z = mean + eps * torch.exp(0.5 * logvar)
        log_q = -0.5 * (eps.square() + logvar + math.log(2 * math.pi)).sum(1)
        log_p = -0.5 * (z.square() + math.log(2 * math.pi)).sum(1)
        logits = model.decode(z).flatten(1)
        target = digit.flatten().expand_as(logits)
        log_px_z = -F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(1)
        weights = (log_px_z + log_p - log_q).double()
        results.append(torch.logsumexp(weights, 0) - math.log(samples))
    return torch.stack(results)


def decoder_floor(model, samples: int) -> tuple[float, float]:
    """Seconds per digit the decoder's matrix products take at the fp32 speed of its own
    layer shapes (DECODE_ROWS rows, best of several), and that speed in GFLOP/s."""
    from aekit.evaluation.likelihood import DECODE_ROWS

    layers = [m for m in model.decoder.modules() if isinstance(m, torch.nn.Linear)]
    flops = seconds = 0.0
    for layer in layers:
        a = torch.randn(DECODE_ROWS, layer.in_features)
        weight = layer.weight.detach()
        for _ in range(3):
            F.linear(a, weight, layer.bias)
        start = time.perf_counter()
        for _ in range(50):
            F.linear(a, weight, layer.bias)
        seconds += (time.perf_counter() - start) / 50
        flops += 2 * DECODE_ROWS * layer.in_features * layer.out_features
    per_digit = seconds * samples / DECODE_ROWS
    return per_digit, flops / seconds / 1e9


def library_comparisons(run: Path, args: argparse.Namespace) -> dict:
    from aekit.evaluation.likelihood import blockwise_log_likelihood
    from aekit.runs import open_run

    opened = open_run(run)
    model, test = opened.model.cpu().eval(), opened.data.test
    plain_x = test.x[: args.plain_examples]
    start = time.perf_counter()
    plain = plain_estimate(model, plain_x, args.iw_samples, seed=1)
    plain_seconds = (time.perf_counter() - start) / len(plain_x)
    start = time.perf_counter()
    ours = blockwise_log_likelihood(model, plain_x, None, args.iw_samples, seed=0)
    ours_seconds = (time.perf_counter() - start) / len(plain_x)
    gap = ours - plain  # independent random numbers: a difference of two noisy estimates
    error_x = test.x[: args.error_examples]
    fp32 = blockwise_log_likelihood(model, error_x, None, args.iw_samples, seed=0)
    bf16 = blockwise_log_likelihood(model, error_x, None, args.iw_samples, 0, precision="bf16")
    error = (bf16 - fp32).double()
    floor, gflops = decoder_floor(model, args.iw_samples)
    return {
        "plain_ms": 1e3 * plain_seconds,
        "ours_ms": 1e3 * ours_seconds,
        "nll_gap": -gap.mean().item(),
        "nll_gap_stderr": (gap.std() / math.sqrt(len(gap))).item(),
        "bf16_mean": -error.mean().item(),
        "bf16_stderr": (error.std() / math.sqrt(len(error))).item(),
        "bf16_sd": error.std().item(),
        "bf16_max": error.abs().max().item(),
        "floor_ms": 1e3 * floor,
        "gflops": gflops,
    }


def report(cli: dict[str, dict], lib: dict, args: argparse.Namespace) -> None:
    examples = cli["fp32"]["iw_examples"]
    print(f"K = {args.iw_samples}, {examples} test digits, {args.epochs}-epoch Burda MLP VAE")
    print("| estimate | whole process (s) | ms per digit | NLL (nats) | goal |")
    print("|---|---:|---:|---:|---|")
    for precision, row in cli.items():
        verdict = "met" if row["seconds"] <= GOAL_SECONDS else "missed"
        nll = f"{row['nll_iw']:.2f} ± {row['nll_iw_stderr']:.2f}"
        per_digit = 1e3 * row["seconds"] / examples
        print(
            f"| aekit evaluate, {precision} | {row['seconds']:.0f} | {per_digit:.1f} | {nll} "
            f"| ≤ {GOAL_SECONDS} s {verdict} |"
        )
    print(
        f"\nTextbook estimator on the first {args.plain_examples} digits: "
        f"{lib['plain_ms']:.1f} ms per digit against aekit's {lib['ours_ms']:.1f} "
        f"({lib['plain_ms'] / lib['ours_ms']:.2f}x); NLL aekit - textbook = "
        f"{lib['nll_gap']:+.3f} ± {lib['nll_gap_stderr']:.3f} nats."
    )
    print(
        f"bf16 - fp32 on the first {args.error_examples} digits (same random numbers): mean "
        f"{lib['bf16_mean']:+.4f} ± {lib['bf16_stderr']:.4f} nats, per-digit sd "
        f"{lib['bf16_sd']:.4f}, largest {lib['bf16_max']:.4f}."
    )
    print(
        f"Decoder floor: {lib['floor_ms']:.1f} ms per digit at {lib['gflops']:.0f} GFLOP/s "
        f"(fp32, its own layer shapes); aekit fp32 runs at "
        f"{lib['floor_ms'] / lib['ours_ms']:.0%} of it."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--iw-samples", type=int, default=5000)
    parser.add_argument("--plain-examples", type=int, default=300)
    parser.add_argument("--error-examples", type=int, default=1000)
    parser.add_argument("--run", help="reuse this trained run instead of training one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(args.run) if args.run else train_run(args, Path(tmp))
        cli = {precision: cli_estimate(run, args, precision) for precision in ("fp32", "bf16")}
        lib = library_comparisons(run, args)
    report(cli, lib, args)


if __name__ == "__main__":
    main()
