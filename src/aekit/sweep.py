"""A grid of training runs, several at a time, the machine's cores split between them.

Each point of the grid is an ordinary ``aekit train`` in a process of its own, writing an
ordinary run directory inside the sweep's folder, with ``--threads`` set so that the runs
running at once share the cores instead of fighting over them (training/threads.py says what
fighting costs). ``sweep.jsonl`` in the folder records each finished run; running the same
sweep again skips those, resumes the interrupted ones from their last epoch and starts the
rest, so an interrupted sweep loses nothing but the epochs in progress.
"""

from __future__ import annotations

import itertools
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from aekit.config import RunConfig
from aekit.errors import AekitError
from aekit.io import atomic_write
from aekit.models.base import check_model_options

RECORD = "sweep.jsonl"
KEPT = "finished before"  # the message of a run a previous sweep finished
POLL_SECONDS = 0.1


@dataclass(frozen=True)
class Point:
    """One run of the grid: its directory name and its config values."""

    name: str
    values: dict[str, Any]


@dataclass
class Outcome:
    point: Point
    status: str  # "done" or "failed"
    seconds: float
    metrics: dict[str, Any] = field(default_factory=dict)
    message: str = ""


def grid(assignments: list[tuple[str, str]]) -> list[Point]:
    """Every combination of ``(SECTION.KEY, "V1,V2,...")``, in the order given (the last key
    varies fastest). Values are YAML; a list value is written in brackets: ``[256,64],[512]``."""
    keys, choices = [], []
    for key, text in assignments:
        try:
            values = yaml.safe_load(f"[{text}]")
        except yaml.YAMLError:
            raise AekitError(f"--set {key}={text}: not comma-separated YAML values") from None
        if not values:
            raise AekitError(f"--set {key}=: give at least one value")
        keys.append(key)
        choices.append(values)
    points: list[Point] = []
    seen: set[str] = set()
    for combination in itertools.product(*choices):
        values = dict(zip(keys, combination, strict=True))
        name = _unique(_point_name(values), seen)
        points.append(Point(name, values))
    return points


def _point_name(values: dict[str, Any]) -> str:
    """``lr-0.001_hidden-256-64`` for ``{train.lr: 0.001, model.hidden: [256, 64]}``."""
    parts = []
    for key, value in values.items():
        text = json.dumps(value, separators=(",", ":")).strip('"').translate(_NO_BRACKETS)
        text = re.sub(r"[^A-Za-z0-9.+-]+", "-", text) or "none"
        parts.append(f"{key.rsplit('.', 1)[-1]}-{text}")
    return "_".join(parts) or "run"


_NO_BRACKETS = str.maketrans("", "", "[]{}")


def _unique(name: str, seen: set[str]) -> str:
    candidate, n = name, 1
    while candidate in seen:
        n += 1
        candidate = f"{name}-{n}"
    seen.add(candidate)
    return candidate


def check(config_file: Path, points: list[Point]) -> None:
    """Every point's config, built before any run starts: a bad value is one error now, not
    a failure half-way through the sweep."""
    base = RunConfig.load(config_file)
    for point in points:
        try:
            check_model_options(base.with_overrides(point.values).model)
        except AekitError as exc:
            raise AekitError(f"{point.name}: {exc}") from None


def finished(out: Path) -> dict[str, dict[str, Any]]:
    """The runs a previous sweep into ``out`` finished: name -> its record."""
    path = out / RECORD
    if not path.is_file():
        return {}
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {r["name"]: r for r in records if r.get("status") == "done"}


def command(
    config_file: Path, point: Point, out: Path, threads: int, data_dir: str | None = None
) -> list[str]:
    """The ``aekit train`` of one point: started, or resumed where its directory has a run."""
    run_dir = out / point.name
    aekit = [sys.executable, "-m", "aekit", "train", "--quiet", "--threads", str(threads)]
    if data_dir is not None:
        aekit += ["--data-dir", data_dir]
    if (run_dir / "config.yaml").is_file():
        return [*aekit, "--resume", str(run_dir)]
    sets = [f"{key}={json.dumps(value)}" for key, value in point.values.items()]
    return [
        *aekit,
        "--config",
        str(config_file),
        *itertools.chain.from_iterable(("--set", s) for s in sets),
        "--out",
        str(run_dir),
    ]


def run_sweep(
    config_file: Path,
    points: list[Point],
    out: Path,
    parallel: int,
    threads: int,
    data_dir: str | None = None,
    report: Callable[[Outcome], None] = lambda _outcome: None,
) -> list[Outcome]:
    """Train every point not finished before, ``parallel`` at a time with ``threads`` threads
    each (their data sets in ``data_dir``); ``report`` hears of each run as it ends. Ctrl-C
    stops the runs (each keeps its finished epochs) and raises KeyboardInterrupt once they
    have exited."""
    out.mkdir(parents=True, exist_ok=True)
    done = finished(out)
    outcomes = [_recorded(p, done[p.name]) for p in points if p.name in done]
    waiting = [p for p in points if p.name not in done]
    running: dict[str, tuple[Point, subprocess.Popen[bytes], float]] = {}
    try:
        while waiting or running:
            while waiting and len(running) < parallel:
                point = waiting.pop(0)
                child = command(config_file, point, out, threads, data_dir)
                running[point.name] = (point, _start(child, out / f"{point.name}.log"), _now())
            time.sleep(POLL_SECONDS)
            for name, (point, process, start) in list(running.items()):
                if process.poll() is None:
                    continue
                del running[name]
                outcome = _outcome(point, process.returncode, _now() - start, out)
                outcomes.append(outcome)
                _record(out, outcomes)
                report(outcome)
    except KeyboardInterrupt:
        for _, process, _ in running.values():
            process.send_signal(signal.SIGINT)
        for _, process, _ in running.values():
            process.wait()
        raise
    order = {p.name: i for i, p in enumerate(points)}
    return sorted(outcomes, key=lambda o: order[o.point.name])


def _now() -> float:
    return time.monotonic()


def _start(child: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "w") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(child, stdout=log, stderr=subprocess.STDOUT)


def _outcome(point: Point, code: int, seconds: float, out: Path) -> Outcome:
    if code != 0:
        lines = (out / f"{point.name}.log").read_text(errors="replace").strip().splitlines()
        why = lines[-1] if lines else f"exit status {code}"
        return Outcome(point, "failed", seconds, message=why.removeprefix("aekit: error: "))
    return Outcome(point, "done", seconds, _last_metrics(out / point.name))


def _last_metrics(run_dir: Path) -> dict[str, Any]:
    """The last epoch's row of the run's metrics.jsonl."""
    lines = (run_dir / "metrics.jsonl").read_text().strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def _recorded(point: Point, record: dict[str, Any]) -> Outcome:
    return Outcome(point, "done", record["seconds"], record["metrics"], KEPT)


def _record(out: Path, outcomes: list[Outcome]) -> None:
    """sweep.jsonl anew: one line per run that has ended, written atomically."""
    with atomic_write(out / RECORD, "w") as handle:
        for o in outcomes:
            row: dict[str, Any] = {
                "name": o.point.name,
                "values": o.point.values,
                "status": o.status,
            }
            row.update(seconds=round(o.seconds, 3), metrics=o.metrics, message=o.message)
            handle.write(json.dumps(row) + "\n")
