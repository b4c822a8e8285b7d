"""``aekit train``: one command for every model, data set and recipe."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import click

from aekit.cli.options import SEED, SIZES, data_root_option, parse_assignment
from aekit.errors import Interrupted

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
    type=click.Choice(["bce", "mse"]),
    help="Reconstruction term: Bernoulli (bce) or Gaussian (mse).",
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
def train_command(
    config_file,
    assignments,
    out,
    overwrite,
    resume,
    quiet,
    progress_gif,
    tensorboard,
    kl_warmup,
    **options,
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

    settings = {
        "log": None if quiet else _echo,
        "progress": not quiet,
        "callbacks": _figure_callbacks(progress_gif, tensorboard),
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
    if result.path is not None and not quiet_rank():  # under torchrun, rank 0 reports
        click.echo(f"run saved in {result.path}{_summary(result)}")


def _summary(run) -> str:
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


def _figure_callbacks(progress_gif: bool | None, tensorboard: bool) -> list:
    """The progress GIF (unless switched off) and the TensorBoard logger (if asked for)."""
    from aekit.figures.progress import ProgressGif

    callbacks: list = [] if progress_gif is False else [ProgressGif(enabled=progress_gif)]
    if tensorboard:
        from aekit.figures.tensorboard import TensorBoardLogger

        callbacks.append(TensorBoardLogger())
    return callbacks


def _reject_with_resume(config_file, options, assignments) -> None:
    """A resumed run keeps its own config; only --epochs may extend it (and --data-dir say
    where its data set is now)."""
    given = [k for k, v in options.items() if v is not None and k not in ("epochs", "data_dir")]
    if config_file or given or assignments:
        names = ", ".join(f"--{k.replace('_', '-')}" for k in given) or "--config/--set"
        raise click.UsageError(
            f"--resume keeps the run's own config; drop {names} (only --epochs may change)"
        )


def _default_out(config, config_file: str | None) -> str:
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


COMMANDS = (train_command,)
