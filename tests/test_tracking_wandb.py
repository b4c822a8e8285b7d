"""``aekit train --wandb``: the offline run files W&B writes, read back record by record."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import pytest

from .test_apps_cli import run_cli
from .test_tracking import _free_port, _metrics_file

wandb = pytest.importorskip("wandb")
from wandb.proto import wandb_internal_pb2  # noqa: E402

BLOCK = 32768  # a .wandb file is a LevelDB log: 32 KiB blocks of framed records
FULL, LAST = 1, 4


def _records(path: Path):
    """Every record of a ``.wandb`` file (after its 7-byte ``:W&B`` header), as protobufs."""
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    position, pending = 7, b""
    while position + 7 <= len(data):
        left = BLOCK - position % BLOCK
        _, length, kind = struct.unpack("<IHB", data[position : position + 7])
        if left < 7 or (kind == 0 and length == 0):  # the rest of a block is padding
            position += left
            continue
        pending += data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def _offline_runs(folder: Path) -> list[list]:
    """The records of every offline run under ``folder``, once W&B's service has written them
    out (it does so when it shuts down, which an ``aekit`` process's exit brings about)."""
    wandb.teardown()
    files = sorted(folder.glob("wandb/offline-run-*/run-*.wandb"))
    return [list(_records(file)) for file in files]


def _history(records) -> list[dict]:
    return [
        {
            item.key or "/".join(item.nested_key): json.loads(item.value_json)
            for item in r.history.item
        }
        for r in records
        if r.WhichOneof("record_type") == "history"
    ]


@pytest.fixture
def wandb_dir(tmp_path, monkeypatch):
    """W&B's files in a folder of the test's, whatever the machine's W&B settings say."""
    for name in ("WANDB_MODE", "WANDB_PROJECT", "WANDB_BASE_URL", "WANDB_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    return tmp_path


def test_an_offline_run_holds_metrics_config_figures_and_files_and_resume_continues_it(
    wandb_dir, tmp_path, capsys
):
    run = tmp_path / "run"
    code, out, err = run_cli(["train", "--epochs", "2", "--quiet", "--out", run, "--wandb"], capsys)
    assert code == 0 and out.startswith("run saved in") and "wandb" not in out + err
    run_id = json.loads((run / "wandb.json").read_text())["run_id"]
    [records] = _offline_runs(wandb_dir)
    [started] = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert started.run_id == run_id and started.project == "aekit"
    config = {
        item.key or "/".join(item.nested_key): json.loads(item.value_json)
        for item in started.config.update
    }
    assert config["model"]["name"] == "ae" and config["train"]["epochs"] == 2
    history = _history(records)
    metrics = _metrics_file(run)
    assert [row["_step"] for row in history] == [1, 2]
    assert [row["val_loss"] for row in history] == [row["val_loss"] for row in metrics]
    assert history[-1]["figures/reconstructions/_type"] == "image-file"
    [artifact] = [r.artifact for r in records if r.WhichOneof("record_type") == "artifact"]
    files = {entry.path for entry in artifact.manifest.contents}
    assert artifact.type == "aekit-run" and "wandb.json" not in files
    assert {"config.yaml", "model.safetensors", "metrics.jsonl", "figures/curves.png"} <= files

    argv = ["train", "--resume", run, "--epochs", "3", "--quiet", "--wandb"]
    assert run_cli(argv, capsys)[0] == 0
    _, resumed = _offline_runs(wandb_dir)
    assert [r.run.run_id for r in resumed if r.WhichOneof("record_type") == "run"] == [run_id]
    assert [row["_step"] for row in _history(resumed)] == [3]
    assert _history(resumed)[0]["val_loss"] == _metrics_file(run)[2]["val_loss"]


def test_overwriting_a_run_starts_a_tracked_run_of_its_own(wandb_dir, tmp_path, capsys):
    run = tmp_path / "run"
    first = ["train", "--epochs", "1", "--quiet", "--out", run, "--wandb"]
    assert run_cli(first, capsys)[0] == 0
    old = json.loads((run / "wandb.json").read_text())["run_id"]
    assert run_cli([*first, "--overwrite"], capsys)[0] == 0
    new = json.loads((run / "wandb.json").read_text())["run_id"]
    runs = _offline_runs(wandb_dir)
    assert new != old and len(runs) == 2
    assert [[row["_step"] for row in _history(records)] for records in runs] == [[1], [1]]


def test_an_unreachable_server_is_one_warning_and_nothing_lost(
    wandb_dir, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{_free_port()}")
    run = tmp_path / "run"
    argv = ["train", "--epochs", "1", "--quiet", "--out", run, "--wandb", "online"]
    code, out, err = run_cli(argv, capsys)
    assert code == 0 and "run saved in" in out
    warning = [line for line in err.splitlines() if "W&B" in line]
    assert len(warning) == 1 and "no answer" in warning[0] and "metrics.jsonl" in warning[0]
    assert len(_metrics_file(run)) == 1 and not (run / "wandb.json").exists()


def test_wandb_mode_from_the_environment_and_a_missing_package(
    wandb_dir, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    run = tmp_path / "run"
    assert run_cli(["train", "--epochs", "1", "--quiet", "--out", run, "--wandb"], capsys)[0] == 0
    assert not (run / "wandb.json").exists() and _offline_runs(wandb_dir) == []

    monkeypatch.setitem(sys.modules, "wandb", None)  # as if it were not installed
    code, _, err = run_cli(["train", "--out", tmp_path / "other", "--wandb"], capsys)
    assert code != 0 and err.strip() == (
        "aekit: error: --wandb needs the wandb package: pip install 'aekit[wandb]'"
    )
    assert not (tmp_path / "other").exists()
