"""Training throughput: aekit's trainer against the plain PyTorch loop of the S1 article.

Every variant trains S1's model (784-256-8, ReLU everywhere, sigmoid output, MSE, Adam 1e-3) on
the same data with the same batch size for the same number of epochs:

- ``plain``: the S1 article's loop (a ``DataLoader`` over a tensor), as a user writes it;
- ``aekit-fp32``: aekit's trainer, same math in float32;
- ``aekit-bf16``: aekit's trainer with ``--precision bf16`` (mixed precision);
- ``aekit-fp32-compile``, ``aekit-bf16-compile``: the same with ``--compile`` (forward,
  backward and Adam in one compiled graph); epoch 1 includes loading the compiled step from
  aekit's cache, or building it there if the cache lacks it (the first round on a machine;
  the epoch-1 time of every round is printed);
- ``plain-ftz``: the plain loop with subnormal floats flushed to zero the way aekit's trainer
  does it (``aekit.training.subnormals``), to show how much of the gap that setting is alone.

Each variant runs in a fresh process (aekit's trainer changes process-wide CPU settings, which
must not leak into the plain loop), and the whole set runs ``--rounds`` times in a rotating
order with seeds 0, 1, ...: on a shared machine the load comes in bursts, and each epoch's
fastest round is steadier than one run. The bf16 loss is compared with fp32's as the mean over
the same seeds, and as the median of each seed's own change: one seed's final loss can move by
30% either way when a unit of the 8-d ReLU code dies in one run and not in the other, so use
ten rounds or more for that comparison.
Peak resident memory of ``aekit train`` on the full 60,000-image MNIST is measured last.

    python benchmarks/train_throughput.py --data-dir ../shared/data --epochs 10 --rounds 10
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import torch
from torch import nn, optim

from aekit.config import RunConfig
from aekit.data import prepare_data
from aekit.training import build_trainer
from aekit.training.subnormals import subnormals_flushed


class ArticleAutoEncoder(nn.Module):
    """S1's model exactly as the article writes it."""

    def __init__(self, num_hidden: int = 8) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, num_hidden), nn.ReLU()
        )
        self.decoder = nn.Sequential(
            nn.Linear(num_hidden, 256), nn.ReLU(), nn.Linear(256, 784), nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        encoded = self.encoder(x)
        return encoded, self.decoder(encoded)


def plain_loop(
    x_train: torch.Tensor, epochs: int, batch_size: int, seed: int
) -> tuple[list[float], float]:
    """The S1 article's training loop; returns (seconds per epoch, last epoch's mean loss)."""
    torch.manual_seed(seed)
    model = ArticleAutoEncoder()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.MSELoss()
    loader = torch.utils.data.DataLoader(x_train, batch_size=batch_size, shuffle=True)
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        total = 0.0
        for data in loader:
            _, decoded = model(data)
            loss = criterion(decoded, data)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * data.size(0)
        seconds.append(time.perf_counter() - start)
    return seconds, total / len(x_train)


# S1's model as aekit builds it (784-256-8, ReLU everywhere, MSE)
S1_MODEL = {
    "name": "ae",
    "latent_dim": 8,
    "hidden": [256],
    "activation": "relu",
    "code_activation": "relu",
    "recon_loss": "mse",
}


def aekit_config(args: argparse.Namespace, precision: str, compile_step: bool = False) -> RunConfig:
    return RunConfig.from_dict(
        {
            "model": S1_MODEL,
            "data": {"dataset": args.dataset, "data_dir": args.data_dir, "validation": "test"},
            "train": {
                "epochs": args.epochs,
                "batch_size": args.batch_size,
                "lr": 1e-3,
                "precision": precision,
                "compile": compile_step,
                "seed": args.seed,
                "device": "cpu",
            },
        }
    )


def aekit_loop(
    args: argparse.Namespace, precision: str, compile_step: bool, data
) -> tuple[list[float], float]:
    """aekit's trainer on the same data; returns (seconds per epoch, last epoch's mean loss).
    With ``compile_step``, epoch 1 includes compiling the step."""
    trainer = build_trainer(aekit_config(args, precision, compile_step), data)
    seconds = []
    with subnormals_flushed():  # as Trainer.fit trains
        for epoch in range(1, args.epochs + 1):
            start = time.perf_counter()
            metrics = trainer.train_epoch(data.train, epoch)
            seconds.append(time.perf_counter() - start)
    return seconds, metrics["train_loss"]


def run_variant(args: argparse.Namespace) -> dict[str, Any]:
    """Train one variant in this process (the child's side of ``--variant``)."""
    data = prepare_data(aekit_config(args, "fp32").data)
    if args.variant.startswith("aekit-"):
        precision, _, compiled = args.variant.removeprefix("aekit-").partition("-")
        seconds, loss = aekit_loop(args, precision, compiled == "compile", data)
    else:
        x_flat = data.train.x.reshape(len(data.train.x), -1)
        flushed = subnormals_flushed() if args.variant == "plain-ftz" else contextlib.nullcontext()
        with flushed:
            seconds, loss = plain_loop(x_flat, args.epochs, args.batch_size, args.seed)
    return {"epoch_seconds": seconds, "loss": loss, "examples": len(data.train.x)}


def spawn_variant(args: argparse.Namespace, variant: str, seed: int) -> dict[str, Any]:
    """Run one variant in a fresh Python process and read its JSON line."""
    cmd = [sys.executable, __file__, "--variant", variant, "--seed", str(seed)]
    cmd += ["--dataset", args.dataset, "--epochs", str(args.epochs)]
    cmd += ["--batch-size", str(args.batch_size)]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def peak_memory_mib(args: argparse.Namespace) -> float:
    """Peak RSS of a real `aekit train` on the full data set, in a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "aekit",
            "train",
            "--quiet",
            "--dataset",
            args.dataset,
            "--epochs",
            "1",
            "--hidden",
            "256",
            "--latent-dim",
            "8",
            "--out",
            f"{tmp}/run",
        ]
        if args.data_dir:
            cmd += ["--data-dir", args.data_dir]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


VARIANTS = {
    "plain": "plain PyTorch loop (S1 article)",
    "aekit-fp32": "aekit Trainer, fp32",
    "aekit-bf16": "aekit Trainer, --precision bf16",
    "aekit-fp32-compile": "aekit Trainer, --compile",
    "aekit-bf16-compile": "aekit Trainer, --compile, bf16",
    "plain-ftz": "plain loop, subnormals flushed",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variant", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args)))
        return

    names = list(VARIANTS)
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            results[name].append(spawn_variant(args, name, args.seed + r))
            seconds = sum(results[name][-1]["epoch_seconds"])
            print(f"round {r + 1}/{args.rounds} {name}: {seconds:.1f} s", file=sys.stderr)
    print_table(args, results)
    print(f"peak RSS of `aekit train` on {args.dataset}: {peak_memory_mib(args):.0f} MiB")


def print_table(args: argparse.Namespace, results: dict[str, list[dict[str, Any]]]) -> None:
    """Samples/s per variant and its ratio to the plain loop's, over all epochs and over epochs
    2+ (without ``--compile``'s one-time compilation, which falls in epoch 1), and the mean
    final loss over the seeds.

    The time of epoch e is the fastest of the rounds' epoch e: the load of a shared machine
    comes in bursts that slow any one run by up to 10x, and the minimum is what the code costs.
    Taken epoch by epoch (not the fastest whole run) so that slow-downs that grow with training
    (subnormals in the plain loop) stay in.
    """
    examples = results["plain"][0]["examples"]
    best = {
        name: [min(epoch) for epoch in zip(*(r["epoch_seconds"] for r in runs))]
        for name, runs in results.items()
    }
    speed = {name: examples * len(b) / sum(b) for name, b in best.items()}
    later = {name: examples * (len(b) - 1) / sum(b[1:]) for name, b in best.items()}
    loss = {name: statistics.fmean(r["loss"] for r in runs) for name, runs in results.items()}
    print(
        f"{examples} examples x {args.epochs} epochs, batch {args.batch_size}, "
        f"{args.rounds} rounds (seeds {args.seed}..{args.seed + args.rounds - 1}), "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    print(
        f"| {'loop':<34} | {'samples/s':>10} | {'speed-up':>8} | {'epochs 2+':>10} "
        f"| {'speed-up':>8} | {'mean final loss':>15} |"
    )
    print(f"|{'-' * 36}|{'-' * 12}|{'-' * 10}|{'-' * 12}|{'-' * 10}|{'-' * 17}|")
    for name, label in VARIANTS.items():
        ratio, later_ratio = speed[name] / speed["plain"], later[name] / later["plain"]
        print(
            f"| {label:<34} | {speed[name]:>10.0f} | {ratio:>7.2f}x | {later[name]:>10.0f} "
            f"| {later_ratio:>7.2f}x | {loss[name]:>15.5f} |"
        )
    for bf16, fp32 in (("aekit-bf16", "aekit-fp32"), ("aekit-bf16-compile", "aekit-fp32-compile")):
        change = 100 * (loss[bf16] - loss[fp32]) / loss[fp32]
        paired = statistics.median(
            100 * (b["loss"] - f["loss"]) / f["loss"] for b, f in zip(results[bf16], results[fp32])
        )
        print(
            f"{VARIANTS[bf16]}: mean final loss vs fp32's: {change:+.2f}%; "
            f"median over seeds of the same seed's change: {paired:+.2f}%"
        )
    for name, runs in results.items():
        print(
            f"{VARIANTS[name]}: final loss per seed " + ", ".join(f"{r['loss']:.5f}" for r in runs)
        )
    for name in ("aekit-fp32-compile", "aekit-bf16-compile"):
        firsts = ", ".join(f"{r['epoch_seconds'][0]:.2f}" for r in results[name])
        print(f"{VARIANTS[name]}: epoch 1 per round (s): {firsts}")


if __name__ == "__main__":
    main()
