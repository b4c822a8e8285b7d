"""Run the article recipes and write ``benchmarks/REPRODUCTION.md`` (issue 6).

For each recipe in ``recipes/`` the table shows what the article printed, what aekit gets on
the same split, the wall time on this machine and the exact command that reproduces the run.
Runs are written under ``runs/reproduce/NAME/``. The report always covers every recipe, each
from its run there (for example one started by hand with ``aekit train``), and lists a recipe
that has no finished run as "not run yet" rather than leaving it out: ``--only`` chooses what
to train (and which figures to copy to the gallery), not which rows to keep, so a subset run
updates its rows of the report without dropping the others. ``--report-only`` trains nothing
and rebuilds the report from the runs present.

    PYTHONPATH=src python benchmarks/reproduce.py --data-dir ../shared/data --only keras-simple-ae
    PYTHONPATH=src python benchmarks/reproduce.py --report-only
    PYTHONPATH=src python benchmarks/reproduce.py --only keras-simple-ae --epochs 1 --limit 300

A smoke run (``--epochs`` or ``--limit``) is not the recipe as written, so it never touches
the real results: its runs go to ``runs/reproduce-smoke/``, its table to
``reproduce-smoke.md``, no figure reaches the gallery and no row is recorded.
"""

from __future__ import annotations

import argparse
import json
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aekit.io import atomic_write
from aekit.recipes import Recipe, select_recipes
from aekit.training.trainer import TrainingDiverged

TIMING_FILE = "reproduce.json"  # wall time and command of a run made by this script
RECORD_FIELDS = ("history", "evaluation", "wall_s", "command", "note")
GALLERY_MAX_BYTES = 200 * 1024  # figures committed for the README gallery must stay small
BASELINE_MAX_CODE = 64  # PCA / probe only for real bottlenecks (a conv feature map is not one)
BASELINE_TRAIN = 10_000  # training examples for the PCA fit and the probe (kept cheap)
IW_SAMPLES, IW_EXAMPLES = 1000, 200  # IWAE NLL of the VAEs: K and the first N test images
FULL_DEFAULTS = {
    "runs": "runs/reproduce",
    "output": "benchmarks/REPRODUCTION.md",
    "gallery": "benchmarks/gallery",
}
SMOKE_DEFAULTS = {"runs": "runs/reproduce-smoke", "output": "reproduce-smoke.md", "gallery": ""}


@dataclass
class Outcome:
    """One recipe's row: the run's numbers, or why there are none."""

    recipe: Recipe
    history: list[dict[str, Any]]
    evaluation: dict[str, Any]
    wall_s: float | None
    command: str
    note: str = ""


def save_record(outcome: Outcome, records: Path) -> None:
    """Keep a finished run's row in ``records/NAME.json`` (run directories are not versioned)."""
    record = {field: getattr(outcome, field) for field in RECORD_FIELDS}
    with atomic_write(records / f"{outcome.recipe.name}.json", "w") as handle:
        json.dump(record, handle, indent=1)
        handle.write("\n")


def load_record(recipe: Recipe, records: Path) -> Outcome | None:
    """The row recorded by an earlier report, when this checkout has no run for the recipe."""
    path = records / f"{recipe.name}.json"
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    return Outcome(recipe, **{field: record[field] for field in RECORD_FIELDS})


def command_for(recipe: Recipe, data_dir: str | None, out: Path, overrides: dict) -> str:
    """The ``aekit train`` command line equivalent to what this script runs."""
    parts = ["aekit", "train", "--config", f"recipes/{recipe.path.name}"]
    if data_dir:
        parts += ["--data-dir", data_dir]
    for flag, value in overrides.items():
        if value is not None:
            parts += [f"--{flag}", str(value)]
    parts += ["--out", str(out), "--overwrite"]
    return shlex.join(parts)


