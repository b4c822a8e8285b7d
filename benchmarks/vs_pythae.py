"""aekit against pythae on pythae's own default MNIST VAE: whole processes, the same arrays.

The job is the one a pythae user starts with: pythae's default networks for a (1, 28, 28)
input (``Encoder_VAE_MLP`` / ``Decoder_AE_MLP``: 784-512-16, ReLU, sigmoid output), BCE, batch
100, Adam 1e-3, 3 epochs, on MNIST binarized once at 0.5 (aekit's 54,000 / 6,000 split of the
60,000 training digits; pythae reads them from .npy files written beforehand). Every round
times two whole processes from start to exit, alternating which goes first: pythae's
``TrainingPipeline``, and ``aekit train --model vae --hidden 512 --latent-dim 16 ...`` in
aekit's own interpreter (``--aekit``). Then one evaluator, aekit's importance-weighted
estimate with the same random numbers, gives the test NLL of the last round's two models on
the same test digits, and their paired difference with its standard error.

The training step's speed is reported against the machine: the FLOPs of aekit's epochs
(forward and backward matrix products of every step, forward ones of validation) over the
epochs' time (``seconds`` in the run's metrics.jsonl), as a fraction of the fp32
matrix-product peak measured in aekit's interpreter in the same run (the best of a large
square product and the network's own shapes).

Goals (the performance issue): pythae's whole process at least 3x aekit's at the same test
NLL; aekit's MLP training step at least half of the fp32 matrix-product peak.

    /work/peers/bin/python benchmarks/vs_pythae.py --data-dir /work/shared/data \\
        --aekit .venv/bin/python --rounds 3 --variant fp32= \\
        --variant "compile-bf16=--compile --precision bf16"

Each ``--variant NAME=OPTIONS`` is an ``aekit train`` with those options added, timed in the
same rounds (default: ``fp32=``, aekit's defaults); a ``--compile`` variant's step is built
by an untimed warm-up run first, as any earlier run on the machine leaves it.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from fixed_cost import timed
from pythae_side import data_config
from zoo_likelihood import PythaeAsAekit

HIDDEN, LATENT, BATCH = 512, 16, 100
SPEEDUP_GOAL, PEAK_GOAL = 3.0, 0.5


class DefaultPythaeVAE(PythaeAsAekit):
    """pythae's default VAE seen by aekit's evaluator: its decoder's logits are the output of
    the last Linear, before the Sigmoid."""

    def decode(self, z, y=None):
        first, last = self.model.decoder.layers
        return last[0](first(z)).reshape(len(z), 1, 28, 28)


def pythae_train(args: argparse.Namespace) -> None:
    """The pythae process: its default VAE, its pipeline, the arrays the driver wrote."""
    import numpy as np
    from pythae.models import VAE, VAEConfig
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig
    from safetensors.torch import save_file

    config = VAEConfig(input_dim=(1, 28, 28), latent_dim=LATENT, reconstruction_loss="bce")
    model = VAE(config)
    training = BaseTrainerConfig(
        output_dir=str(args.work / "pythae"),
        num_epochs=args.epochs,
        learning_rate=1e-3,
        per_device_train_batch_size=BATCH,
        per_device_eval_batch_size=BATCH,
        seed=0,
        no_cuda=True,
    )
    TrainingPipeline(model=model, training_config=training)(
        train_data=np.load(args.work / "train.npy"), eval_data=np.load(args.work / "val.npy")
    )
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, args.weights)


def pythae_command(args: argparse.Namespace, weights: Path) -> list[str]:
    return [
        sys.executable, __file__, "pythae-train", "--work", str(args.work),
        "--epochs", str(args.epochs), "--weights", str(weights),
    ]  # fmt: skip


def aekit_command(args: argparse.Namespace, out: Path, options: str = "") -> list[str]:
    return [
        args.aekit, "-m", "aekit", "train", "--model", "vae", "--hidden", str(HIDDEN),
        "--latent-dim", str(LATENT), "--activation", "relu", "--recon-loss", "bce",
        "--dataset", "mnist", "--data-dir", args.data_dir, "--binarize", "static",
        "--epochs", str(args.epochs), "--batch-size", str(BATCH), "--lr", "1e-3",
        "--seed", "0", "--quiet", "--out", str(out),
        *(["--limit", str(args.limit)] if args.limit else []), *options.split(),
    ]  # fmt: skip


def peak_gflops(args: argparse.Namespace) -> float:
    """fp32 matrix-product peak, measured in aekit's interpreter (threads as aekit's run)."""
    done = subprocess.run(
        [args.aekit, __file__, "peak"], check=True, capture_output=True, text=True
    )
    return float(done.stdout.strip())


def measure_peak() -> None:
    """Print the best GFLOP/s of a large square product and the network's own shapes."""
    shapes = [(2048, 2048, 2048), (BATCH, 784, HIDDEN), (BATCH, HIDDEN, 784)]
    best = 0.0
    for m, k, n in shapes:
        a, b = torch.randn(m, k), torch.randn(k, n)
        for _ in range(3):
            a @ b
        reps = max(3, int(2e10 / (2 * m * k * n)))
        start = time.perf_counter()
        for _ in range(reps):
            a @ b
        best = max(best, 2 * m * k * n * reps / (time.perf_counter() - start) / 1e9)
    print(best)


