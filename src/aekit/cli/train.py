"""``aekit train``: one command for every model, data set and recipe."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from aekit.cli.options import (
    SEED,
    SIZES,
    data_root_option,
    parse_assignment,
    split_assignment,
    threads_option,
)
from aekit.errors import AekitError, Interrupted

if TYPE_CHECKING:
    from aekit.config import RunConfig
    from aekit.runs.directory import Run
    from aekit.sweep import Outcome
    from aekit.training.tracking import Tracker
    from aekit.training.trainer import Callback

# option name -> dotted config key
_OVERRIDES = {
    "model": "model.name",
    "latent_dim": "model.latent_dim",
    "hidden": "model.hidden",
    "activation": "model.activation",
    "recon_loss": "model.recon_loss",
    "kl_weight": "model.kl_weight",
    "dataset": "data.dataset",
    "data_dir": "data.data_dir",
    "binarize": "data.binarize",
    "noise": "data.noise",
    "limit": "data.limit",
    "validation": "data.validation",
    "epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "optimizer": "train.optimizer",
    "lr": "train.lr",
    "lr_schedule": "train.lr_schedule",
    "warmup": "train.warmup_epochs",
    "seed": "train.seed",
    "precision": "train.precision",
    "compile": "train.compile",
    "device": "train.device",
    "early_stopping": "train.early_stopping",
    "greedy": "train.greedy",
    "finetune_epochs": "train.greedy_finetune_epochs",
}


@click.command("train")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="YAML config, or a recipe name (see `aekit recipes`); options below override it.",
)
@click.option("--model", help="Model name (see `aekit models`). Default: ae.")
@click.option(
    "--dataset", help="Named data set (see `aekit datasets`) or a path. Default: mnist-5k."
)
@data_root_option
@click.option("--latent-dim", type=click.IntRange(min=1), help="Size of the code.")
@click.option("--hidden", type=SIZES, help="Hidden layer sizes, e.g. 256,128.")
@click.option("--activation", help="Hidden activation: relu, selu, elu, gelu, tanh, sigmoid, ...")
@click.option(
    "--recon-loss",
    type=click.Choice(["bce", "mse", "multinomial"]),
    help="Reconstruction term: Bernoulli (bce), Gaussian (mse) or multinomial (interactions).",
)
@click.option(
    "--kl-weight", type=click.FloatRange(min=0), help="Weight of the KL term (VAEs; S3 uses 3)."
)
@click.option(
    "--binarize",
    type=click.Choice(["static", "dynamic"]),
    help="Binarize pixels: >= 0.5 once, or Bernoulli per batch.",
)
@click.option("--noise", help="Train as a denoiser: gaussian:FACTOR or dropout:P.")
@click.option("--limit", type=click.IntRange(min=1), help="Use only the first N training examples.")
@click.option(
    "--validation",
    type=click.Choice(["split", "test"]),
    help="Validate on a held-out split of train, or on the test set (as the Keras articles).",
)
@click.option("--epochs", type=click.IntRange(min=1), help="Number of epochs. Default: 10.")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    help="Batch size. Default: 128, or the model's own (`aekit models`). Under torchrun it is "
    "the global batch: each of N processes takes 1/N of every batch (N must divide it).",
)
@click.option(
    "--optimizer", type=click.Choice(["adam", "adamw", "sgd", "rmsprop"]), help="Default: adam."
)
@click.option(
    "--lr",
    type=click.FloatRange(min=0, min_open=True),
    help="Learning rate. Default: 1e-3, or the model's own (`aekit models`).",
)
@click.option(
    "--lr-schedule",
    type=click.Choice(["constant", "step", "cosine", "plateau"]),
    help="Learning-rate schedule (tune it with --set train.lr_step / lr_gamma / lr_min / "
    "lr_patience). Default: constant, or the model's own.",
)
@click.option(
    "--warmup",
    type=click.FloatRange(min=0),
    metavar="EPOCHS",
    help="Raise the learning rate linearly from 0 over the first EPOCHS (fractions allowed).",
)
@click.option(
    "--kl-warmup",
    type=click.FloatRange(min=0, min_open=True),
    metavar="EPOCHS",
    help="VAEs: raise the KL weight linearly from 0 to --kl-weight over the first EPOCHS.",
)
@click.option("--seed", type=SEED, help="Random seed. Same seed, data and device: same numbers.")
@click.option(
    "--precision",
    type=click.Choice(["fp32", "bf16", "fp16"]),
    help="bf16 = mixed precision autocast (fast on CPUs with AMX/AVX512-BF16 and on recent "
    "GPUs); fp16 = autocast with a gradient scaler (CUDA only).",
)
@click.option(
    "--compile",
    is_flag=True,
    default=None,
    help="Compile forward, backward and Adam into one graph (AOTInductor; needs a C++ "
    "compiler). Built once per model and batch shape on a machine and kept in aekit's cache; "
    "later runs load it in milliseconds (build times and speed-ups: benchmarks/RESULTS.md). "
    "Adam and AdamW only.",
)
@click.option(
    "--device",
    help="auto (default), cpu, cuda, cuda:N or mps. Under torchrun: auto, cpu or cuda (each "
    "process on its local rank's GPU).",
)
@click.option(
    "--early-stopping",
    type=click.IntRange(min=1),
    help="Stop after N epochs without validation improvement; keep the best weights.",
)
@click.option(
    "--greedy",
    is_flag=True,
    default=None,
    help="Greedy layer-wise training (ae, linear-ae, tied-ae): one shallow autoencoder per "
    "layer, --epochs each, then stacked.",
)
@click.option(
    "--finetune-epochs",
    type=click.IntRange(min=0),
    help="With --greedy: then train the whole stack end to end for N epochs. Default: 0.",
)
@click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="SECTION.KEY=VALUE",
    help="Any other config value, e.g. --set model.channels=[30,15].",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    help="Run directory. Default: runs/CONFIG[-N] with --config, else runs/MODEL-DATASET[-N].",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing run in --out.")
@click.option(
    "--resume",
    type=click.Path(file_okay=False),
    metavar="RUN",
    help="Continue an interrupted run from its last checkpoint.",
)
@click.option("--quiet", is_flag=True, help="No progress bar or per-epoch lines.")
@click.option(
    "--progress-gif/--no-progress-gif",
    default=None,
    help="Decode 16 fixed codes every epoch into RUN/figures/progress.gif. "
    "Default: on for generative models.",
)
@click.option("--tensorboard", is_flag=True, help="Log metrics and images to RUN/tensorboard/.")
@click.option(
    "--mlflow",
    is_flag=False,
    flag_value="mlruns",
    default=None,
    metavar="[URI]",
    help="Log parameters, metrics and the run's files to MLflow: a tracking server URL, or a "
    "folder (alone: ./mlruns). With --resume the same MLflow run continues.",
)
@click.option(
    "--wandb",
    is_flag=False,
    flag_value="",
    default=None,
    type=click.Choice(["", "offline", "online"]),
    metavar="[offline|online]",
    help="Log the config, metrics, figures and the run's files to Weights & Biases: offline "
    "(alone, unless $WANDB_MODE says otherwise; `wandb sync` uploads later) or online. "
    "With --resume the same W&B run continues.",
)
@threads_option
def train_command(
    config_file: str | None,
    assignments: tuple[str, ...],
    out: str | None,
    overwrite: bool,
    resume: str | None,
    quiet: bool,
    progress_gif: bool | None,
    tensorboard: bool,
    mlflow: str | None,
    wandb: str | None,
    kl_warmup: float | None,
    **options: Any,
) -> None:
    """Train an autoencoder and write a run directory.

    \b
    Examples:
      aekit train                                   # ae on the bundled MNIST-5k digits
      aekit train --model vae --dataset mnist --latent-dim 2 --epochs 20
      aekit train --config recipes/keras-simple-ae.yaml
      aekit train --model tied-ae --hidden 100 --latent-dim 30 --greedy --finetune-epochs 5
      aekit train --resume runs/vae-mnist           # continue after an interruption
      torchrun --nproc-per-node 4 -m aekit train --model conv-vae --dataset mnist
                                                    # 4 processes, data-parallel (DDP)
    """
    from aekit.config import RunConfig
    from aekit.recipes import config_path
    from aekit.workflow import resume as resume_run
    from aekit.workflow import train

    trackers = _trackers(mlflow, wandb)
    callbacks = [*_figure_callbacks(progress_gif, tensorboard), *_thread_callbacks()]
    settings: dict[str, Any] = {  # keywords of both train() and resume()
        "log": None if quiet else _echo,
        "progress": not quiet,
        "callbacks": callbacks + trackers,
    }
    if resume:
        _reject_with_resume(config_file, {**options, "kl_warmup": kl_warmup}, assignments)
        out = resume
        start = partial(
            resume_run, resume, epochs=options["epochs"], data_dir=options["data_dir"], **settings
        )
    else:
        config = RunConfig.load(config_path(config_file)) if config_file else RunConfig()
        overrides = {_OVERRIDES[k]: v for k, v in options.items() if v is not None}
        if kl_warmup is not None:
            schedule = {"kl_weight": {"start": 0.0, "epochs": kl_warmup}}
            overrides["train.weight_schedules"] = schedule
        overrides.update(parse_assignment(a) for a in assignments)
        config = config.with_overrides(overrides)
        out = out or _default_out(config, config_file)
        start = partial(train, config, out, overwrite=overwrite, **settings)
    from aekit.training.distributed import PeerLost, quiet_rank

    try:
        result = start()
    except KeyboardInterrupt:
        raise _stopped(Path(out), "interrupted") from None
    except PeerLost as lost:
        raise _stopped(Path(out), str(lost), resume="torchrun ... -m aekit train") from None
    for tracker in trackers:
        tracker.upload(result)  # after the figures, which training draws once it has ended
    if result.path is not None and not quiet_rank():  # under torchrun, rank 0 reports
        click.echo(f"run saved in {result.path}{_summary(result)}")


def _summary(run: Run) -> str:
    """The kept epoch's validation numbers: the last one's, or with early stopping the best
    one's (whose weights the run keeps)."""
    rows = [row for row in run.history if row.get("val_loss") is not None]
    if not rows:
        return ""
    kept = rows[-1]
    if run.config.train.early_stopping and not run.config.train.greedy:
        kept = min(rows, key=lambda row: row["val_loss"])
    numbers = ", ".join(f"{k} {kept[k]:.5g}" for k in ("val_loss", "val_elbo") if k in kept)
    if kept is not rows[-1]:
        return f" (best epoch {kept['epoch']} of {rows[-1]['epoch']} kept: {numbers})"
    return f" ({numbers})"