def run_recipe(
    recipe: Recipe, out: Path, data_dir: str | None, epochs: int | None, limit: int | None
) -> None:
    """Train one recipe into ``out`` and record its wall time and command beside the run."""
    from aekit.workflow import train

    overrides = {"data.data_dir": data_dir, "train.epochs": epochs, "data.limit": limit}
    config = recipe.config().with_overrides({k: v for k, v in overrides.items() if v is not None})
    command = command_for(recipe, data_dir, out, {"epochs": epochs, "limit": limit})
    started = time.perf_counter()
    train(config, out, overwrite=True)
    wall = time.perf_counter() - started
    with atomic_write(out / TIMING_FILE, "w") as handle:
        json.dump({"wall_s": wall, "command": command}, handle)


def collect(recipe: Recipe, out: Path, data_dir: str | None) -> Outcome:
    """Read a finished run's metrics and evaluate its model on the test split."""
    from aekit.evaluation import evaluate_model
    from aekit.runs import Run, open_run

    default_command = command_for(recipe, data_dir, out, {})
    if not (out / "config.yaml").is_file():
        return Outcome(recipe, [], {}, None, default_command, "not run yet")
    run = Run.open(out)
    history, planned = run.read_metrics(), run.config.train.epochs
    unfinished = f"unfinished: {len(history)} of {planned} epochs" if len(history) < planned else ""
    if not (out / "model.safetensors").is_file():
        wall = sum(row.get("seconds", 0.0) for row in history) or None
        return Outcome(recipe, history, {}, wall, default_command, unfinished or "no model saved")
    timing_path = out / TIMING_FILE
    if timing_path.is_file():
        timing = json.loads(timing_path.read_text())
        wall, command, note = timing["wall_s"], timing["command"], ""
    else:  # trained by hand with `aekit train`: the epochs' own timings are all there is
        wall = sum(row.get("seconds", 0.0) for row in history)
        command, note = default_command, "wall time = sum of epoch times"
    note = "; ".join(n for n in (unfinished, note) if n)
    opened = open_run(out, data_dir=data_dir)
    data = opened.data
    evaluation = evaluate_model(opened.model, data.test)
    evaluation.update(code_baselines(opened.model, data))
    evaluation.update(mean_code_activation(opened.model, data.test))
    evaluation.update(iwae_nll(opened.model, data.test, opened.binarized))
    return Outcome(recipe, history, evaluation, wall, command, note)


def code_baselines(model, data) -> dict[str, float]:
    """PCA with as many components as the code (test MSE per pixel) and a logistic-regression
    probe on the codes (test accuracy): what the articles did not report."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from aekit.runs.inference import encode

    if model.conditional or not 0 < model.code_dim <= BASELINE_MAX_CODE:
        return {}
    train, test = data.train.subset(min(BASELINE_TRAIN, len(data.train))), data.test
    flat_train, flat_test = train.x.flatten(1).numpy(), test.x.flatten(1).numpy()
    pca = PCA(model.code_dim, random_state=0).fit(flat_train)
    recon = pca.inverse_transform(pca.transform(flat_test)).clip(0.0, 1.0)
    result = {"pca_mse": float(((recon - flat_test) ** 2).mean())}
    if train.y is not None and test.y is not None:
        codes_train, codes_test = encode(model, train.x), encode(model, test.x)
        # standardised codes: unscaled SELU / ReLU codes keep lbfgs from converging
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        probe.fit(codes_train.numpy(), train.y.numpy())
        result["probe_accuracy"] = float(probe.score(codes_test.numpy(), test.y.numpy()))
    return result


def iwae_nll(model, test, binarized: bool) -> dict[str, float]:
    """For VAEs: the importance-weighted NLL (Burda et al.) on the first test images, cheaper
    than the literature's K = 5000 on all 10,000 (``aekit evaluate --iw-samples`` does that)."""
    from aekit.evaluation.likelihood import likelihood_metrics

    if not model.variational:
        return {}
    subset = test.subset(min(IW_EXAMPLES, len(test)))
    return likelihood_metrics(model, subset, IW_SAMPLES, binarized=binarized)


def mean_code_activation(model, test) -> dict[str, float]:
    """For sparse autoencoders: the test set's mean code activation (S15 aims at the target)."""
    from aekit.runs.inference import encode

    if not hasattr(model, "sparsity_target"):
        return {}
    codes = encode(model, test.x)
    return {"mean_activation": float(codes.mean()), "sparsity_target": model.sparsity_target}


