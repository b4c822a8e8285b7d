"""``aekit report``: one self-contained HTML page per run (or comparing several runs).

Everything is inside the file: figures as base64 data URIs, styles inline, no scripts, no
network, so the page opens anywhere, is archived with the run and can be mailed around.
"""

from __future__ import annotations

import base64
import html
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
from aekit.runs.directory import Run, open_run

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


def _final(run: Run) -> dict[str, Any]:
    """The last epoch of ``metrics.jsonl``."""
    return run.history[-1] if run.history else {}


def _parameters(run: Run) -> int:
    return sum(p.numel() for p in run.model.parameters())


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
            table = _comparison_table([(run, test) for run, test, _ in evaluated])
            body = f"<h1>{_e(title)}</h1>\n{table}\n" + "\n".join(
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
    facts = {
        "model": run.model.name,
        "data set": run.config.data.dataset,
        "code size": run.model.code_dim,
        "parameters": f"{_parameters(run):,}",
        "epochs trained": _final(run).get("epoch", 0),
        "training examples": len(run.data.train),
        "test examples": len(run.data.test),
    }
    parts = [
        f"<{heading} id='{_e(run.name)}'>{_e(run.name)}</{heading}>",
        f"<p class='subtitle'>{_e(str(run.path))}</p>",
        _table(["", ""], [[k, v] for k, v in facts.items()], show_header=False),
        f"<{sub}>Final metrics</{sub}>",
        _metrics_table(_final(run), test, _loss_unit(run)),
        f"<{sub}>Figures</{sub}>",
        *(_figure(path) for path in figures),
        f"<{sub}>Configuration</{sub}>",
        f"<pre>{_e(yaml.safe_dump(run.config.to_dict(), sort_keys=False))}</pre>",
    ]
    return "\n".join(parts)


def _metrics_table(final: dict[str, Any], test: dict[str, Any], unit: str) -> str:
    """Last epoch's train and validation numbers side by side (the loss per ``unit``), then
    the test evaluation."""
    names = sorted(
        {k.split("_", 1)[1] for k in final if k.startswith(("train_", "val_"))},
        key=lambda k: (k != "loss", k),
    )
    rows = [
        [f"loss (per {unit})" if n == "loss" else n, final.get(f"train_{n}"), final.get(f"val_{n}")]
        for n in names
    ]
    epoch_table = _table(["metric (last epoch)", "train", "validation"], rows)
    test_table = _table(
        [f"test split ({test['examples']} examples)", "value"],
        [[k, v] for k, v in test.items() if k != "examples"],
    )
    return epoch_table + "\n" + test_table


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
            f"{_parameters(run):,}",
            _final(run).get("epoch", 0),
            _loss_unit(run),
            *(_final(run).get(m) for m in metrics),
            *(test.get(k) for k in tests),
        ]
        for run, test in evaluated
    ]
    return _table(header, rows, raw_first=True)


def _loss_unit(run: Run) -> str:
    """What one unit of the run's train and validation loss is: the trainer optimises a mean
    per element (Keras' convention) or per example (nats, for VAEs), so losses of two runs
    compare only in the same unit."""
    reduction = run.config.train.loss_reduction or run.model.default_reduction
    return "element" if reduction == "per_element" else "example"


def _table(
    header: list[str], rows: list[list[Any]], show_header: bool = True, raw_first: bool = False
) -> str:
    """An HTML table; numbers right-aligned, ``raw_first`` keeps first-column HTML (links)."""
    lines = ["<table>"]
    if show_header:
        lines.append("<tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>")
    for row in rows:
        cells = [
            f"<td>{value}</td>" if i == 0 and raw_first else _cell(value)
            for i, value in enumerate(row)
        ]
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"<td class='num'>{value:.5g}</td>"
    if isinstance(value, int):
        return f"<td class='num'>{value}</td>"
    return f"<td>{_e('' if value is None else value)}</td>"


def _figure(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    caption = KINDS[path.stem].help if path.stem in KINDS else ""
    return (
        f"<figure><img src='data:{_MIME[path.suffix]};base64,{data}' alt='{_e(path.stem)}'>"
        f"<figcaption><b>{_e(path.name)}</b> {_e(caption)}</figcaption></figure>"
    )


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)