def _stopped(path: Path, why: str, resume: str = "aekit train") -> Interrupted:
    """Ctrl-C, or another process of a torchrun job gone: say what the run directory kept
    (its checkpoint's epochs: the file an epoch commits first) and how to go on from there."""
    from aekit.runs.checkpoint import checkpoint_state
    from aekit.runs.directory import Run

    run = Run(path)
    if not run.checkpoint_file.is_file():
        return Interrupted(f"{why}; {path} has no checkpoint to resume from")
    epoch = checkpoint_state(run.checkpoint_file)["epoch"]
    return Interrupted(
        f"{why}; {path} keeps every finished epoch (1-{epoch}): "
        f"continue with `{resume} --resume {path}`"
    )


def _figure_callbacks(progress_gif: bool | None, tensorboard: bool) -> list[Callback]:
    """The progress GIF (unless switched off) and the TensorBoard logger (if asked for)."""
    from aekit.figures.progress import ProgressGif

    callbacks: list[Callback] = [] if progress_gif is False else [ProgressGif(enabled=progress_gif)]
    if tensorboard:
        from aekit.figures.tensorboard import TensorBoardLogger

        callbacks.append(TensorBoardLogger())
    return callbacks


def _trackers(mlflow: str | None, wandb: str | None) -> list[Tracker]:
    """The experiment trackers asked for (``--wandb`` alone gives ``""``: W&B's own mode)."""
    from aekit.training.tracking import MLflowLogger, WandbLogger

    trackers: list[Tracker] = [] if mlflow is None else [MLflowLogger(mlflow)]
    return trackers + ([] if wandb is None else [WandbLogger(wandb or None)])


