"""Using a trained run: evaluate, reconstruct, sample, encode, decode."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import click

from aekit.cli.options import data_dir_option, run_argument
from aekit.errors import AekitError


@click.command("evaluate")
@run_argument
@click.option(
    "--dataset", help="Evaluate on all of this data set / file instead of the run's test split."
)
@data_dir_option
@click.option(
    "--iw-samples",
    type=click.IntRange(min=1),
    help="VAEs: importance samples per example for the NLL estimate nll_iw (the literature "
    "uses 5000; costs K decoder passes per example). Default: off.",
)
@click.option(
    "--iw-examples",
    type=click.IntRange(min=1),
    help="Compute nll_iw on the first N examples only (K=5000 on 10,000 images is slow on a "
    "CPU). Default: all.",
)
@click.option(
    "--fid",
    is_flag=True,
    help="Generative models: Frechet distance of samples to the test images in the features "
    "of a small classifier (trained once per data set, then cached), the classifier's own "
    "accuracy, and label_accuracy for conditional models.",
)
@click.option(
    "--fid-samples",
    type=click.IntRange(min=2),
    default=10_000,
    show_default=True,
    help="Generated samples (and test images) compared by --fid.",
)
@click.option(
    "--labels",
    metavar="K,K,...",
    callback=lambda _ctx, _param, value: _parse_labels(value),
    help="Conditional models: generate only these classes for --fid, e.g. 0,3 (implies --fid).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def evaluate_command(
    run, dataset, data_dir, iw_samples, iw_examples, fid, fid_samples, labels, as_json
) -> None:
    """Metrics of a trained run on its test split (or on another data set of the same shape).

    \b
    Always: recon_mse, recon_bce (per pixel), psnr (dB, mean over images), code statistics
    (mean_activation, near_zero_fraction: |code| < 0.01), compression_ratio (8-bit input
    bytes / float32 code bytes) with float16 distortion, and on labelled data the probes
    probe_accuracy (logistic regression) and knn_accuracy (k=5) on a fixed 50/50 split of the
    test codes. Deterministic models with a code smaller than the input: pca_recon_mse at
    the same code size. VAEs: elbo (nats); with --iw-samples, nll_iw (nats) and on binarized
    data bits_per_dim.
    """
    from aekit.evaluation.report import EvaluationOptions, evaluate_run
    from aekit.runs import open_run

    loaded = open_run(run, data_dir=data_dir)
    split = loaded.inputs(dataset)
    options = EvaluationOptions(
        iw_samples=iw_samples,
        iw_examples=iw_examples,
        fid=fid or labels is not None,
        fid_samples=fid_samples,
        labels=labels,
    )
    binarized = loaded.config.data.binarize is not None and not dataset
    metrics = {"run": str(loaded.run.path), "model": loaded.model.name}
    metrics["data"] = dataset or f"{loaded.config.data.dataset} (test split)"
    log = functools.partial(click.echo, err=True)
    metrics.update(evaluate_run(loaded, split, options, binarized=binarized, log=log))
    if as_json:
        click.echo(json.dumps(metrics))
        return
    width = max(map(len, metrics))
    for key, value in metrics.items():
        text = f"{value:.6g}" if isinstance(value, float) else str(value)
        click.echo(f"{key:<{width}}  {text}")


@click.command("reconstruct")
@run_argument
@click.option(
    "-n",
    "count",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="How many test images.",
)
@click.option(
    "--dataset", help="Reconstruct examples of this data set / file instead of the test split."
)
@data_dir_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="PNG figure or .npy array. Default: RUN/figures/reconstructions.png.",
)
def reconstruct_command(run, count, dataset, data_dir, out) -> None:
    """Originals above their reconstructions."""
    from aekit.figures.run_figures import reconstruction_figure
    from aekit.runs import open_run

    loaded = open_run(run, data_dir=data_dir)
    split = loaded.inputs(dataset)
    split = split.subset(count)
    labels = split.y if loaded.model.conditional else None
    recon = loaded.model.reconstruct(split.x, labels)
    path = Path(out) if out else loaded.run.figures / "reconstructions.png"
    if path.suffix == ".npy":
        _save_npy(path, recon.numpy())
    elif reconstruction_figure(split.x, recon, _png(path), n=count) is None:
        raise AekitError("this data has no image form; use --out FILE.npy")
    click.echo(f"wrote {path}")


@click.command("sample")
@run_argument
@click.option("-n", "count", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--label", type=click.IntRange(min=0), help="Class to generate (conditional models).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="PNG grid or .npy array. Default: RUN/figures/samples.png.",
)
def sample_command(run, count, label, seed, out) -> None:
    """Decode draws from the prior (VAEs); ``--label K`` for conditional models."""
    import math

    import torch

    from aekit.figures.run_figures import grid_figure
    from aekit.runs import open_run

    loaded = open_run(run)
    model = loaded.model
    if not model.generative:
        raise AekitError(
            f"model {model.name!r} is not generative: it has no prior to sample from "
            "(see `aekit plot RUN samples` for decoding points from the code space)"
        )
    if model.conditional and label is None:
        raise AekitError(
            f"model {model.name!r} is conditional: give --label 0..{model.num_classes - 1}"
        )
    if label is not None and not model.conditional:
        raise AekitError(f"model {model.name!r} is not conditional; drop --label")
    if label is not None and label >= model.num_classes:
        raise AekitError(
            f"--label {label} is out of range; this model knows labels 0..{model.num_classes - 1}"
        )
    y = None if label is None else torch.full((count,), label, dtype=torch.long)
    samples = model.sample(count, y, generator=torch.Generator().manual_seed(seed))
    path = Path(out) if out else loaded.run.figures / "samples.png"
    if path.suffix == ".npy":
        _save_npy(path, samples.numpy())
    else:
        cols = math.ceil(math.sqrt(count))
        title = f"Samples of label {label}" if label is not None else "Samples from the prior"
        if grid_figure(samples, _png(path), title, rows=math.ceil(count / cols), cols=cols) is None:
            raise AekitError("this data has no image form; use --out FILE.npy")
    click.echo(f"wrote {path}")


@click.command("encode")
@run_argument
@click.option("--input", "source", required=True, help="Data set name or file to encode.")
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False), help="Codes as .npy (N x code size)."
)
@data_dir_option
@click.option(
    "--float16",
    is_flag=True,
    help="Store codes as float16: half the bytes (see compression_ratio and float16_recon_mse "
    "in `aekit evaluate`).",
)
def encode_command(run, source, out, data_dir, float16) -> None:
    """Encode data to codes (the posterior mean for VAEs)."""
    import numpy as np

    from aekit.runs import map_batches, open_run

    loaded = open_run(run, data_dir=data_dir)
    model, split = loaded.model, loaded.inputs(source)
    if model.conditional and split.y is None:
        raise AekitError(f"model {model.name!r} is conditional: the input needs labels")
    codes = map_batches(model.encode, split.x, split.y if model.conditional else None).numpy()
    if float16:
        if np.abs(codes).max(initial=0.0) > np.finfo(np.float16).max:
            raise AekitError("codes exceed float16's range (65504); store them without --float16")
        codes = codes.astype(np.float16)
    _save_npy(Path(out), codes)
    click.echo(f"wrote {out}: {codes.shape} {codes.dtype} codes")


@click.command("decode")
@run_argument
@click.option(
    "--codes",
    required=True,
    type=click.Path(dir_okay=False),
    help=".npy array of codes (N x code size).",
)
@click.option(
    "--label", type=click.IntRange(min=0), help="Label for every code (conditional models)."
)
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False), help=".png grid or .npy array."
)
def decode_command(run, codes, label, out) -> None:
    """Decode codes back to data space."""
    import math

    import torch

    from aekit.figures.run_figures import grid_figure
    from aekit.runs import map_batches, open_run

    model = open_run(run).model
    z = _load_codes(codes, model.code_dim)
    if model.conditional and label is None:
        raise AekitError(f"model {model.name!r} is conditional: give --label")
    y = None if label is None else torch.full((len(z),), label, dtype=torch.long)
    images = map_batches(lambda zb, yb: model.to_data(model.decode(zb, yb)), z, y)
    path = Path(out)
    if path.suffix == ".npy":
        _save_npy(path, images.numpy())
    else:
        cols = math.ceil(math.sqrt(len(images)))
        if (
            grid_figure(
                images, _png(path), "Decoded codes", rows=math.ceil(len(images) / cols), cols=cols
            )
            is None
        ):
            raise AekitError("this data has no image form; use --out FILE.npy")
    click.echo(f"wrote {path}")


def _parse_labels(text: str | None) -> tuple[int, ...] | None:
    """``"0,3"`` -> ``(0, 3)``: class labels for --labels."""
    if text is None:
        return None
    try:
        labels = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of labels") from None
    if not labels or min(labels) < 0:
        raise click.BadParameter(f"{text!r}: give labels as integers >= 0, e.g. 0,3")
    return labels


def _load_codes(path: str, code_dim: int):
    import numpy as np
    import torch

    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise AekitError(f"{path}: file not found") from None
    except (ValueError, OSError) as exc:
        raise AekitError(f"{path}: not a readable .npy array ({exc})") from None
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != code_dim:
        raise AekitError(f"{path}: codes must be shaped (N, {code_dim}); got {array.shape}")
    if not np.isfinite(array).all():
        raise AekitError(f"{path}: codes contain NaN or infinite values")
    return torch.from_numpy(array.astype(np.float32))


def _save_npy(path: Path, array) -> None:
    import numpy as np

    from aekit.io import atomic_write

    with atomic_write(path) as handle:
        np.save(handle, array)


def _png(path: Path) -> Path:
    if path.suffix.lower() != ".png":
        raise AekitError(f"{path}: write figures as .png (or arrays as .npy)")
    return path


COMMANDS = (evaluate_command, reconstruct_command, sample_command, encode_command, decode_command)
