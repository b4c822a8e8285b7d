"""Data problems on the command line: one ``aekit: error:`` line, no traceback, exit 1."""

from __future__ import annotations

import dataclasses
import gzip
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pooch
import pytest

from aekit.cli import main
from aekit.data import sources
from tests.test_data_download import closed_port  # noqa: F401  (a fixture)
from tests.test_data_idx import idx_gz

REPO = Path(__file__).resolve().parents[1]


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    return exited.value.code, out, err


def assert_one_error_line(code: int, err: str, *parts: str, progress: bool = False) -> None:
    """Exit 1 and one error line (after pooch's "Downloading ..." lines, with ``progress``)."""
    assert code == 1
    lines = err.strip().splitlines()
    if progress:
        lines = [line for line in lines if not line.startswith("Downloading data from")]
    assert len(lines) == 1 and lines[0].startswith("aekit: error: "), err
    assert "Traceback" not in err
    for part in parts:
        assert part in lines[0], lines[0]


def pickled_npz(path: Path) -> Path:
    x = np.empty(3, dtype=object)
    x[:] = [{"a": 1}, [2], "three"]
    np.savez(path, x=x)
    return path


def truncated_npz(path: Path) -> Path:
    np.savez(path, x=np.random.default_rng(0).random((30, 30)))
    path.write_bytes(path.read_bytes()[:500])
    return path


def pickle_as_npy(path: Path) -> Path:
    path.write_bytes(pickle.dumps({"x": [1, 2, 3]}))
    return path


def nan_csv(path: Path) -> Path:
    path.write_text("a,b\n1,2\n3,nan\n")
    return path


@pytest.mark.parametrize(
    ("make", "name", "message"),
    [
        (pickled_npz, "bad.npz", "never loads"),
        (truncated_npz, "bad.npz", "cannot read NumPy file"),
        (pickle_as_npy, "bad.npy", "never loads"),
        (nan_csv, "bad.csv", "NaN or infinite"),
    ],
)
def test_bad_user_files(capsys, tmp_path, make, name, message):
    path = make(tmp_path / name)
    out_dir = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "--dataset", str(path), "--out", str(out_dir))
    assert_one_error_line(code, err, str(path), message)
    assert not out_dir.exists()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda body: b"\x00\x00\x0b\x03" + body[4:], "declares"),  # int16: wrong length
        (lambda body: b"\x00\x00\x09\x03" + body[4:], "expected 3-d unsigned bytes"),
        (lambda body: b"\x00\x01\x08\x03" + body[4:], "bad magic number"),
        (lambda body: body[:-100], "truncated or corrupted"),
    ],
)
def test_damaged_idx_files_in_the_data_dir(capsys, tmp_path, damage, message):
    folder = tmp_path / "mnist"
    folder.mkdir()
    images = np.zeros((4, 28, 28), np.uint8)
    labels = np.arange(4, dtype=np.uint8)
    for name, array in zip(sources.IDX_FILES, (images, labels, images, labels)):
        (folder / name).write_bytes(idx_gz(array))
    target = folder / sources.IDX_FILES[2]
    target.write_bytes(gzip.compress(damage(gzip.decompress(target.read_bytes()))))
    code, _, err = run_cli(
        capsys, "train", "--dataset", "mnist", "--data-dir", str(tmp_path), "--out", "x"
    )
    assert_one_error_line(code, err, str(target), message)


def test_offline_download_on_the_command_line(capsys, monkeypatch, tmp_path, closed_port):  # noqa: F811
    spec = dataclasses.replace(sources.IDX_SETS["kmnist"], mirrors=(closed_port,))
    monkeypatch.setitem(sources.IDX_SETS, "kmnist", spec)
    code, _, err = run_cli(
        capsys, "train", "--dataset", "kmnist", "--data-dir", str(tmp_path), "--out", "x"
    )
    assert_one_error_line(
        code, err, "you seem to be offline", str(tmp_path / "kmnist"), progress=True
    )


def test_real_process_prints_one_line_and_no_traceback(tmp_path):
    path = pickled_npz(tmp_path / "bad.npz")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "aekit",
            "train",
            "--dataset",
            str(path),
            "--out",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert_one_error_line(result.returncode, result.stderr, str(path), "never loads")
    assert result.stdout == ""


def test_training_on_user_files_end_to_end(capsys, tmp_path):
    """A tiny CSV and a tiny sequence .npz train through the same command as MNIST."""
    rng = np.random.default_rng(0)
    csv = tmp_path / "table.csv"
    rows = [f"{a:.3f},{b:.3f},{int(a > 0)}" for a, b in rng.normal(size=(120, 2)) * 10]
    csv.write_text("a,b,label\n" + "\n".join(rows) + "\n")
    npz = tmp_path / "waves.npz"
    np.savez(npz, x=np.sin(rng.random((120, 12, 2)) * 6), kind="sequence")
    for path in (csv, npz):
        out_dir = tmp_path / f"run-{path.stem}"
        code, out, err = run_cli(
            capsys,
            "train", "--dataset", str(path), "--epochs", "1", "--hidden", "8",
            "--latent-dim", "2", "--batch-size", "32", "--quiet", "--out", str(out_dir),
        )  # fmt: skip
        assert code == 0, err
        assert f"run saved in {out_dir}" in out
        assert (out_dir / "model.safetensors").is_file()


