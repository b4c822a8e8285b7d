"""aekit's anomaly detector against PyOD's, on the same data in the same run.

Two protocols, each detector at its defaults, several seeds (ECOD and KNN have none):

- ``tabular``: outlier data sets built offline from scikit-learn's real data the way the
  ODDS collection builds its own (the majority classes are inliers; a minority class,
  down-sampled with a fixed seed, gives the outliers). Unsupervised, as ODDS is used: every
  detector is fitted on all the points, labels unseen, and scores the same points.
  ``breast-cancer``: the 357 benign tumours and 18 malignant ones (5% of 375);
  ``wine``: classes 1 and 2 (119 wines) and 10 of class 0 (ODDS' "wine" has 129 / 10);
  ``digits``: the 8x8 digits 1-9 (1,617) and 50 zeros (3%; ODDS' "optdigits" uses 150 of
  5,216). Features are as scikit-learn gives them (the wine set's span 0.1 to 1,680).
- ``image``: one-class MNIST (Ruff et al. 2018): fit on the 60,000 training images of one
  digit, score the 10,000 test images, that digit normal; AUROC per digit and mean. Pixels
  in [0, 1], flattened for PyOD.

Metrics: AUROC and average precision (outliers positive), mean and spread (min-max) over
the seeds, and the fit time. Run with an interpreter that has aekit and pyod:

    /work/peers/bin/python benchmarks/anomaly_vs_pyod.py tabular --seeds 5
    /work/peers/bin/python benchmarks/anomaly_vs_pyod.py image --data-dir /work/shared/data
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.metrics import average_precision_score, roc_auc_score

DETERMINISTIC = ("ECOD", "KNN")


def detectors(n_features: int, seed: int) -> dict[str, Callable[[], object]]:
    """Every detector at its defaults (quiet), seeded where it takes a seed."""
    from pyod.models.auto_encoder import AutoEncoder
    from pyod.models.deep_svdd import DeepSVDD
    from pyod.models.ecod import ECOD
    from pyod.models.iforest import IForest
    from pyod.models.knn import KNN
    from pyod.models.vae import VAE

    from aekit import AutoencoderAnomalyDetector

    return {
        "aekit": lambda: AutoencoderAnomalyDetector(random_state=seed),
        "AutoEncoder": lambda: AutoEncoder(random_state=seed, verbose=0),
        "VAE": lambda: VAE(random_state=seed, verbose=0),
        "DeepSVDD": lambda: DeepSVDD(n_features=n_features, random_state=seed, verbose=0),
        "IForest": lambda: IForest(random_state=seed),
        "ECOD": lambda: ECOD(),
        "KNN": lambda: KNN(),
    }


def outlier_scores(detector, fit_x: np.ndarray, score_x: np.ndarray) -> tuple[np.ndarray, float]:
    """Higher = more abnormal, and the seconds ``fit`` took."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        detector.fit(fit_x)
    seconds = time.perf_counter() - start
    if hasattr(detector, "anomaly_score"):  # aekit: PyOD's sign is its anomaly_score
        return detector.anomaly_score(score_x), seconds
    return detector.decision_function(score_x), seconds


def odds_like(x: np.ndarray, y: np.ndarray, outlier_class: int, outliers: int, inliers=None):
    """Inliers: the given classes (default every other one); outliers: ``outliers`` points of
    ``outlier_class`` drawn with seed 0. Returns features and 0/1 labels (1 = outlier)."""
    rng = np.random.default_rng(0)
    keep_in = np.isin(y, inliers) if inliers is not None else y != outlier_class
    chosen = rng.choice(np.flatnonzero(y == outlier_class), outliers, replace=False)
    rows = np.concatenate([np.flatnonzero(keep_in), np.sort(chosen)])
    return x[rows].astype(np.float32), (y[rows] == outlier_class).astype(int)


