"""The fixed cost of a run: whole ``aekit`` processes against ``python -c "import torch"``.

What a new user waits for is the whole command, not the epoch. Each command below runs in a
fresh process as a user types it, ``--rounds`` times, every round alternating the baseline
(importing torch, which no torch program can avoid) with the aekit commands; the table gives
each command's median wall time and its median excess over the baseline of the same round.
A first, untimed round trains the two runs the other commands read and leaves the parsed
bundled data set in the data directory, as any earlier run would have.

Goals (the fixed-cost issue): ``aekit train --epochs 1`` at most 2 s more than importing
torch; ``evaluate``, ``plot`` and ``sample`` on a finished run at most 1.5 s more.

    python benchmarks/fixed_cost.py --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOALS = {"train": 2.0}  # seconds over importing torch; 1.5 for every other command
OTHER_GOAL = 1.5


def commands(work: Path, round_: int) -> dict[str, list[str]]:
    """The commands of one round; each round trains into a new directory."""
    aekit = [str(Path(sys.executable).with_name("aekit"))]  # the console script pip installs
    ae, vae, new = str(work / "ae"), str(work / "vae"), str(work / f"train-{round_}")
    return {
        "import torch": [sys.executable, "-c", "import torch"],
        "train --epochs 1": [*aekit, "train", "--epochs", "1", "--quiet", "--out", new],
        "evaluate": [*aekit, "evaluate", ae],
        "plot latent": [*aekit, "plot", ae, "latent"],
        "plot reconstructions": [*aekit, "plot", ae, "reconstructions"],
        "sample": [*aekit, "sample", vae, "-n", "16"],
    }


def timed(command: list[str], quiet: bool = True) -> float:
    """Whole-process seconds of ``command``, from start to exit (its output kept from the
    terminal unless ``quiet`` is False)."""
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=quiet)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        train = commands(work, 0)["train --epochs 1"][:-2]  # without its --out
        subprocess.run([*train, "--out", str(work / "ae")], check=True, capture_output=True)
        vae = [*train, "--model", "vae", "--out", str(work / "vae")]
        subprocess.run(vae, check=True, capture_output=True)
        seconds: dict[str, list[float]] = {name: [] for name in commands(work, 0)}
        for round_ in range(args.rounds):
            for name, command in commands(work, round_).items():
                seconds[name].append(timed(command))
    baseline = seconds.pop("import torch")
    print(f"import torch: median {statistics.median(baseline):.2f} s over {args.rounds} rounds")
    print("| command | median wall (s) | excess over import torch (s) | goal (s) |")
    print("|---|---:|---:|---:|")
    for name, times in seconds.items():
        excess = statistics.median(t - b for t, b in zip(times, baseline, strict=True))
        goal = GOALS.get(name.split()[0], OTHER_GOAL)
        verdict = "met" if excess <= goal else "missed"
        wall = statistics.median(times)
        print(f"| aekit {name} | {wall:.2f} | {excess:.2f} | {goal} {verdict} |")


if __name__ == "__main__":
    main()