def copy_to_gallery(outcome: Outcome, run: Path, gallery: Path) -> list[Path]:
    """Copy a finished run's small figures to ``gallery/NAME-FIGURE.png``."""
    if not outcome.evaluation or outcome.note.startswith("unfinished"):
        return []
    copied = []
    for figure in sorted((run / "figures").glob("*.png")):
        if figure.stat().st_size <= GALLERY_MAX_BYTES:
            target = gallery / f"{outcome.recipe.name}-{figure.name}"
            with atomic_write(target) as handle:
                handle.write(figure.read_bytes())
            copied.append(target)
    return copied


def article_column(recipe: Recipe) -> str:
    return recipe.article.get("printed", "-")


def aekit_column(outcome: Outcome) -> str:
    """The metric the article printed (same name, same split), then the test-set evaluation."""
    if not outcome.history:
        return f"**{outcome.note}**"
    final = outcome.history[-1]
    metric = outcome.recipe.article.get("metric", "val_loss")
    parts = []
    if metric in final:
        parts.append(f"{metric} {final[metric]:.4f} after {final['epoch']} epochs")
    target, label = _article_value_at(outcome.recipe.article, final.get("epoch", 0))
    if target is not None and metric in final:
        parts[-1] += f" ({final[metric] - target:+.4f} vs {label})"
    ev = outcome.evaluation
    if outcome.note.startswith("unfinished"):
        parts.append(f"**{outcome.note.split(';')[0]}**")
    if not ev:
        return "; ".join([*parts, "no test evaluation"])
    parts.append(f"test recon_bce {ev['recon_bce']:.4f}, recon_mse {ev['recon_mse']:.4f}")
    if "elbo" in ev:
        parts.append(f"test ELBO {ev['elbo']:.2f} nats")
    if "nll_iw" in ev:
        nll = f"IWAE NLL {ev['nll_iw']:.2f} ± {ev['nll_iw_stderr']:.2f} nats"
        parts.append(f"{nll} (K={ev['iw_samples']}, first {ev['iw_examples']} test images)")
    if "pca_mse" in ev:
        parts.append(f"PCA at the same code size: test recon_mse {ev['pca_mse']:.4f}")
    if "mean_activation" in ev:
        parts.append(
            f"mean code activation {ev['mean_activation']:.3f} (target {ev['sparsity_target']})"
        )
    if "probe_accuracy" in ev:
        parts.append(f"linear probe on the codes: {ev['probe_accuracy']:.1%} test accuracy")
    return "; ".join(parts)


def _article_value_at(article: dict[str, Any], epoch: int) -> tuple[float | None, str]:
    """The article's number at the same epoch when it printed a curve, else its final one."""
    curve = article.get("per_epoch") or []
    if 1 <= epoch <= len(curve) and epoch != len(curve):
        return curve[epoch - 1], f"the article's epoch {epoch}"
    return article.get("value"), "the article"


def epoch_table(outcome: Outcome) -> list[str]:
    """Epoch-by-epoch comparison where the article printed a curve."""
    printed = outcome.recipe.article.get("per_epoch")
    metric = outcome.recipe.article.get("metric", "val_loss")
    if not printed or not outcome.history:
        return []
    lines = [
        f"#### {outcome.recipe.name}: {metric} per epoch",
        "",
        "| epoch | article | aekit | difference |",
        "|---|---|---|---|",
    ]
    for row in outcome.history:
        epoch = row["epoch"]
        if epoch <= len(printed) and metric in row:
            ours, theirs = row[metric], printed[epoch - 1]
            lines.append(f"| {epoch} | {theirs:.4f} | {ours:.4f} | {ours - theirs:+.4f} |")
    return [*lines, ""]