def tabular_sets() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    cancer, wine, digits = load_breast_cancer(), load_wine(), load_digits()
    # breast cancer: target 0 is malignant (212), 1 benign (357)
    return {
        "breast-cancer": odds_like(cancer.data, cancer.target, 0, 18),
        "wine": odds_like(wine.data, wine.target, 0, 10),
        "digits": odds_like(digits.data, digits.target, 0, 50),
    }


def tabular(args: argparse.Namespace) -> None:
    rows = []
    for name, (x, labels) in tabular_sets().items():
        print(f"{name}: {len(x)} points, {labels.sum()} outliers, {x.shape[1]} features")
        results = run_seeds(args.seeds, x.shape[1], lambda d, x=x: outlier_scores(d, x, x))
        rows.append((name, {k: summarise(v, labels) for k, v in results.items()}))
    print_table(rows, "data set")


def run_seeds(seeds: int, n_features: int, score: Callable) -> dict[str, list]:
    """{detector: [(scores, seconds) per seed]}."""
    results: dict[str, list] = {}
    for seed in range(seeds):
        for name, make in detectors(n_features, seed).items():
            if name in DETERMINISTIC and seed > 0:
                continue
            results.setdefault(name, []).append(score(make()))
    return results


def summarise(runs: list, labels: np.ndarray) -> dict[str, list[float]]:
    return {
        "auroc": [roc_auc_score(labels, s) for s, _ in runs],
        "ap": [average_precision_score(labels, s) for s, _ in runs],
        "seconds": [t for _, t in runs],
    }


def spread(values: list[float], scale: float = 100) -> str:
    mean = statistics.mean(values) * scale
    if len(values) == 1:
        return f"{mean:.1f}"
    return f"{mean:.1f} [{min(values) * scale:.1f}-{max(values) * scale:.1f}]"


def print_table(rows, what: str) -> None:
    names = list(rows[0][1])
    print(f"\n| {what} | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for label, metric in (("AUROC", "auroc"), ("AP", "ap"), ("fit s", "seconds")):
        for row_name, by_detector in rows:
            scale = 1 if metric == "seconds" else 100
            cells = [spread(by_detector[n][metric], scale) for n in names]
            print(f"| {row_name} {label} | " + " | ".join(cells) + " |")


def image(args: argparse.Namespace) -> None:
    from aekit.data.sources import load_source

    raw = load_source("mnist", args.data_dir)
    train_x = raw.x_train.reshape(len(raw.x_train), -1).astype(np.float32) / 255
    test_x = raw.x_test.reshape(len(raw.x_test), -1).astype(np.float32) / 255
    rows = []
    for digit in map(int, args.digits.split(",")):
        normal = train_x[raw.y_train == digit]
        labels = (raw.y_test != digit).astype(int)  # every other digit is an anomaly
        results = run_seeds(args.seeds, 784, lambda d, n=normal: outlier_scores(d, n, test_x))
        rows.append((f"digit {digit}", {k: summarise(v, labels) for k, v in results.items()}))
        summary = {k: round(statistics.mean(v["auroc"]) * 100, 1) for k, v in rows[-1][1].items()}
        print(f"digit {digit}: AUROC {summary}", flush=True)
    print_table(rows, "normal class")
    names = list(rows[0][1])
    means = [statistics.mean(statistics.mean(r[1][n]["auroc"]) for r in rows) for n in names]
    print("| mean AUROC | " + " | ".join(f"{m * 100:.1f}" for m in means) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="protocol", required=True)
    tab = sub.add_parser("tabular")
    tab.add_argument("--seeds", type=int, default=5)
    img = sub.add_parser("image")
    img.add_argument("--data-dir", required=True)
    img.add_argument("--digits", default="0,1,2,3,4,5,6,7,8,9")
    img.add_argument("--seeds", type=int, default=1)
    args = parser.parse_args()
    tabular(args) if args.protocol == "tabular" else image(args)


if __name__ == "__main__":
    main()
