"""The figure on every model's page of the documentation site: each registered model trained
briefly on the bundled mnist-5k digits, as ``aekit train --model NAME --epochs N`` does, and
the figures that training draws (reconstructions; samples from generative models).

    PYTHONPATH=src python benchmarks/model_gallery.py [--models vae,iwae] [--runs runs/models]

Writes ``docs/models/figures/NAME-KIND.png`` and ``docs/models/figures/figures.json`` (per
model: the command, epochs, wall time, final validation loss and the files), which
``docs/generate.py`` turns into the pages. The recommendation models (``mult-vae``,
``mult-dae``) train on a synthetic implicit-feedback set made here (users who each favour one
of five genres) and show their loss curves: their inputs are item vectors, not pictures.
Nothing is drawn by hand.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from aekit.config import RunConfig
from aekit.io import atomic_write
from aekit.models import MODELS
from aekit.workflow import train

OUT = Path("docs/models/figures")
MAX_BYTES = 120 * 1024  # per figure: the pages stay light
EPOCHS = 10  # seconds for most models here; minutes for those drawing many samples a digit
INTERACTIONS = ("mult-vae", "mult-dae")


def taste_csv(path: Path, users: int = 1500, items: int = 300, seed: int = 0) -> Path:
    """Implicit feedback of users who each favour one of five genres: 80% of a user's
    20-40 items come from that genre's 60, the rest from anywhere (a CSV of user, item)."""
    rng = np.random.default_rng(seed)
    genres = np.arange(items).reshape(5, -1)
    rows = []
    for user in range(users):
        count = rng.integers(20, 41)
        liked = rng.choice(genres[rng.integers(5)], size=int(0.8 * count), replace=False)
        other = rng.choice(items, size=count - len(liked), replace=False)
        rows += [(user, item) for item in sorted(set(liked) | set(other))]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("user,item\n" + "".join(f"{u},{i}\n" for u, i in rows))
    return path


def train_one(name: str, runs: Path) -> dict:
    """Train ``name`` as ``aekit train`` would, copy its figures, return its record."""
    epochs = EPOCHS
    data = {"dataset": "mnist-5k"}
    command = f"aekit train --model {name} --epochs {epochs}"
    if name in INTERACTIONS:
        data = {"dataset": str(taste_csv(runs / "tastes.csv"))}
        command += " --dataset tastes.csv"
    config = RunConfig.from_dict(
        {"model": {"name": name}, "data": data, "train": {"epochs": epochs}}
    )
    start = time.perf_counter()
    run = train(config, runs / name, overwrite=True)
    seconds = time.perf_counter() - start
    files = []
    for kind in ("reconstructions", "samples", "curves"):
        source = run.figures / f"{kind}.png"
        if not source.is_file() or (kind == "curves" and files):
            continue  # curves only where no picture of examples exists
        if source.stat().st_size > MAX_BYTES:
            raise SystemExit(f"{source} is {source.stat().st_size // 1024} KiB; too large")
        target = OUT / f"{name}-{kind}.png"
        shutil.copyfile(source, target)
        files.append({"kind": kind, "file": target.name})
    return {
        "command": command,
        "epochs": epochs,
        "seconds": round(seconds, 1),
        "val_loss": run.history[-1].get("val_loss"),
        "files": files,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="Comma-separated names (default: every model).")
    parser.add_argument("--runs", type=Path, default=Path("runs/models"))
    args = parser.parse_args()
    names = args.models.split(",") if args.models else sorted(MODELS)
    OUT.mkdir(parents=True, exist_ok=True)
    index = OUT / "figures.json"
    records = json.loads(index.read_text()) if index.is_file() else {}
    for name in names:
        print(f"{name} ...", flush=True)
        records[name] = train_one(name, args.runs)
        print(f"  {records[name]['seconds']} s, {[f['file'] for f in records[name]['files']]}")
        with atomic_write(index, "w") as handle:  # an interrupted run keeps the models done
            handle.write(json.dumps(dict(sorted(records.items())), indent=1) + "\n")


if __name__ == "__main__":
    main()
