"""The disentangling models on dSprites: MIG, FactorVAE score, DCI disentanglement and the
beta-VAE score, per model over several seeds, beside what the papers report.

    python benchmarks/zoo_representation.py dsprites --epochs 5 --seeds 0,1 --out repr.jsonl
    python benchmarks/zoo_representation.py table repr.jsonl

Each of ``vae``, ``beta-vae`` (beta 4, Higgins et al.), ``beta-tcvae`` (TC weight 6, Chen et
al.), ``factor-vae`` (gamma 35, Kim & Mnih) and ``dip-vae`` (DIP-VAE-I, lambda_od 10, Kumar et
al.) trains, as ``aekit train`` does, on aekit's ``dsprites`` (50,000 sprites drawn from
dSprites' factor grid) in the MLP network of Chen et al.'s dSprites experiments (4096-1200-
1200-10, ReLU; its mirror as the decoder), Adam 1e-3 (FactorVAE's discriminator at its own
rate), batch 64, each model's paper weights as aekit's defaults; then ``aekit evaluate
--disentanglement`` scores its codes of freshly drawn sprites (the same draws for every run).
One JSON line per run to ``--out``; ``table`` prints the mean and range per model.

The papers train for about 300,000 steps (some 400 epochs of these sprites); what a CPU
budget shows is stated with the results in benchmarks/RESULTS.md ("Representation zoo").
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

MLP = {"latent_dim": 10, "hidden": [1200, 1200], "activation": "relu"}
# name -> options beyond the network; the papers' weights are aekit's defaults. Chen et al.
# and Kim & Mnih report beta-TCVAE and FactorVAE above beta-VAE above VAE.
MODELS = {
    "vae": {},
    "beta-vae": {},
    "beta-tcvae": {},
    "factor-vae": {},
    "dip-vae": {"dip": "i"},
}
METRICS = ("mig", "factor_vae_score", "dci_disentanglement", "beta_vae_score")


def train_and_score(name: str, seed: int, args: argparse.Namespace) -> dict:
    from aekit.config import RunConfig
    from aekit.evaluation.report import evaluate
    from aekit.workflow import train

    options = MODELS[name]
    config = RunConfig.from_dict(
        {
            "model": {"name": name, **MLP, **options},
            "data": {"dataset": "dsprites", "limit": args.limit},
            "train": {"epochs": args.epochs, "batch_size": 64, "lr": 1e-3, "seed": seed},
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        run = train(config, Path(tmp) / name, figures=False, progress=True)
        seconds = time.perf_counter() - start
        scores = evaluate(run, disentanglement=True)
        last = run.history[-1]
    return {
        "model": name,
        "seed": seed,
        "epochs": args.epochs,
        "train_s": round(seconds, 1),
        "val_recon": last.get("val_recon"),
        "val_kl": last.get("val_kl"),
        **{metric: scores[metric] for metric in METRICS},
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
    }


def dsprites(args: argparse.Namespace) -> None:
    for name in args.models.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            row = train_and_score(name, seed, args)
            with open(args.out, "a") as handle:
                handle.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)


def table(path: Path) -> None:
    """Mean (and, over several seeds, the range) of every metric, per model."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    print(
        "| model | seeds | epochs | train time | recon | "
        + " | ".join(METRICS)
        + " |\n|"
        + "---|" * (len(METRICS) + 5)
    )
    for name in dict.fromkeys(row["model"] for row in rows):
        mine = [row for row in rows if row["model"] == name]
        cells = [_spread([row[metric] for row in mine]) for metric in METRICS]
        print(
            f"| `{name}` | {len(mine)} | {mine[0]['epochs']} | "
            f"{statistics.mean(row['train_s'] for row in mine) / 60:.1f} min | "
            f"{statistics.mean(row['val_recon'] for row in mine):.1f} | " + " | ".join(cells) + " |"
        )


def _spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="part", required=True)
    part = sub.add_parser("dsprites")
    part.add_argument("--models", default=",".join(MODELS))
    part.add_argument("--seeds", default="0,1")
    part.add_argument("--epochs", type=int, default=5)
    part.add_argument("--limit", type=int, help="train on the first N sprites (a smoke test)")
    part.add_argument("--out", type=Path, required=True)
    sub.add_parser("table").add_argument("path", type=Path)
    args = parser.parse_args()
    if args.part == "table":
        table(args.path)
    else:
        dsprites(args)


if __name__ == "__main__":
    main()