def epoch_flops(train: int, val: int) -> float:
    """Matrix-product FLOPs of one aekit epoch of this VAE over ``train`` and ``val``
    examples: every layer's forward product, its weight gradient and (except the first
    layer's) its input gradient per training example, the forward products per validation
    example."""
    layers = [(784, HIDDEN), (HIDDEN, 2 * LATENT), (LATENT, HIDDEN), (HIDDEN, 784)]
    forward = sum(2 * i * o for i, o in layers)
    backward = sum(4 * i * o for i, o in layers) - 2 * 784 * HIDDEN
    return train * (forward + backward) + val * forward


def step_fraction(run: Path, peak: float, train: int, val: int) -> float:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    seconds = statistics.median(row["seconds"] for row in rows)
    return epoch_flops(train, val) / seconds / 1e9 / peak


def test_nll(args, runs: dict[str, Path], weights: Path) -> dict:
    """Every model's test NLL from one evaluator, the same digits and random numbers, and
    each aekit model's paired difference from pythae's."""
    from pythae.models import VAE, VAEConfig
    from safetensors.torch import load_file

    from aekit.data.splits import prepare_data
    from aekit.evaluation.likelihood import blockwise_log_likelihood
    from aekit.runs.directory import open_run

    test = prepare_data(data_config(args.data_dir, args.limit)).test.subset(args.iw_examples)
    theirs = VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=LATENT, reconstruction_loss="bce"))
    theirs.load_state_dict(load_file(weights))
    models = {"pythae": DefaultPythaeVAE(theirs, "vae")}
    models |= {name: open_run(run).model.eval() for name, run in runs.items()}
    result: dict = {"examples": len(test)}
    with torch.no_grad():
        log_px = {
            name: blockwise_log_likelihood(model, test.x, None, args.iw_samples, seed=0)
            for name, model in models.items()
        }
    for name, values in log_px.items():
        result[name] = (-values.mean().item(), (values.std() / math.sqrt(len(values))).item())
        gap = log_px["pythae"] - values  # positive: this model's NLL is higher
        result[f"{name}-gap"] = (gap.mean().item(), (gap.std() / math.sqrt(len(gap))).item())
    return result


def write_arrays(args: argparse.Namespace) -> tuple[int, int]:
    import numpy as np

    from aekit.data.splits import prepare_data

    data = prepare_data(data_config(args.data_dir, args.limit))
    np.save(args.work / "train.npy", data.train.x.numpy())
    np.save(args.work / "val.npy", data.val.x.numpy())
    return len(data.train), len(data.val)


