"""Checkpoints are safetensors plus metadata: nothing is ever unpickled, writes are atomic."""

from __future__ import annotations

import pickle

import pytest
import torch

from aekit.errors import AekitError
from aekit.io import atomic_write
from aekit.models import build_model
from aekit.runs.checkpoint import load_model, save_model


@pytest.mark.parametrize("name", ["ae", "conv-ae", "vae", "cvae", "conv-vae", "linear-ae"])
def test_save_load_round_trip_without_pickle(tmp_path, monkeypatch, name):
    model = build_model({"name": name}, (1, 28, 28), num_classes=10).eval()
    path = tmp_path / "model.safetensors"
    save_model(model, path)

    def refuse(*args, **kwargs):
        raise AssertionError("something tried to unpickle")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    loaded = load_model(path)
    x = torch.rand(3, 1, 28, 28)
    y = torch.tensor([0, 1, 2])
    assert torch.equal(model.encode(x, y), loaded.encode(x, y))
    assert loaded.describe() == model.describe()


def test_pickle_file_is_refused_not_executed(tmp_path):
    class Evil:
        def __reduce__(self):
            return (exec, ("raise SystemExit('pwned')",))

    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(AekitError, match="not a readable safetensors file"):
        load_model(path)


def test_atomic_write_keeps_old_file_on_crash(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("good")
    with pytest.raises(RuntimeError), atomic_write(target, "w") as handle:
        handle.write("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "good"
    assert list(tmp_path.iterdir()) == [target]