def test_datasets_lists_named_sets_and_formats(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "datasets", "--data-dir", str(tmp_path))
    assert code == 0
    for name in ("mnist-5k", "digits", "mnist", "fashion-mnist", "kmnist"):
        assert f"\n{name} " in "\n" + out
    for fmt in (".npz", ".npy", ".csv", "FOLDER", "kind='sequence'", "min-max"):
        assert fmt in out
    assert "[downloaded on first use]" in out and str(tmp_path) in out


def small_mnist_folder(root: Path) -> Path:
    """``root/mnist/`` with 60 random 28x28 training images and 20 test images."""
    folder = root / "mnist"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = []
    for n in (60, 20):
        arrays += [rng.integers(0, 256, (n, 28, 28), np.uint8), np.arange(n, dtype=np.uint8) % 10]
    for name, array in zip(sources.IDX_FILES, arrays):
        (folder / name).write_bytes(idx_gz(array))
    return root


def test_a_run_finds_its_data_from_anywhere_and_moved_data_can_be_named(
    capsys,
    monkeypatch,
    tmp_path,
    closed_port,  # noqa: F811
):
    """A relative --data-dir is stored absolute, so the run works from another directory;
    when the stored folder is gone, --data-dir or $AEKIT_DATA_DIR say where the data is now."""
    small_mnist_folder(tmp_path / "work" / "data")
    monkeypatch.chdir(tmp_path / "work")
    code, _, err = run_cli(
        capsys,
        "train", "--dataset", "mnist", "--data-dir", "data", "--epochs", "1",
        "--hidden", "8", "--latent-dim", "2", "--quiet", "--out", "run",
    )  # fmt: skip
    assert code == 0, err
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run = str(tmp_path / "work" / "run")
    assert run_cli(capsys, "reconstruct", run, "--out", "r.npy")[0] == 0
    assert np.load("r.npy").shape == (10, 1, 28, 28)

    (tmp_path / "work" / "data").rename(tmp_path / "moved")
    monkeypatch.setenv("AEKIT_DATA_DIR", str(tmp_path / "empty"))
    spec = dataclasses.replace(sources.IDX_SETS["mnist"], mirrors=(closed_port,))
    monkeypatch.setitem(sources.IDX_SETS, "mnist", spec)
    # pooch's logger keeps the stderr of the test that first used it, closed by now
    monkeypatch.setattr(pooch.get_logger(), "disabled", True)
    code, _, err = run_cli(capsys, "plot", run, "latent", "--out", "latent.png")
    assert_one_error_line(code, err, str(tmp_path / "empty" / "mnist"), "--data-dir")
    for args in (["evaluate", run, "--data-dir", str(tmp_path / "moved")],
                 ["plot", run, "latent", "--data-dir", str(tmp_path / "moved")]):  # fmt: skip
        code, _, err = run_cli(capsys, *args)
        assert code == 0, err
    monkeypatch.setenv("AEKIT_DATA_DIR", str(tmp_path / "moved"))
    code, _, err = run_cli(capsys, "report", run)
    assert code == 0, err


def test_other_files_are_scaled_as_the_runs_training_data(capsys, tmp_path):
    """A table min-max scaled for training: rows from another file get the training file's
    scale (an outlier stays out of range instead of being squeezed into [0, 1] by its own
    file's extremes), and `aekit evaluate` says so."""
    import json

    from aekit.runs import open_run

    rng = np.random.default_rng(0)
    table = rng.normal(500, 100, size=(150, 3))
    header = "a,b,c\n"
    (tmp_path / "train.csv").write_text(header + "\n".join(",".join(map(str, r)) for r in table))
    fresh = np.vstack([table[:4], [[5000.0, 500.0, 500.0]]])  # four seen rows and an outlier
    (tmp_path / "new.csv").write_text(header + "\n".join(",".join(map(str, r)) for r in fresh))
    out_dir = tmp_path / "run"
    code, _, err = run_cli(
        capsys,
        "train", "--dataset", str(tmp_path / "train.csv"), "--epochs", "1", "--hidden", "8",
        "--latent-dim", "2", "--quiet", "--no-progress-gif", "--out", str(out_dir),
    )  # fmt: skip
    assert code == 0, err
    run = open_run(out_dir)
    low, high = table.min(0), table.max(0)
    expected = (fresh - low) / (high - low)
    np.testing.assert_allclose(run.inputs(str(tmp_path / "new.csv")).x.numpy(), expected, rtol=1e-5)
    assert run.inputs(str(tmp_path / "new.csv")).x[-1, 0] > 5  # not squeezed into [0, 1]
    code, out, _ = run_cli(capsys, "evaluate", str(out_dir), "--dataset", str(tmp_path / "new.csv"),
                           "--json")  # fmt: skip
    assert code == 0
    assert (
        "values scaled as the run's training data (min-max (per feature))"
        in json.loads(out)["data"]
    )
    (tmp_path / "wide.csv").write_text("a,b\n1,2\n3,4\n")
    code, _, err = run_cli(capsys, "encode", str(out_dir), "--input", str(tmp_path / "wide.csv"),
                           "--out", str(tmp_path / "c.npy"))  # fmt: skip
    assert code == 1 and "examples have 2 features, but the data the model was trained on" in err
