"""Inpainting on MNIST: aekit's completions beside the mean image, nearest neighbour and PCA.

A VAE and a plain autoencoder (the same 784-512-256-16 MLP) are trained with ``aekit train``
on the 60,000 MNIST training digits; then ``aekit inpaint RUN --mask MASK --json`` runs as a
user types it on the first ``--examples`` test digits for three masks: the centre square
(14 x 14, a quarter of the image), the bottom half (rows 14-27), and half the pixels at
random. The VAE is scored with Metropolis-within-Gibbs, pseudo-Gibbs and reconstruct-and-keep;
the autoencoder with reconstruct-and-keep. The baselines (mean training image, the training
digit nearest on the known pixels, probabilistic PCA with as many components as the code)
come from the same command on the same masks. Prints a Markdown table for RESULTS.md.

    python benchmarks/inpainting.py --data-dir /work/shared/data --epochs 10
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MASKS = ("center:14", "rows:14-27", "random:0.5")
NETWORK = ["--hidden", "512,256", "--latent-dim", "16"]


def aekit(*arguments: str) -> str:
    command = [str(Path(sys.executable).with_name("aekit")), *arguments]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def train_runs(args: argparse.Namespace, work: Path) -> dict[str, Path]:
    runs = {}
    for model in ("vae", "ae"):
        runs[model] = work / model
        aekit(
            "train", "--model", model, *NETWORK, "--dataset", "mnist",
            "--data-dir", args.data_dir, "--epochs", str(args.epochs), "--quiet",
            "--out", str(runs[model]),
        )  # fmt: skip
    return runs


def inpaint(run: Path, mask: str, method: str, args: argparse.Namespace) -> dict:
    start = time.perf_counter()
    out = aekit(
        "inpaint", str(run), "--mask", mask, "--method", method, "-n", str(args.examples),
        "--out", str(run / f"inpaint-{method}-{mask.replace(':', '-')}.png"), "--json",
    )  # fmt: skip
    return {**json.loads(out), "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--examples", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        runs = train_runs(args, Path(folder))
        rows = {}
        for mask in MASKS:
            results = [inpaint(runs["vae"], mask, m, args) for m in ("metropolis", "pseudo-gibbs")]
            results += [inpaint(runs["vae"], mask, "iterate", args)]
            results += [inpaint(runs["ae"], mask, "iterate", args)]
            rows[mask] = results
    print(f"{args.examples} test digits; models trained {args.epochs} epochs on 60,000")
    print("| mask | completion | MSE | PSNR (dB) | seconds |")
    print("|---|---|---|---|---|")
    for mask, results in rows.items():
        for name, score in results[0]["scores"].items():
            if name != "model":
                print(f"| {mask} | {name} | {score['mse']:.4f} | {score['psnr_db']:.2f} | |")
        for model, result in zip(("vae", "vae", "vae", "ae"), results):
            score, accepted = result["scores"]["model"], result["acceptance"]
            extra = "" if accepted is None else f", {100 * accepted:.0f}% accepted"
            label = f"{model}, {result['method']} ({result['iterations']} steps{extra})"
            line = f"| {mask} | {label} | {score['mse']:.4f} | {score['psnr_db']:.2f} |"
            print(f"{line} {result['seconds']:.1f} |")


if __name__ == "__main__":
    main()
