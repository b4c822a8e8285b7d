"""Installed from a wheel (``pip install .``, not ``-e``) aekit has everything it ships: the
recipes list, and a recipe trains, from a folder that is not a clone."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO


def run(*args: str | os.PathLike, cwd: Path, env: dict | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=600, env=env
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtual environment with aekit installed from a freshly built wheel; the
    dependencies are this environment's (made visible by a .pth file), so nothing is
    downloaded."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"  # a copy: building writes build/ and *.egg-info beside the code
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    # this environment's setuptools builds it when it has one (no download); else pip fetches
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q",
        "-w", root / "dist", source, cwd=root)  # fmt: skip
    (wheel,) = (root / "dist").glob("aekit-*.whl")
    venv = root / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=root)
    python = venv / "bin" / "python"
    target = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                      cwd=root).strip())  # fmt: skip
    (target / "outer-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
        "-q", wheel, cwd=root)  # fmt: skip
    return venv


def test_an_installed_aekit_lists_and_trains_its_recipes(installed, tmp_path):
    python, aekit = installed / "bin" / "python", installed / "bin" / "aekit"
    where = run(python, "-c", "import aekit; print(aekit.__file__)", cwd=tmp_path)
    assert Path(where.strip()).is_relative_to(installed)  # the wheel's copy, not the clone
    listed = run(aekit, "recipes", cwd=tmp_path)
    assert "keras-simple-ae" in listed and "S19" in listed
    args = ["--config", "keras-simple-ae", "--dataset", "mnist-5k", "--epochs", "1"]
    args += ["--limit", "300", "--quiet", "--out", "run"]
    out = run(aekit, "train", *args, cwd=tmp_path)
    assert "run saved in run" in out
    assert (tmp_path / "run" / "model.safetensors").is_file()
    with zipfile.ZipFile(next((installed.parent / "dist").glob("aekit-*.whl"))) as wheel:
        shipped = {Path(name).name for name in wheel.namelist() if "/recipes/" in name}
    assert "keras-simple-ae.yaml" in shipped and len(shipped) >= 10