def _thread_callbacks() -> list[Callback]:
    """Following the free cores while training, unless the thread count is fixed."""
    from aekit.training.threads import FollowFreeCores, ThreadCount

    count = click.get_current_context().find_object(ThreadCount)
    return [] if count is None or count.fixed is not None else [FollowFreeCores(count)]


def _reject_with_resume(
    config_file: str | None, options: dict[str, Any], assignments: tuple[str, ...]
) -> None:
    """A resumed run keeps its own config; only --epochs may extend it (and --data-dir say
    where its data set is now)."""
    given = [k for k, v in options.items() if v is not None and k not in ("epochs", "data_dir")]
    if config_file or given or assignments:
        names = ", ".join(f"--{k.replace('_', '-')}" for k in given) or "--config/--set"
        raise click.UsageError(
            f"--resume keeps the run's own config; drop {names} (only --epochs may change)"
        )


def _default_out(config: RunConfig, config_file: str | None) -> str:
    """runs/CONFIG for a config file or recipe (runs/keras-simple-ae), else runs/MODEL-DATASET;
    with -2, -3, ... if that run already exists."""
    if config_file:
        name = Path(config_file).stem
    else:
        dataset = Path(config.data.dataset)
        name = f"{config.model['name']}-{(dataset.stem if dataset.suffix else dataset.name)}"
    base = Path("runs") / name
    candidate, n = base, 1
    while (candidate / "config.yaml").exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return str(candidate)


