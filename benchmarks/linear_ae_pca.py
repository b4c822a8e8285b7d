"""Does ``linear-ae`` learn PCA's subspace (S6) at its defaults? And at the trainer's?

For each data set, code size and seed: ``aekit train --model linear-ae --latent-dim K
--epochs 40`` with the model's training defaults (batch 32, cosine-decayed step from 1e-2),
and the same with the trainer's general defaults (batch 128, constant 1e-3); the score is the
R^2 with which PCA-K's projections of the test images are predicted linearly from the codes
(1: the code spans PCA's subspace; a missing principal axis costs about 1/K).

    python benchmarks/linear_ae_pca.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import time

import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression

from aekit.config import RunConfig
from aekit.workflow import train

CASES = [
    ("mnist", 8000, 8),
    ("mnist-5k", None, 8),
    ("mnist-5k", None, 2),
    ("fashion-mnist", 8000, 8),
]
GENERAL = {"batch_size": 128, "lr": 1e-3, "lr_schedule": "constant"}


def recovery(dataset: str, limit: int | None, k: int, seed: int, data_dir, train_options) -> float:
    config = RunConfig.from_dict(
        {
            "model": {"name": "linear-ae", "latent_dim": k},
            "data": {"dataset": dataset, "data_dir": data_dir, "limit": limit},
            "train": {"epochs": 40, "seed": seed, **train_options},
        }
    )
    run = train(config, None)
    target = PCA(k).fit(run.data.train.x.flatten(1).numpy())
    target = target.transform(run.data.test.x.flatten(1).numpy())
    codes = run.encode(run.data.test).numpy()
    return LinearRegression().fit(codes, target).score(codes, target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="Folder with mnist/ and fashion-mnist/.")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| data | training examples | K | seed | R^2 at linear-ae's defaults | R^2 at the "
          "trainer's | seconds |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for dataset, limit, k in CASES:
        for seed in range(args.seeds):
            start = time.perf_counter()
            own = recovery(dataset, limit, k, seed, args.data_dir, {})
            general = recovery(dataset, limit, k, seed, args.data_dir, GENERAL)
            seconds = time.perf_counter() - start
            print(f"| {dataset} | {limit or 'all'} | {k} | {seed} | {own:.4f} | {general:.4f} | "
                  f"{seconds:.0f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
