"""Test-set log-likelihood of ``vae`` and ``conv-vae`` on dynamically binarized MNIST.

Trains each model on full MNIST (binarized afresh every batch), then reports the test ELBO on
all 10,000 test digits and the importance-weighted NLL estimate (Burda et al. 2015, K = 5000
by default) on the first ``--iw-examples`` of them, with its standard error and bits/dim, and
the training and evaluation times on this machine. The literature's reference: 86.76 nats for
a one-layer MLP VAE trained for 3,280 epochs (Burda et al. 2015, table 1, VAE k = 1).

    PYTHONPATH=src python benchmarks/likelihood.py --data-dir /work/shared/data \\
        --epochs vae=20 --epochs conv-vae=3 --iw-examples vae=1000 --iw-examples conv-vae=100

The ``vae`` uses Burda et al.'s one-stochastic-layer architecture (two tanh layers of 200
units, 50 latent units); ``conv-vae`` is aekit's default (the TensorFlow tutorial's, 50 latent).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from aekit.config import RunConfig
from aekit.evaluation import evaluate_model
from aekit.evaluation.likelihood import likelihood_metrics
from aekit.workflow import train

MODELS = {
    "vae": {"name": "vae", "latent_dim": 50, "hidden": [200, 200], "activation": "tanh"},
    "conv-vae": {"name": "conv-vae", "latent_dim": 50},
}
LITERATURE_NLL = 86.76


def per_model(values: list[str], default: int) -> dict[str, int]:
    """``["vae=20", "conv-vae=3"]`` -> ``{"vae": 20, "conv-vae": 3}``, others ``default``."""
    chosen = dict.fromkeys(MODELS, default)
    for item in values:
        name, _, number = item.partition("=")
        if name not in MODELS or not number.isdigit():
            raise SystemExit(f"expected MODEL=N with MODEL one of {', '.join(MODELS)}: {item!r}")
        chosen[name] = int(number)
    return chosen


def benchmark(
    name: str, epochs: int, iw_examples: int, args: argparse.Namespace, runs: Path
) -> dict:
    config = RunConfig.from_dict(
        {
            "model": MODELS[name],
            "data": {"dataset": "mnist", "data_dir": args.data_dir, "binarize": "dynamic"},
            "train": {"epochs": epochs, "batch_size": args.batch_size, "lr": args.lr, "seed": 0},
        }
    )
    start = time.perf_counter()
    run = train(config, runs / name, figures=False, log=print)
    train_seconds = time.perf_counter() - start
    test = run.data.test
    model = run.model.cpu().eval()
    subset = test.subset(iw_examples)
    start = time.perf_counter()
    likelihood = likelihood_metrics(model, subset, args.iw_samples, binarized=True, seed=0)
    return {
        "model": name,
        "epochs": epochs,
        "train_seconds": round(train_seconds, 1),
        "test_elbo": evaluate_model(model, test)["elbo"],
        "subset_elbo": evaluate_model(model, subset)["elbo"],
        **likelihood,
        "iw_seconds": round(time.perf_counter() - start, 1),
    }


def markdown(rows: list[dict]) -> str:
    lines = [
        "| model | epochs | train time | -ELBO, 10,000 test | -ELBO, IW examples "
        "| NLL, IW estimate (examples, K) | bits/dim | IW time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| `{r['model']}` | {r['epochs']} | {r['train_seconds'] / 60:.1f} min "
            f"| {-r['test_elbo']:.2f} | {-r['subset_elbo']:.2f} "
            f"| {r['nll_iw']:.2f} ± {r['nll_iw_stderr']:.2f} "
            f"({r['iw_examples']}, K={r['iw_samples']}) | {r['bits_per_dim']:.4f} "
            f"| {r['iw_seconds'] / 60:.1f} min |"
        )
    reference = f"{LITERATURE_NLL} (10,000, K=5000)"
    lines.append(f"| Burda et al. 2015, MLP VAE | 3,280 | - | - | - | {reference} | - | - |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, help="Folder holding mnist/ IDX files.")
    parser.add_argument("--epochs", action="append", default=[], metavar="MODEL=N")
    parser.add_argument("--iw-examples", action="append", default=[], metavar="MODEL=N")
    parser.add_argument("--iw-samples", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--models", default=",".join(MODELS), help="Comma-separated subset.")
    parser.add_argument("--threads", type=int, help="torch threads. Default: torch's choice.")
    parser.add_argument("--json", help="Also write the rows to this JSON file.")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    epochs = per_model(args.epochs, 10)
    iw_examples = per_model(args.iw_examples, 10_000)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor()}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            rows.append(benchmark(name, epochs[name], iw_examples[name], args, Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    print(markdown(rows))


if __name__ == "__main__":
    main()
