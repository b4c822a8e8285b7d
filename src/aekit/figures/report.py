"""``aekit report``: one self-contained HTML page per run (or comparing several runs).

Everything is inside the file: figures as base64 data URIs, styles inline, no scripts, no
network, so the page opens anywhere, is archived with the run and can be mailed around.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from aekit.evaluation.metrics import evaluate_model
from aekit.figures.kinds import KINDS, applicable, default_path, plot
from aekit.figures.options import PlotOptions
from aekit.io import atomic_write
from aekit.markup import embedded_image, table
from aekit.markup import escape as _e
from aekit.runs.directory import Run, open_run
from aekit.runs.display import epoch_table

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222;
       padding: 0 1em; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
.subtitle { color: #555; }
"""
_MIME = {".png": "image/png", ".gif": "image/gif"}


def prepared(
    path: str | Path, scratch: Path, data_dir: str | None = None
) -> tuple[Run, dict[str, Any], list[Path]]:
    """Open a run, draw whichever figures it lacks, and evaluate it on its test split;
    return the run, the evaluation and its figure files. A run folder that cannot be written
    (a read-only copy) gets its missing figures drawn under ``scratch`` instead."""
    run = open_run(path, data_dir=data_dir)
    assert run.path is not None, "opened from its folder"
    writable = os.access(run.figures if run.figures.is_dir() else run.path, os.W_OK)
    folder = run.figures if writable else scratch / f"{len(list(scratch.iterdir()))}"
    for name in applicable(run):
        if not default_path(run, name).is_file():
            plot(run, name, PlotOptions(), folder / default_path(run, name).name)
    drawn = [run.figures] if folder == run.figures else [run.figures, folder]
    files = [p for place in drawn if place.is_dir() for p in place.iterdir()]
    return run, evaluate_model(run.model, run.data.test), _figure_files(files)


def _figure_files(paths: list[Path]) -> list[Path]:
    """The images among ``paths``: curves first, then the kinds in their usual order, then
    any other image."""
    order = ["curves", *KINDS]
    files = [p for p in paths if p.suffix in _MIME and p.is_file()]
    return sorted(
        files, key=lambda p: (order.index(p.stem) if p.stem in order else len(order), p.name)
    )


def write_report(runs: Sequence[str | Path], out: Path, data_dir: str | None = None) -> Path:
    """Write the HTML page for one run, or a comparison of several, to ``out``; ``data_dir``
    overrides where the runs' data sets are read from."""
    with tempfile.TemporaryDirectory(prefix="aekit-report-") as scratch:
        evaluated = [prepared(run, Path(scratch), data_dir) for run in runs]
        if len(evaluated) == 1:
            title = f"aekit run {evaluated[0][0].name}"
            body = _run_section(*evaluated[0], heading="h1")
        else:
            title = f"aekit: {len(evaluated)} runs compared"
            comparison = _comparison_table([(run, test) for run, test, _ in evaluated])
            body = f"<h1>{_e(title)}</h1>\n{comparison}\n" + "\n".join(
                _run_section(*each, heading="h2") for each in evaluated
            )
    page = (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        f"<title>{_e(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"{body}\n</body>\n</html>\n"
    )
    with atomic_write(out, "w") as handle:
        handle.write(page)
    return out


def _run_section(run: Run, test: dict[str, Any], figures: list[Path], heading: str) -> str:
    sub = "h2" if heading == "h1" else "h3"
    parts = [
        f"<{heading} id='{_e(run.name)}'>{_e(run.name)}</{heading}>",
        f"<p class='subtitle'>{_e(str(run.path))}</p>",
        table(["", ""], [[k, v] for k, v in run.facts().items()], show_header=False),
        f"<{sub}>Final metrics</{sub}>",
        epoch_table(run.final_epoch, run.loss_unit),
        _test_table(test),
        f"<{sub}>Figures</{sub}>",
        *(_figure(path) for path in figures),
        f"<{sub}>Configuration</{sub}>",
        f"<pre>{_e(yaml.safe_dump(run.config.to_dict(), sort_keys=False))}</pre>",
    ]
    return "\n".join(parts)


def _test_table(test: dict[str, Any]) -> str:
    return table(
        [f"test split ({test['examples']} examples)", "value"],
        [[k, v] for k, v in test.items() if k != "examples"],
    )


def _comparison_table(evaluated: list[tuple[Run, dict[str, Any]]]) -> str:
    metrics = ["train_loss", "val_loss"]
    tests = sorted({k for _, test in evaluated for k in test if k != "examples"})
    header = ["run", "model", "data set", "code", "parameters", "epochs", "loss per", *metrics]
    header += [f"test {k}" for k in tests]
    rows = [
        [
            f"<a href='#{_e(run.name)}'>{_e(run.name)}</a>",
            run.model.name,
            run.config.data.dataset,
            run.model.code_dim,
            run.facts()["parameters"],
            run.final_epoch.get("epoch", 0),
            run.loss_unit,
            *(run.final_epoch.get(m) for m in metrics),
            *(test.get(k) for k in tests),
        ]
        for run, test in evaluated
    ]
    return table(header, rows, raw_first=True)


def _figure(path: Path) -> str:
    caption = KINDS[path.stem].help if path.stem in KINDS else ""
    image = embedded_image(path.read_bytes(), path.stem, _MIME[path.suffix])
    return f"<figure>{image}<figcaption><b>{_e(path.name)}</b> {_e(caption)}</figcaption></figure>"
