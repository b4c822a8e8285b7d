"""Regenerate the README gallery: every ``aekit plot`` kind, from small real training runs.

    PYTHONPATH=src python benchmarks/gallery.py [--runs runs/gallery] [--out docs/gallery]

Trains five small models on the bundled mnist-5k digits (a few minutes on a laptop CPU), draws
every figure kind into ``docs/gallery/`` and writes ``docs/gallery/gallery.md``, the README's
Gallery section. Nothing in the gallery is drawn by hand.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from aekit.config import RunConfig
from aekit.figures.kinds import KINDS, plot
from aekit.figures.options import PlotOptions
from aekit.figures.progress import ProgressGif
from aekit.runs import Run, open_run
from aekit.workflow import train

MAX_BYTES = {".png": 200 * 1024, ".gif": 400 * 1024}  # keep the repository light

# name -> (model, data and train settings): small, but trained enough to show structure
RUNS = {
    "ae-2d": ({"name": "ae", "latent_dim": 2, "hidden": [256]}, {}, {"epochs": 15}),
    "vae-2d": ({"name": "vae", "latent_dim": 2, "hidden": [256]}, {}, {"epochs": 20}),
    "cvae": ({"name": "cvae", "latent_dim": 2, "hidden": [256]}, {}, {"epochs": 20}),
    "conv-vae": ({"name": "conv-vae", "latent_dim": 8}, {}, {"epochs": 8}),
    "denoising-conv-ae": (
        {"name": "conv-ae", "channels": [32, 32], "upsampling": "nearest"},
        {"noise": "gaussian:0.5"},
        {"epochs": 5},
    ),
}

# (file, run, kind, options, caption)
FIGURES = [
    ("latent", "vae-2d", "latent", {}, "2-d VAE: test codes coloured by digit"),
    ("compare", "ae-2d", "compare", {"other": "vae-2d"}, "2-d AE against 2-d VAE (S18)"),
    (
        "latent-tsne",
        "conv-vae",
        "latent",
        {"method": "tsne", "points": 1000},
        "8-d conv-VAE, t-SNE (S8)",
    ),
    ("samples-vae", "vae-2d", "samples", {}, "VAE: decoded draws from the prior"),
    ("samples-ae", "ae-2d", "samples", {}, "AE: decoded draws from the box of training codes (S2)"),
    (
        "samples-cvae",
        "cvae",
        "samples",
        {},
        "Conditional VAE, one row per requested label (S5): encoder and decoder both see the "
        "label, concatenated to their inputs",
    ),
    ("traverse", "conv-vae", "traverse", {}, "conv-VAE: each coordinate swept from -3 to 3 (S4)"),
    ("interpolate", "conv-vae", "interpolate", {}, "conv-VAE: the line between two codes (S18)"),
    ("manifold", "vae-2d", "manifold", {}, "VAE: the decoded code plane"),
    ("denoise", "denoising-conv-ae", "denoise", {}, "conv-AE denoiser (S21)"),
    ("reconstructions", "denoising-conv-ae", "reconstructions", {}, "clean test digits, rebuilt"),
    ("activations", "ae-2d", "activations", {}, "AE: code activations (S15)"),
    ("curves", "vae-2d", "curves", {}, "VAE: loss and every logged term per epoch"),
    ("progress", "conv-vae", "progress", {}, "conv-VAE: 16 prior draws after every epoch (S17)"),
]


def train_runs(root: Path, reuse: bool) -> dict[str, Run]:
    """Train every run of RUNS (``reuse``: keep the finished ones already in ``root``)."""
    runs = {}
    for name, (model, data, schedule) in RUNS.items():
        if not (reuse and (root / name / "model.safetensors").is_file()):
            config = RunConfig.from_dict({"model": model, "data": data, "train": schedule})
            print(f"training {name} ...", flush=True)
            progress = [ProgressGif(enabled=True)] if name == "conv-vae" else []
            train(config, root / name, overwrite=True, callbacks=progress)
        runs[name] = open_run(root / name)
    return runs


def draw_gallery(runs: dict[str, Run], out: Path) -> list[tuple[str, str]]:
    """Every figure of FIGURES into ``out``; returns (file name, caption with command) pairs."""
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for stem, run, kind, settings, caption in FIGURES:
        settings = dict(settings)
        if "other" in settings:
            settings["other"] = runs[settings["other"]]
        path = out / f"{stem}{KINDS[kind].suffix}"
        plot(runs[run], kind, PlotOptions(**settings), path)
        size = path.stat().st_size
        if size > MAX_BYTES[path.suffix]:
            limit = MAX_BYTES[path.suffix] // 1024
            raise SystemExit(f"{path} is {size // 1024} KiB; keep it under {limit} KiB")
        print(f"  {path} ({size // 1024} KiB)")
        entries.append((path.name, f"{caption}<br>`{_command(kind, settings)}`"))
    return entries


def _command(kind: str, settings: dict) -> str:
    """The ``aekit plot`` command line that draws this figure."""
    flags = "".join(
        f" --{key} {'RUN2' if key == 'other' else value}" for key, value in settings.items()
    )
    return f"aekit plot RUN {kind}{flags}"


def markdown(entries: list[tuple[str, str]], folder: str) -> str:
    """The README's Gallery section: a two-column table of figures with their commands."""
    lines = [
        "## Gallery",
        "",
        "Every figure kind of `aekit plot RUN KIND`, from small runs on the bundled mnist-5k",
        "digits (regenerate with `PYTHONPATH=src python benchmarks/gallery.py`).",
        "`aekit report RUN` puts all of a run's figures, its configuration and metrics on one",
        "self-contained HTML page.",
        "",
        "| | |",
        "|---|---|",
    ]
    cells = [f"![{name}]({folder}/{name})<br>{caption}" for name, caption in entries]
    for i in range(0, len(cells), 2):
        pair = [*cells[i : i + 2], ""][:2]
        lines.append(f"| {pair[0]} | {pair[1]} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs/gallery"))
    parser.add_argument("--out", type=Path, default=Path("docs/gallery"))
    parser.add_argument("--keep-runs", action="store_true", help="Keep the trained runs.")
    parser.add_argument(
        "--reuse", action="store_true", help="Redraw from runs already in --runs (no training)."
    )
    args = parser.parse_args()
    subjects = train_runs(args.runs, args.reuse)
    entries = draw_gallery(subjects, args.out)
    section = args.out / "gallery.md"
    section.write_text(markdown(entries, args.out.as_posix()))
    print(f"wrote {section}")
    if not args.keep_runs:
        shutil.rmtree(args.runs)


if __name__ == "__main__":
    main()
