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
- ``classes``: the same ODDS-like construction with every class of scikit-learn's four
  bundled classification sets (iris, wine, breast cancer, digits) in turn as the outlier
  class, down-sampled to 5% of the inliers (at least 5): 18 sets, so that no conclusion rests
  on which class ``tabular`` happens to make the outliers. aekit also runs with
  ``measure="recon"`` (its own reconstruction likelihood as the score) beside its default.
- ``image``: one-class MNIST (Ruff et al. 2018): fit on the 60,000 training images of one
  digit, score the 10,000 test images, that digit normal; AUROC per digit and mean. Pixels
  in [0, 1], flattened for PyOD.

Metrics: AUROC and average precision (outliers positive), mean and spread (min-max) over
the seeds, and the fit time. Run with an interpreter that has aekit and pyod:

    /work/peers/bin/python benchmarks/anomaly_vs_pyod.py tabular --seeds 5
    /work/peers/bin/python benchmarks/anomaly_vs_pyod.py classes --seeds 3
    /work/peers/bin/python benchmarks/anomaly_vs_pyod.py image --data-dir /work/shared/data
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.metrics import average_precision_score, roc_auc_score

DETERMINISTIC = ("ECOD", "KNN")


def detectors(
    n_features: int, seed: int, aekit_measures: tuple[str, ...] = ()
) -> dict[str, Callable[[], object]]:
    """Every detector at its defaults (quiet), seeded where it takes a seed; aekit's also
    with each of ``aekit_measures`` as its score."""
    from pyod.models.auto_encoder import AutoEncoder
    from pyod.models.deep_svdd import DeepSVDD
    from pyod.models.ecod import ECOD
    from pyod.models.iforest import IForest
    from pyod.models.knn import KNN
    from pyod.models.vae import VAE

    from aekit import AutoencoderAnomalyDetector

    variants = {
        f"aekit ({measure})": lambda m=measure: AutoencoderAnomalyDetector(
            random_state=seed, measure=m
        )
        for measure in aekit_measures
    }
    return {
        "aekit": lambda: AutoencoderAnomalyDetector(random_state=seed),
        **variants,
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


def classes(args: argparse.Namespace) -> None:
    """Every class of every bundled set as the outlier class: AUROC per set, then each
    detector's mean and median over the sets and how often it is the best."""
    bundled = {"iris": load_iris(), "wine": load_wine()}
    bundled |= {"breast-cancer": load_breast_cancer(), "digits": load_digits()}
    aurocs: dict[str, list[float]] = {}
    rows = []
    for name, data in bundled.items():
        for outlier in np.unique(data.target):
            outliers = max(5, int(0.05 * np.sum(data.target != outlier)))
            x, labels = odds_like(data.data, data.target, int(outlier), outliers)
            results = run_seeds(
                args.seeds, x.shape[1], lambda d, x=x: outlier_scores(d, x, x), ("recon",)
            )
            means = {k: statistics.mean(summarise(v, labels)["auroc"]) for k, v in results.items()}
            for detector, auroc in means.items():
                aurocs.setdefault(detector, []).append(auroc)
            cells = " | ".join(f"{100 * a:.1f}" for a in means.values())
            rows.append(f"| {name}, class {outlier} ({outliers} of {len(x)}) | {cells} |")
            print(rows[-1], flush=True)
    names = list(aurocs)
    best = np.argmax(np.array([aurocs[n] for n in names]), axis=0)
    summary = {
        "mean AUROC": [f"{100 * statistics.mean(aurocs[n]):.1f}" for n in names],
        "median AUROC": [f"{100 * statistics.median(aurocs[n]):.1f}" for n in names],
        "best on": [str(int(np.sum(best == i))) for i in range(len(names))],
    }
    print("\n| outlier class (outliers of points) | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    print("\n".join(rows))
    for label, cells in summary.items():
        print(f"| {label} | " + " | ".join(cells) + " |")


def run_seeds(
    seeds: int, n_features: int, score: Callable, aekit_measures: tuple[str, ...] = ()
) -> dict[str, list]:
    """{detector: [(scores, seconds) per seed]}."""
    results: dict[str, list] = {}
    for seed in range(seeds):
        for name, make in detectors(n_features, seed, aekit_measures).items():
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
    sub.add_parser("classes").add_argument("--seeds", type=int, default=3)
    img = sub.add_parser("image")
    img.add_argument("--data-dir", required=True)
    img.add_argument("--digits", default="0,1,2,3,4,5,6,7,8,9")
    img.add_argument("--seeds", type=int, default=1)
    args = parser.parse_args()
    {"tabular": tabular, "classes": classes, "image": image}[args.protocol](args)


if __name__ == "__main__":
    main()