def _echo(message: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(message)


@click.command("sweep")
@click.argument("config_file", metavar="CONFIG")
@click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="SECTION.KEY=V1,V2,...",
    help="Values to try (YAML; a list in brackets: model.hidden=[256,64],[512]). Repeat it: "
    "the sweep trains every combination.",
)
@click.option(
    "--parallel",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Runs trained at once; the CPU cores are split between them.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    help="Folder of the sweep: one run directory per combination. Default: runs/sweep-CONFIG "
    "(runs/sweep-RUN for RUN/config.yaml).",
)
@click.option(
    "--report/--no-report",
    default=True,
    help="Write OUT/report.html, every run compared (aekit report). Default: on.",
)
@data_root_option
def sweep_command(
    config_file: str,
    assignments: tuple[str, ...],
    parallel: int,
    out: str | None,
    report: bool,
    data_dir: str | None,
) -> None:
    """Train a config with every combination of the given values, PARALLEL runs at a time.

    Each combination is an ordinary run directory in OUT (its output in OUT/NAME.log), and a
    table of all of them is printed at the end. Run the same command again after an
    interruption: finished runs are kept, interrupted ones resume from their last epoch.

    \b
    Examples:
      aekit sweep keras-simple-ae --set train.lr=0.001,0.0003 --set model.latent_dim=16,32
      aekit sweep my.yaml --set model.hidden=[256],[512,128] --parallel 2
    """
    from tqdm.auto import tqdm

    from aekit.recipes import config_path
    from aekit.sweep import KEPT, check, grid, run_sweep
    from aekit.training.threads import ThreadCount

    path = config_path(config_file)
    points = grid([split_assignment(text) for text in assignments])
    check(path, points)
    name = path.parent.name if path.name == "config.yaml" else path.stem  # a run's own config
    folder = Path(out or Path("runs") / f"sweep-{name}")
    capacity = click.get_current_context().ensure_object(ThreadCount).capacity
    threads = max(1, int(capacity) // parallel)
    bar = tqdm(total=len(points), desc="sweep", unit="run", disable=None)

    def heard(outcome: Outcome) -> None:
        bar.update(1)
        tqdm.write(f"{outcome.point.name}: {_outcome_line(outcome)}")

    try:
        outcomes = run_sweep(path, points, folder, parallel, threads, data_dir, heard)
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted; {folder} keeps every finished run and epoch: run the same "
            "command again to continue"
        ) from None
    finally:
        bar.close()
    kept = sum(o.message == KEPT for o in outcomes)
    if kept:
        click.echo(f"{kept} of the runs had finished before: kept as they are")
    click.echo(_sweep_table(outcomes))
    done = [folder / o.point.name for o in outcomes if o.status == "done"]
    if report and done:
        from aekit.figures.report import write_report

        click.echo(f"wrote {write_report(done, folder / 'report.html', data_dir)}")
    failed = [o for o in outcomes if o.status != "done"]
    if failed:
        names = ", ".join(f"{o.point.name} ({folder / o.point.name}.log)" for o in failed)
        raise AekitError(f"{len(failed)} of {len(outcomes)} runs failed: {names}")


def _outcome_line(outcome: Outcome) -> str:
    if outcome.status != "done":
        return f"failed: {outcome.message}"
    numbers = ", ".join(
        f"{k} {outcome.metrics[k]:.5g}" for k in ("val_loss", "val_elbo") if k in outcome.metrics
    )
    return f"{numbers} ({outcome.seconds:.1f} s{', ' + outcome.message if outcome.message else ''})"


def _sweep_table(outcomes: list[Outcome]) -> str:
    """Name, the swept values, the last epoch's validation loss, epochs and seconds, in
    aligned columns."""
    keys = list(outcomes[0].point.values) if outcomes else []
    rows = [["run", *keys, "val_loss", "epochs", "seconds"]]
    for o in outcomes:
        loss = o.metrics.get("val_loss")
        rows.append(
            [
                o.point.name,
                *(json.dumps(o.point.values[k]) for k in keys),
                o.status if loss is None else f"{loss:.5g}",
                str(o.metrics.get("epoch", "")),
                f"{o.seconds:.1f}",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)


COMMANDS = (train_command, sweep_command)