def render(outcomes: list[Outcome], preamble: str = "") -> str:
    """The whole Markdown report."""
    lines = [
        "# Reproducing the articles' experiments",
        "",
        "Generated by `benchmarks/reproduce.py`; every aekit number below comes from a run in",
        "`runs/reproduce/NAME/` on this machine. Recipes marked **not run yet** have no result.",
        "",
        preamble,
        "",
        "| recipe | systems | article printed | aekit (same split) | wall time | command |",
        "|---|---|---|---|---|---|",
    ]
    for out in outcomes:
        wall = "-" if out.wall_s is None else f"{out.wall_s:.0f} s"
        if out.note and out.history:
            wall += f" ({out.note})"
        ids = ", ".join(out.recipe.ids) or "-"
        lines.append(
            f"| `{out.recipe.name}` | {ids} | {article_column(out.recipe)} | {aekit_column(out)} "
            f"| {wall} | `{out.command}` |"
        )
    lines.append("")
    for out in outcomes:
        lines += epoch_table(out)
    return "\n".join(lines).rstrip() + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        default="",
        help="Comma-separated recipes to train (default all); the report still lists every "
        "recipe, from the runs present.",
    )
    parser.add_argument("--data-dir", help="Folder with mnist/ and fashion-mnist/.")
    parser.add_argument("--epochs", type=int, help="Override every recipe's epochs (smoke runs).")
    parser.add_argument("--limit", type=int, help="Use only the first N training examples.")
    parser.add_argument(
        "--runs", help="Where the runs are written (runs/reproduce, or runs/reproduce-smoke)."
    )
    parser.add_argument(
        "--output", help="Report path (benchmarks/REPRODUCTION.md, or reproduce-smoke.md)."
    )
    parser.add_argument(
        "--records",
        default="benchmarks/reproduction",
        help="Folder of per-recipe JSON rows, kept for recipes whose run is not present "
        "(not used by smoke runs).",
    )
    parser.add_argument(
        "--report-only", action="store_true", help="Train nothing; tabulate the runs present."
    )
    parser.add_argument(
        "--preamble",
        default="benchmarks/reproduction_notes.md",
        help="Markdown file whose text goes above the table (notes, analysis); '' for none.",
    )
    parser.add_argument(
        "--gallery",
        help="Copy finished runs' figures (PNG under 200 KiB) here (default benchmarks/gallery, "
        "none for smoke runs); '' to skip.",
    )
    parser.add_argument("--recipes-dir", help="Recipe folder (default: the repository's).")
    args = parser.parse_args(argv)
    args.smoke = args.epochs is not None or args.limit is not None
    defaults = SMOKE_DEFAULTS if args.smoke else FULL_DEFAULTS
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    names = [name for name in args.only.split(",") if name]
    folder = Path(args.recipes_dir) if args.recipes_dir else None
    chosen = select_recipes(names, folder)
    runs = Path(args.runs)
    failed: dict[str, Outcome] = {}
    if not args.report_only:
        for recipe in chosen:
            out = runs / recipe.name
            print(f"training {recipe.name} ...", flush=True)
            try:
                run_recipe(recipe, out, args.data_dir, args.epochs, args.limit)
            except TrainingDiverged as exc:  # report it and go on with the other recipes
                command = command_for(recipe, args.data_dir, out, {})
                failed[recipe.name] = Outcome(recipe, [], {}, None, command, f"failed: {exc}")
    gallery = {recipe.name for recipe in chosen} if args.gallery else set()
    outcomes = []
    records = Path(args.records)
    recorded = not args.smoke  # smoke rows are not results: not kept, not mixed with them
    for recipe in select_recipes([], folder):  # every recipe: a subset run keeps the others
        out = runs / recipe.name
        outcome = failed.get(recipe.name) or collect(recipe, out, args.data_dir)
        if recorded and outcome.evaluation:
            save_record(outcome, records)
        elif recorded and not outcome.history:
            outcome = load_record(recipe, records) or outcome
        outcomes.append(outcome)
        if recipe.name in gallery:
            copy_to_gallery(outcome, out, Path(args.gallery))
    preamble = Path(args.preamble).read_text() if args.preamble else ""
    with atomic_write(Path(args.output), "w") as handle:
        handle.write(render(outcomes, preamble))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
