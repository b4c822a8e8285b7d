"""Memory layout of the convolutional models: aekit's choice against PyTorch's default.

``conv-ae`` keeps its 4-d weights (hence its activations) channels-last, ``conv-vae`` keeps
PyTorch's default (contiguous, NCHW) layout; each class says so in ``memory_format``. This
trains each reproduced convolutional recipe (S12, S17, S20, S21) with aekit's trainer twice, in
the layout aekit picks and in the one it did not, and prints seconds per epoch and their ratio
(above 1: aekit's choice is faster). Each (recipe, layout) runs in a fresh process, ``--rounds``
times in alternating order; the table keeps each layout's fastest steady epoch (epochs 2+) over
the rounds, since a shared machine's load only ever adds time. The final training loss shows
that the layout changes the speed, not the result.

    python benchmarks/memory_format.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

from aekit.config import RunConfig
from aekit.data import prepare_data
from aekit.training import build_trainer

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
CONV_RECIPES = {
    "S12 conv-ae (transposed)": "handson-conv-ae",
    "S20 conv-ae (upsampling)": "keras-conv-ae",
    "S21 denoising conv-ae": "keras-denoising-conv-ae",
    "S17 conv-vae": "tf-conv-vae",
}
LAYOUTS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}


def train_in_layout(args: argparse.Namespace) -> dict:
    """The child's side: train one recipe in one layout; per-epoch seconds and final loss."""
    config = RunConfig.load(RECIPES / f"{args.recipe}.yaml").with_overrides(
        {"data.limit": args.limit, "data.data_dir": args.data_dir, "train.device": "cpu"}
    )
    data = prepare_data(config.data)
    trainer = build_trainer(config, data)
    trainer.model.to(memory_format=LAYOUTS[args.layout])
    seconds = []
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        metrics = trainer.train_epoch(data.train, epoch)
        seconds.append(time.perf_counter() - start)
    chosen = type(trainer.model).memory_format == LAYOUTS[args.layout]
    return {"seconds": seconds, "loss": metrics["train_loss"], "aekit": chosen}


def spawn(args: argparse.Namespace, recipe: str, layout: str) -> dict:
    cmd = [sys.executable, __file__, "--recipe", recipe, "--layout", layout]
    cmd += ["--limit", str(args.limit), "--epochs", str(args.epochs)]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--limit", type=int, default=12000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--recipe", help=argparse.SUPPRESS)
    parser.add_argument("--layout", choices=sorted(LAYOUTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.recipe:
        print(json.dumps(train_in_layout(args)))
        return

    print(
        f"first {args.limit} training examples, {args.epochs} epochs, {args.rounds} rounds, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    print("| recipe | aekit's layout | s/epoch | other layout s/epoch | speed-up | losses |")
    print("|---|---|---|---|---|---|")
    for label, recipe in CONV_RECIPES.items():
        best: dict[str, float] = {}
        runs: dict[str, dict] = {}
        for r in range(args.rounds):
            for layout in list(LAYOUTS)[:: 1 if r % 2 == 0 else -1]:
                runs[layout] = spawn(args, recipe, layout)
                steady = min(runs[layout]["seconds"][1:])
                best[layout] = min(best.get(layout, steady), steady)
        mine = next(name for name, run in runs.items() if run["aekit"])
        other = next(name for name in LAYOUTS if name != mine)
        print(
            f"| {label} | {mine} | {best[mine]:.2f} | {best[other]:.2f} "
            f"| {best[other] / best[mine]:.2f}x "
            f"| {runs[mine]['loss']:.5f} / {runs[other]['loss']:.5f} |"
        )


if __name__ == "__main__":
    main()
