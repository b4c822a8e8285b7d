"""mypy, at the level ``[tool.mypy]`` in pyproject.toml sets (``--strict`` over src/), finds
nothing: aekit ships ``py.typed``, so its annotations are a promise to its users' checkers."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from tests.conftest import REPO


def test_mypy_finds_no_errors() -> None:
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (it comes with the test extra: pip install '.[test]')")
    # Its cache is REPO/.mypy_cache (git-ignored): a cold run takes about half a minute on two
    # cores (most of it reading torch's annotations), a warm one about ten seconds.
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "pyproject.toml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"mypy found errors:\n{done.stdout}{done.stderr}"
