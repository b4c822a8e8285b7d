"""The example notebooks run from top to bottom in a real Jupyter kernel (nbclient), so they
never go stale, and show what they promise: a run as HTML, figures inline."""

from __future__ import annotations

import os

import pytest

from tests.conftest import REPO

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

EXAMPLES = REPO / "examples"


def _executed(name: str, folder) -> list:
    notebook = nbformat.read(EXAMPLES / f"{name}.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": folder}}
    )
    # One thread in the kernel, as the rest of the suite has: two test processes share two cores
    kernel_env = {**os.environ, "OMP_NUM_THREADS": "1"}
    client.execute(env=kernel_env)  # a failing cell raises CellExecutionError, with its traceback
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def _kinds(cell) -> set[str]:
    return {kind for output in cell.outputs for kind in output.get("data", {})}


def test_the_first_autoencoder_notebook_trains_shows_and_plots(tmp_path):
    cells = _executed("first-autoencoder", tmp_path)
    bars = _kinds(cells[0])  # the training cell: tqdm's notebook widgets, not terminal text
    assert "application/vnd.jupyter.widget-view+json" in bars
    shown = [cell for cell in cells if cell.source.strip() == "run"]
    assert "text/html" in _kinds(shown[0])
    html = shown[0].outputs[0]["data"]["text/html"]
    assert "first-ae" in html and "metric (last epoch)" in html and "image/png" in html
    plots = [cell for cell in cells if cell.source.startswith("aekit.plot(")]
    assert len(plots) == 2 and all("image/png" in _kinds(cell) for cell in plots)
    assert (tmp_path / "runs" / "first-ae" / "model.safetensors").is_file()


def test_the_vae_comparison_notebook_tabulates_and_shows_every_model(tmp_path):
    cells = _executed("compare-vae-variants", tmp_path)
    table = "".join(o.get("text", "") for cell in cells for o in cell.outputs)
    for model in ("vae", "iwae", "vamp", "vae-iaf"):
        assert f"\n{model} " in table
    samples = [cell for cell in cells if 'aekit.plot(run, "samples"' in cell.source]
    assert sum("image/png" in o.get("data", {}) for o in samples[0].outputs) == 4
