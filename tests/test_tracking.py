"""``aekit train --mlflow`` against a real MLflow tracking server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .test_apps_cli import run_cli

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``mlflow server`` with a temporary SQLite backend and artifact folder."""
    import requests

    folder = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    command = [
        str(Path(sys.executable).with_name("mlflow")), "server",
        "--backend-store-uri", f"sqlite:///{folder / 'db.sqlite'}",
        "--default-artifact-root", str(folder / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    process = subprocess.Popen(  # its own process group: the server starts workers of its own
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if requests.get(f"{url}/health", timeout=1).ok:
                    break
            except requests.exceptions.ConnectionError:
                time.sleep(0.25)
        else:
            pytest.fail("mlflow server did not start")
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def _metrics_file(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow  # a server start and three trainings: about 25 s here
def test_a_run_logs_params_metrics_and_files_and_resumes_into_the_same_run(
    server, tmp_path, capsys
):
    run = tmp_path / "run"
    argv = ["train", "--epochs", "2", "--quiet", "--out", run, "--mlflow", server]
    assert run_cli(argv, capsys)[0] == 0
    run_id = json.loads((run / "mlflow.json").read_text())["run_id"]
    client = MlflowClient(server)
    logged = client.get_run(run_id)
    assert logged.info.status == "FINISHED"
    assert logged.data.params["model.name"] == "ae" and logged.data.params["train.epochs"] == "2"
    history = [m.value for m in client.get_metric_history(run_id, "val_loss")]
    assert history == [row["val_loss"] for row in _metrics_file(run)]
    files = {a.path for a in client.list_artifacts(run_id)}
    assert {"config.yaml", "model.safetensors", "metrics.jsonl", "figures"} <= files
    assert "figures/curves.png" in {a.path for a in client.list_artifacts(run_id, "figures")}

    argv = ["train", "--resume", run, "--epochs", "3", "--quiet", "--mlflow", server]
    assert run_cli(argv, capsys)[0] == 0
    assert json.loads((run / "mlflow.json").read_text())["run_id"] == run_id
    steps = client.get_metric_history(run_id, "val_loss")
    assert [m.step for m in steps] == [1, 2, 3]
    assert [m.value for m in steps] == [row["val_loss"] for row in _metrics_file(run)]


def test_an_unreachable_server_is_one_warning_and_nothing_lost(tmp_path, capsys):
    run = tmp_path / "run"
    nobody = f"http://127.0.0.1:{_free_port()}"
    code, out, err = run_cli(
        ["train", "--epochs", "1", "--quiet", "--out", run, "--mlflow", nobody], capsys
    )
    assert code == 0 and "run saved in" in out
    warning = [line for line in err.splitlines() if "MLflow" in line]
    assert len(warning) == 1 and "no answer" in warning[0] and "metrics.jsonl" in warning[0]
    assert len(_metrics_file(run)) == 1 and not (run / "mlflow.json").exists()


def test_a_folder_is_a_local_store(tmp_path, capsys):
    run, store = tmp_path / "run", tmp_path / "store"
    argv = ["train", "--epochs", "1", "--quiet", "--out", run, "--mlflow", store]
    assert run_cli(argv, capsys)[0] == 0
    run_id = json.loads((run / "mlflow.json").read_text())["run_id"]
    client = MlflowClient(f"sqlite:///{store.resolve() / 'mlflow.db'}")
    assert [m.step for m in client.get_metric_history(run_id, "train_loss")] == [1]
    assert (store / "artifacts").is_dir() and {a.path for a in client.list_artifacts(run_id)}