def compare(args: argparse.Namespace) -> None:
    variants = dict(item.partition("=")[::2] for item in args.variant)
    with tempfile.TemporaryDirectory() as tmp:
        args.work = Path(tmp)
        train, val = write_arrays(args)
        peak = peak_gflops(args)
        warm_up(args, variants)
        times: dict[str, list[float]] = {name: [] for name in ["pythae", *variants]}
        fractions: dict[str, list[float]] = {name: [] for name in variants}
        for round_ in range(args.rounds):
            weights = args.work / f"pythae-{round_}.safetensors"
            runs = {name: args.work / f"{name}-{round_}" for name in variants}
            commands = {"pythae": pythae_command(args, weights)}
            commands |= {n: aekit_command(args, runs[n], o) for n, o in variants.items()}
            order = (
                list(commands)[round_ % len(commands) :] + list(commands)[: round_ % len(commands)]
            )
            for name in order:  # each round starts with another process
                times[name].append(timed(commands[name]))
            for name, run in runs.items():
                fractions[name].append(step_fraction(run, peak, train, val))
            print(
                f"round {round_ + 1}: " + ", ".join(f"{n} {t[-1]:.1f} s" for n, t in times.items())
            )
        nll = test_nll(args, runs, weights)
    report(args, variants, times, fractions, peak, nll)


def warm_up(args: argparse.Namespace, variants: dict[str, str]) -> None:
    """One short untimed run per variant, which builds a ``--compile`` step into aekit's
    cache as a first run on a machine does (its time is printed, not counted)."""
    for name, options in variants.items():
        if "--compile" not in options:
            continue
        command = aekit_command(args, args.work / f"warm-{name}", options)
        command += ["--limit", "1000", "--epochs", "1"]
        print(f"warm-up of {name} (builds or loads the compiled step): {timed(command):.1f} s")


def report(args, variants, times, fractions, peak, nll) -> None:
    print(f"\n{args.rounds} rounds, {args.epochs} epochs, batch {BATCH}, 784-{HIDDEN}-{LATENT}")
    print(
        "| | options | whole process (s), median [range] | pythae / it | test NLL (nats) | "
        "NLL - pythae's (paired) | epochs' share of fp32 peak |\n|---|---|---|---|---|---|---|"
    )
    for name in times:
        t, (mean, stderr) = times[name], nll[name]
        ratio = statistics.median(p / a for p, a in zip(times["pythae"], t, strict=True))
        gap = "-" if name == "pythae" else "{:+.2f} ± {:.2f}".format(*nll[f"{name}-gap"])
        share = "-" if name == "pythae" else f"{statistics.median(fractions[name]):.0%}"
        print(
            f"| {'pythae' if name == 'pythae' else 'aekit ' + name} | "
            f"{variants.get(name) or '-'} | {statistics.median(t):.1f} [{min(t):.1f}-{max(t):.1f}] "
            f"| {ratio:.2f}x | {mean:.2f} ± {stderr:.2f} | {gap} | {share} |"
        )
    print(
        f"\nGoals: pythae / aekit >= {SPEEDUP_GOAL}x; epochs at >= {PEAK_GOAL:.0%} of the fp32 "
        f"matrix-product peak ({peak:.0f} GFLOP/s measured here). NLL on {nll['examples']} "
        f"test digits, K = {args.iw_samples}, the same random numbers for every model."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="part")
    worker = sub.add_parser("pythae-train")
    worker.add_argument("--work", type=Path, required=True)
    worker.add_argument("--epochs", type=int, required=True)
    worker.add_argument("--weights", type=Path, required=True)
    sub.add_parser("peak")
    parser.add_argument("--data-dir")
    parser.add_argument("--aekit", default=sys.executable, help="aekit's interpreter")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, help="train on the first N digits (a smoke test)")
    parser.add_argument("--iw-samples", type=int, default=1000)
    parser.add_argument("--iw-examples", type=int, default=5000)
    parser.add_argument(
        "--variant",
        action="append",
        help="NAME=AEKIT-TRAIN-OPTIONS, repeatable, each compared with pythae in the same "
        "rounds (default: fp32= , aekit's defaults)",
    )
    args = parser.parse_args()
    if args.part == "pythae-train":
        pythae_train(args)
    elif args.part == "peak":
        measure_peak()
    else:
        if not args.data_dir:
            parser.error("--data-dir is required")
        args.variant = args.variant or ["fp32="]
        compare(args)


if __name__ == "__main__":
    main()
