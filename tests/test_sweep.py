"""``aekit sweep``: a grid of ordinary runs, several at once, that an interruption does not lose."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from aekit.errors import AekitError
from aekit.sweep import grid

TINY = {
    "model": {"name": "ae", "latent_dim": 4, "hidden": [16]},
    "data": {"dataset": "mnist-5k", "limit": 200},
    "train": {"epochs": 1, "batch_size": 64},
}


def test_the_grid_is_every_combination_with_readable_names():
    points = grid([("train.lr", "0.001,0.01"), ("model.hidden", "[256,64],[512]")])
    assert [p.values for p in points] == [
        {"train.lr": 0.001, "model.hidden": [256, 64]},
        {"train.lr": 0.001, "model.hidden": [512]},
        {"train.lr": 0.01, "model.hidden": [256, 64]},
        {"train.lr": 0.01, "model.hidden": [512]},
    ]
    assert points[0].name == "lr-0.001_hidden-256-64"
    assert [p.name for p in grid([("model.activation", "relu,relu")])] == [
        "activation-relu",
        "activation-relu-2",
    ]
    assert [p.name for p in grid([])] == ["run"]
    with pytest.raises(AekitError, match="not comma-separated YAML"):
        grid([("train.lr", "[1")])


def sweep(tmp_path, *args: str, **popen) -> subprocess.Popen:
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    command = [sys.executable, "-m", "aekit", "sweep", str(config), "--out", str(tmp_path / "s")]
    return subprocess.Popen(
        [*command, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen
    )


def finished(process: subprocess.Popen) -> tuple[int, str]:
    out, _ = process.communicate(timeout=300)
    return process.returncode, out


def test_a_sweep_trains_every_point_in_parallel_and_keeps_them(tmp_path):
    code, out = finished(sweep(tmp_path, "--set", "train.lr=0.001,0.01", "--parallel", "2"))
    assert code == 0, out
    folder = tmp_path / "s"
    names = ["lr-0.001", "lr-0.01"]
    for name in names:
        run = folder / name
        assert (run / "model.safetensors").is_file() and name in out
        assert yaml.safe_load((run / "config.yaml").read_text())["train"]["lr"] == float(
            name.split("-")[1]
        )
    records = [json.loads(line) for line in (folder / "sweep.jsonl").read_text().splitlines()]
    assert [r["status"] for r in records] == ["done", "done"]
    assert (folder / "report.html").is_file()
    stamps = {n: (folder / n / "model.safetensors").stat().st_mtime_ns for n in names}
    code, out = finished(sweep(tmp_path, "--set", "train.lr=0.001,0.01", "--no-report"))
    assert code == 0 and "2 of the runs had finished before" in out
    assert stamps == {n: (folder / n / "model.safetensors").stat().st_mtime_ns for n in names}


def test_a_bad_value_is_refused_before_any_run_starts(tmp_path):
    code, out = finished(sweep(tmp_path, "--set", "model.latent_dim=4,-1"))
    assert code == 1 and out.startswith(
        "aekit: error: latent_dim--1: model 'ae': bad latent_dim -1"
    )
    assert len(out.strip().splitlines()) == 1 and not (tmp_path / "s").exists()


def test_a_failing_run_is_named_and_the_others_finish(tmp_path):
    missing = str(tmp_path / "missing.npy")
    code, out = finished(sweep(tmp_path, "--set", f"data.dataset=mnist-5k,{missing}"))
    assert code == 1, out
    last = out.strip().splitlines()[-1]
    assert last.startswith("aekit: error: 1 of 2 runs failed: dataset-") and ".log)" in last
    assert (tmp_path / "s" / "dataset-mnist-5k" / "model.safetensors").is_file()


def test_an_interrupted_sweep_continues_where_it_stopped(tmp_path):
    epochs = "train.epochs=400"
    process = sweep(
        tmp_path,
        "--set",
        epochs,
        "--no-report",
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    metrics = tmp_path / "s" / "epochs-400" / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (metrics.is_file() and metrics.read_text().count("\n") >= 2):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGINT)
    code, out = finished(process)
    assert code == 130 and "run the same command again to continue" in out
    kept = metrics.read_text().count("\n")
    assert 2 <= kept < 400
    code, out = finished(sweep(tmp_path, "--set", epochs, "--no-report"))
    assert code == 0, out
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [row["epoch"] for row in rows] == list(range(1, 401))  # resumed, not restarted
