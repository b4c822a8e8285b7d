"""One-class MNIST anomaly detection (the protocol of Ruff et al., "Deep One-Class
Classification", ICML 2018): for each digit d, train on the training images of d only, score
all 10,000 test images, and report the AUROC with d as the normal class; the mean over the ten
digits is the headline number (Deep SVDD: 94.8, their convolutional autoencoder: 89.7).

In the same run and on the same split, two scikit-learn baselines: PCA reconstruction error
with as many components as the autoencoder's code, and IsolationForest.

    PYTHONPATH=src python benchmarks/one_class_mnist.py --data-dir /work/shared/data
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

from aekit import AutoencoderAnomalyDetector
from aekit.data.raw import unit_array
from aekit.data.sources import load_source


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", help="Folder holding mnist/ (else $AEKIT_DATA_DIR).")
    parser.add_argument("--digits", default="0,1,2,3,4,5,6,7,8,9", help="Normal classes to run.")
    parser.add_argument("--model", default="ae", help="aekit model name (ae, conv-ae, vae...).")
    parser.add_argument("--latent-dim", type=int, default=32)
    parser.add_argument("--hidden", default="256", help="Hidden layer sizes (MLP models).")
    parser.add_argument("--channels", default="16,32", help="Channels (convolutional models).")
    parser.add_argument("--recon-loss", default="mse", choices=["mse", "bce"])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--score", default="mse", choices=["mse", "recon", "elbo"])
    parser.add_argument(
        "--preprocess",
        default="none",
        choices=["none", "gcn"],
        help="gcn: Ruff et al.'s global contrast normalisation (L1) + min-max of the normal "
        "class's training images; none: pixels in [0, 1] as they are.",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads.")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def autoencoder_scores(args: argparse.Namespace, train: np.ndarray, test: np.ndarray):
    """Negative reconstruction error of the test images (higher = more like the training digit)."""
    sizes = args.channels if "conv" in args.model else args.hidden
    key = "channels" if "conv" in args.model else "hidden"
    params = {key: [int(c) for c in sizes.split(",")], "recon_loss": args.recon_loss}
    detector = AutoencoderAnomalyDetector(
        model=args.model,
        latent_dim=args.latent_dim,
        model_params=params,
        scale=None,  # pixels are already in [0, 1] (or min-max scaled by --preprocess gcn)
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        measure=args.score,
        random_state=args.seed,
    )
    return detector.fit(train).score_samples(test)


def pca_scores(args: argparse.Namespace, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    flat_train, flat_test = train.reshape(len(train), -1), test.reshape(len(test), -1)
    pca = PCA(n_components=args.latent_dim, random_state=args.seed).fit(flat_train)
    recon = pca.inverse_transform(pca.transform(flat_test))
    return -np.square(flat_test - recon).sum(1)


def isolation_forest_scores(args, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    forest = IsolationForest(n_estimators=100, random_state=args.seed)
    return forest.fit(train.reshape(len(train), -1)).score_samples(test.reshape(len(test), -1))


def global_contrast_normalise(images: np.ndarray) -> np.ndarray:
    """Per image: subtract its mean, divide by its mean absolute deviation (L1 GCN)."""
    flat = images.reshape(len(images), -1).astype(np.float64)
    flat = flat - flat.mean(1, keepdims=True)
    flat = flat / np.abs(flat).mean(1, keepdims=True)
    return flat.reshape(images.shape)


def preprocess(kind: str, train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCN, then min-max scaling with the training images' extremes (test may leave [0, 1])."""
    if kind == "none":
        return train, test
    train, test = global_contrast_normalise(train), global_contrast_normalise(test)
    low, high = train.min(), train.max()
    return tuple(((x - low) / (high - low)).astype(np.float32) for x in (train, test))


METHODS = {
    "autoencoder": autoencoder_scores,
    "pca": pca_scores,
    "isolation_forest": isolation_forest_scores,
}


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    raw = load_source("mnist", args.data_dir)
    digits = [int(d) for d in args.digits.split(",")]
    results: dict[str, list[float]] = {name: [] for name in METHODS}
    start = time.perf_counter()
    print(f"| digit | {' | '.join(METHODS)} | seconds |")
    print(f"|---|{'---|' * len(METHODS)}---|")
    for digit in digits:
        tick = time.perf_counter()
        images = unit_array(raw.x_train[raw.y_train == digit])  # bytes -> [0, 1]
        train, test = preprocess(args.preprocess, images, unit_array(raw.x_test))
        normal = raw.y_test == digit
        row = []
        for name, method in METHODS.items():
            auroc = 100.0 * roc_auc_score(normal, method(args, train, test))
            results[name].append(auroc)
            row.append(f"{auroc:.1f}")
        print(f"| {digit} | {' | '.join(row)} | {time.perf_counter() - tick:.0f} |", flush=True)
    means = " | ".join(f"**{np.mean(v):.1f}**" for v in results.values())
    print(f"| mean | {means} | {time.perf_counter() - start:.0f} |")
    wins = sum(
        ae > max(p, f)
        for ae, p, f in zip(results["autoencoder"], results["pca"], results["isolation_forest"])
    )
    print(f"autoencoder above both baselines on {wins} of {len(digits)} digits")


if __name__ == "__main__":
    main()
