"""Using a trained run: evaluate, reconstruct, sample, encode, decode."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import click

from aekit.cli import options as opt
from aekit.errors import AekitError
from aekit.io import to_json

if TYPE_CHECKING:
    import torch


@click.command("evaluate")
@opt.run_argument
@opt.source_option("--dataset", "Evaluate on all of this data set / file instead.")
@opt.data_dir_option
@click.option(
    "--iw-samples",
    type=click.IntRange(min=1),
    help="VAEs: importance samples per example for the NLL estimate nll_iw (the literature "
    "uses 5000; costs K decoder passes per example). Default: off.",
)
@click.option(
    "--iw-examples",
    type=click.IntRange(min=1),
    help="Compute nll_iw on the first N examples only (K=5000 on 10,000 images takes "
    "minutes on a CPU: benchmarks/RESULTS.md). Default: all.",
)
@click.option(
    "--iw-precision",
    type=click.Choice(["fp32", "bf16"]),
    default="fp32",
    show_default=True,
    help="bf16: run nll_iw's networks under bf16 autocast (sums of weights stay float32): "
    "1.6x as fast on a CPU with AVX512-BF16, for an error far below the estimate's "
    "standard error (measured: benchmarks/RESULTS.md).",
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
    type=opt.LABELS,
    help="Conditional models: generate only these classes for --fid, e.g. 0,3 (implies --fid).",
)
@click.option(
    "--sampler",
    "samplers",
    multiple=True,
    help="--fid also for codes from this latent sampler (prior, box, gmm, two-stage, "
    "pixelcnn; repeatable): fid_NAME (implies --fid).",
)
@click.option(
    "--disentanglement",
    is_flag=True,
    help="Runs trained on dsprites: mig, factor_vae_score, dci_disentanglement and "
    "beta_vae_score, from sprites drawn for chosen factors.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@opt.threads_option
def evaluate_command(
    run: str,
    source: str | None,
    data_dir: str | None,
    iw_samples: int | None,
    iw_examples: int | None,
    iw_precision: str,
    fid: bool,
    fid_samples: int,
    labels: list[int] | None,
    samplers: tuple[str, ...],
    disentanglement: bool,
    as_json: bool,
) -> None:
    """Metrics of a trained run on its test split (or on another data set of the same shape,
    binarized as the run's own data when it was trained binarized).

    \b
    Always: recon_mse, recon_bce (per pixel), psnr (dB, mean over images), code statistics
    (mean_activation, near_zero_fraction: |code| < 0.01), compression_ratio (8-bit input
    bytes / float32 code bytes) with float16 distortion, and on labelled data the probes
    probe_accuracy (logistic regression) and knn_accuracy (k=5) on a fixed 50/50 split of the
    test codes. Deterministic models with a code smaller than the input: pca_recon_mse at
    the same code size. VAEs: elbo (nats); with --iw-samples, nll_iw (nats) and on binarized
    data bits_per_dim (under `torchrun --nproc-per-node N -m aekit evaluate`, the N processes
    share its examples; the estimate is the same as one process's).
    """
    from aekit.evaluation.report import EvaluationOptions, evaluate_run
    from aekit.runs import open_run
    from aekit.training.distributed import joined

    opened = open_run(run, data_dir=data_dir)
    split, notes = opened.prepared_inputs(source) if source else (opened.data.test, [])
    options = EvaluationOptions(
        iw_samples=iw_samples,
        iw_examples=iw_examples,
        iw_precision=iw_precision,
        fid=fid,
        fid_samples=fid_samples,
        labels=None if labels is None else tuple(labels),
        samplers=tuple(samplers),
        disentanglement=disentanglement,
    )
    metrics = {"run": str(opened.path), "model": opened.model.name}
    what = f"{len(split)} examples" if source else "test split"
    metrics["data"] = ", ".join([f"{source or opened.config.data.dataset} ({what})", *notes])
    with joined("cpu", opened.config.train.dist_timeout) as world:  # torchrun: share the IW work
        main = world is None or world.main
        log = functools.partial(click.echo, err=True) if main else None
        metrics.update(evaluate_run(opened, split, options, log=log, progress=main, world=world))
    if not main:  # rank 0 prints
        return
    if as_json:
        click.echo(to_json(metrics))
        return
    width = max(map(len, metrics))
    for key, value in metrics.items():
        text = f"{value:.6g}" if isinstance(value, float) else str(value)
        click.echo(f"{key:<{width}}  {text}")


@click.command("reconstruct")
@opt.run_argument
@opt.count_option(None, "How many test images. Default: 10.")
@opt.source_option("--dataset", "Reconstruct examples of this data set / file instead.")
@opt.data_dir_option
@opt.figure_out_option("reconstructions", "originals above reconstructions")
def reconstruct_command(
    run: str, count: int | None, source: str | None, data_dir: str | None, out: str | None
) -> None:
    """Originals above their reconstructions (the `reconstructions` figure)."""
    from aekit.figures.kinds import default_path, plot
    from aekit.figures.options import PlotOptions
    from aekit.runs import open_run

    opened = open_run(run, data_dir=data_dir)
    split = opened.inputs(source).subset(count or 10)
    options = PlotOptions(count=count, inputs=split if source else None, source=source)
    path = opt.figure_or_array(out, default_path(opened, "reconstructions", options))
    if path.suffix == ".npy":
        opt.save_npy(path, opened.reconstruct(split).numpy())
    else:
        plot(opened, "reconstructions", options, path)
    click.echo(f"wrote {path}")


@click.command("sample")
@opt.run_argument
@opt.count_option(None, "How many samples. Default: 16.")
@click.option("--label", type=click.IntRange(min=0), help="Class to generate (conditional models).")
@click.option(
    "--sampler",
    help="Where the codes come from: prior (the model's), box (of the training codes), gmm "
    "(a Gaussian mixture fitted to them), two-stage (a second VAE trained on them) or "
    "pixelcnn (vq-vae: a PixelCNN of its code grids). Default: prior, or box.",
)
@opt.seed_option
@opt.figure_out_option("samples", "a grid of samples")
def sample_command(
    run: str, count: int | None, label: int | None, sampler: str | None, seed: int, out: str | None
) -> None:
    """Decode draws from the prior (VAEs), or from ``--sampler``; ``--label K`` for
    conditional models. A fitted sampler (gmm, two-stage) is kept in RUN/samplers/."""
    import torch

    from aekit.figures.kinds import default_path, plot
    from aekit.figures.options import PlotOptions
    from aekit.runs import open_run
    from aekit.runs.inference import labels_for, requested_labels
    from aekit.sampling import code_sampler, generate

    opened = open_run(run)
    model = opened.model
    if not model.generative and sampler is None:
        raise AekitError(
            f"model {model.name!r} is not generative: it has no prior to sample from; pick "
            "codes with --sampler box, gmm or two-stage (pixelcnn for vq-vae)"
        )
    if label is not None:
        requested_labels(model, [label], "--label")
    n = count or 16
    y = None if label is None else torch.full((n,), label, dtype=torch.long)
    labels_for(model, y, "--label")
    if sampler is not None:  # fitted now, with a word, rather than inside the figure
        code_sampler(opened, sampler, functools.partial(click.echo, err=True))
    options = PlotOptions(
        count=count, labels=None if label is None else [label], seed=seed, sampler=sampler
    )
    path = opt.figure_or_array(out, default_path(opened, "samples", options))
    if path.suffix == ".npy":
        draws = generate(opened, n, y, torch.Generator().manual_seed(seed), sampler)
        opt.save_npy(path, draws.numpy())
    else:
        plot(opened, "samples", options, path)
    click.echo(f"wrote {path}")


@click.command("encode")
@opt.run_argument
@click.option("--input", "source", required=True, help="Data set name or file to encode.")
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False), help="Codes as .npy (N x code size)."
)
@opt.data_dir_option
@click.option(
    "--float16",
    is_flag=True,
    help="Store codes as float16: half the bytes (see compression_ratio and float16_recon_mse "
    "in `aekit evaluate`).",
)
def encode_command(run: str, source: str, out: str, data_dir: str | None, float16: bool) -> None:
    """Encode data to codes (the posterior mean for VAEs)."""
    import numpy as np

    from aekit.runs import open_run

    opened = open_run(run, data_dir=data_dir)
    codes = opened.encode(opened.inputs(source)).numpy()
    if float16:
        if np.abs(codes).max(initial=0.0) > np.finfo(np.float16).max:
            raise AekitError("codes exceed float16's range (65504); store them without --float16")
        codes = codes.astype(np.float16)
    opt.save_npy(Path(out), codes)
    click.echo(f"wrote {out}: {codes.shape} {codes.dtype} codes")


@click.command("decode")
@opt.run_argument
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
def decode_command(run: str, codes: str, label: int | None, out: str) -> None:
    """Decode codes back to data space (a .png shows at most 100 of them)."""
    import torch

    from aekit.figures.examples import grid_figure
    from aekit.figures.plotting import save_figure
    from aekit.runs import open_run
    from aekit.runs.inference import requested_labels

    opened = open_run(run)
    z = _load_codes(codes, opened.model.code_dim)
    if label is not None:
        requested_labels(opened.model, [label], "--label")
    y = None if label is None else torch.full((len(z),), label, dtype=torch.long)
    path = opt.figure_or_array(out, Path(out))
    images = opened.decode(z, y, "--label")
    if path.suffix == ".npy":
        opt.save_npy(path, images.numpy())
    else:
        save_figure(grid_figure(images, "Decoded codes"), path)
    click.echo(f"wrote {path}")


def _load_codes(path: str, code_dim: int) -> torch.Tensor:
    import numpy as np
    import torch

    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise AekitError(f"{path}: file not found") from None
    except (ValueError, OSError, EOFError) as exc:
        raise AekitError(f"{path}: not a readable .npy array ({exc})") from None
    if not isinstance(array, np.ndarray):
        array.close()
        raise AekitError(f"{path}: an .npz archive; give one .npy array of codes (np.save)")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise AekitError(f"{path}: holds {array.dtype} values; codes are numbers")
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != code_dim:
        raise AekitError(f"{path}: codes must be shaped (N, {code_dim}); got {array.shape}")
    if not len(array):
        raise AekitError(f"{path}: holds no codes")
    if not np.isfinite(array).all():
        raise AekitError(f"{path}: codes contain NaN or infinite values")
    return torch.from_numpy(array.astype(np.float32))


@click.command("export")
@opt.run_argument
@click.option(
    "--format",
    "form",
    type=click.Choice(["onnx", "torchscript"]),
    default="onnx",
    show_default=True,
    help="onnx (needs `pip install aekit[export]`) or torchscript.",
)
@click.option(
    "--part",
    type=click.Choice(["encoder", "decoder", "both"]),
    default="both",
    show_default=True,
    help="encoder: inputs -> codes (as `aekit encode`); decoder: codes -> data space (as "
    "`aekit decode`); both: inputs -> reconstructions.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="File to write. Default: RUN/exported/PART.onnx (or .pt for torchscript).",
)
def export_command(run: str, form: str, part: str, out: str | None) -> None:
    """Write a trained model's encoder, decoder or both as an ONNX or TorchScript file with
    a dynamic batch size, checked against aekit's own outputs before it is kept.

    \b
    Examples:
      aekit export runs/vae-mnist-5k --part decoder   # RUN/exported/decoder.onnx
      aekit export runs/ae-mnist-5k --format torchscript --out ae.pt
    """
    from aekit.runs import open_run
    from aekit.runs.export import FORMATS, export_model

    opened = open_run(run)
    assert opened.path is not None, "opened from its folder"
    path = Path(out) if out else opened.path / "exported" / f"{part}{FORMATS[form]}"
    done = export_model(opened.model, part, form, path)
    checked = (
        "not checked: onnxruntime is not installed"
        if done.max_difference is None
        else f"checked against aekit's outputs: largest difference {done.max_difference:.1g}"
    )
    click.echo(f"wrote {done.path} ({checked})")
    click.echo(f"  input:  {done.inputs}")
    click.echo(f"  output: {done.outputs}")


COMMANDS = (
    evaluate_command,
    reconstruct_command,
    sample_command,
    encode_command,
    decode_command,
    export_command,
)
