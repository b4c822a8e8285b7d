"""Real uses of a trained run: anomaly scores, denoising, classifiers from few labels."""

from __future__ import annotations

from pathlib import Path

import click

from aekit.cli import options as opt
from aekit.errors import AekitError
from aekit.io import to_json


@click.command("anomaly")
@opt.run_argument
@opt.source_option("--input", "Data set name or file to score. Default: the test split.")
@opt.data_dir_option
@click.option(
    "--score",
    type=click.Choice(["mse", "recon", "elbo"]),
    default="mse",
    show_default=True,
    help="mse: squared reconstruction error; recon: the model's loss term; elbo: -ELBO (VAEs).",
)
@click.option(
    "--contamination",
    type=click.FloatRange(0, 0.5, min_open=True),
    default=0.1,
    show_default=True,
    help="Fraction of the run's training data the threshold flags.",
)
@click.option(
    "--threshold",
    "rule",
    metavar="RULE",
    help="Instead of --contamination: percentile:P, std:K (mean + K sd) or max, "
    "all of the training data's scores.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help=".csv (index, score, outlier[, label]) or .npy (scores only).",
)
def anomaly_command(run, source, data_dir, score, contamination, rule, out) -> None:
    """Per-example anomaly scores: higher = more abnormal (the reconstruction error).

    This is PyOD's sign (its decision_function); scikit-learn's score_samples, as in
    aekit.AutoencoderAnomalyDetector, is the negative. An example is an outlier when its
    score is above the threshold, which is set on the run's own training data.
    """
    from aekit.apps.anomaly import ThresholdRule, anomaly_scores, parse_threshold
    from aekit.runs import open_run

    if Path(out).suffix not in (".csv", ".npy"):
        raise AekitError(f"{out}: write scores as .csv or .npy")
    opened = open_run(run, data_dir=data_dir)
    model = opened.model
    split = opened.inputs(source)
    threshold_rule = (
        parse_threshold(rule) if rule else ThresholdRule("contamination", contamination)
    )
    train = opened.data.train
    threshold = threshold_rule.threshold(anomaly_scores(model, train.x, train.y, score).numpy())
    scores = anomaly_scores(model, split.x, split.y, score).numpy()
    flagged = scores > threshold
    _write_scores(Path(out), scores, flagged, split.y)
    click.echo(
        f"wrote {out}: {len(scores)} scores (higher = more abnormal); threshold {threshold:.6g} "
        f"({threshold_rule} of the training scores) flags {int(flagged.sum())} "
        f"({100 * flagged.mean():.1f}%)"
    )


@click.command("denoise")
@opt.run_argument
@opt.source_option("--input", "Data set name or file. Default: the run's test split.")
@opt.data_dir_option
@click.option(
    "--noise",
    help="gaussian:FACTOR or dropout:P. Default: the noise the run was trained with.",
)
@opt.seed_option
@opt.count_option(None, "Examples in the figure. Default: 10.")
@opt.figure_out_option("denoise", "rows noisy / denoised / clean")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def denoise_command(run, source, data_dir, noise, seed, count, out, as_json) -> None:
    """Corrupt data with seeded noise, reconstruct it, and report PSNR before and after."""
    from aekit.data.transforms import parse_noise
    from aekit.evaluation.metrics import pooled_psnr
    from aekit.figures.generation import noise_of
    from aekit.figures.kinds import default_path, plot
    from aekit.figures.options import PlotOptions
    from aekit.runs import open_run
    from aekit.runs.inference import denoise

    opened = open_run(run, data_dir=data_dir)
    spec = noise_of(opened, noise)
    split = opened.inputs(source)
    noisy, denoised = denoise(opened.model, split.x, split.y, parse_noise(spec), seed)
    before, after = pooled_psnr(noisy, split.x), pooled_psnr(denoised, split.x)
    options = PlotOptions(
        count=count, noise=noise, seed=seed, inputs=split if source else None, source=source
    )
    path = opt.figure_or_array(out, default_path(opened, "denoise", options))
    if path.suffix == ".npy":
        opt.save_npy(path, denoised.numpy())
    else:
        plot(opened, "denoise", options, path)
    report = {
        "examples": len(split),
        "noise": spec,
        "psnr_noisy_db": round(before, 3),
        "psnr_denoised_db": round(after, 3),
        "out": str(path),
    }
    if as_json:
        click.echo(to_json(report))
        return
    click.echo(f"{len(split)} examples, noise {spec} (seed {seed})")
    click.echo(f"PSNR noisy vs clean:    {before:6.2f} dB")
    click.echo(f"PSNR denoised vs clean: {after:6.2f} dB")
    click.echo(f"wrote {path}")


@click.command("finetune")
@opt.run_argument
@click.option(
    "--labels",
    "label_counts",
    required=True,
    type=opt.SIZES,
    help="Labelled training examples N, or several: 100,1000,10000.",
)
@click.option(
    "--freeze", is_flag=True, help="Keep the pre-trained encoder fixed; train only the head."
)
@opt.source_option("--dataset", "Labelled data set / file instead of the run's own data.")
@opt.data_dir_option
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    help="Epochs over the N examples. Default: enough for 1,000 optimisation steps at each N.",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True)
@opt.seed_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def finetune_command(
    run, label_counts, freeze, source, data_dir, epochs, batch_size, lr, seed, as_json
) -> None:
    """Classifier = trained encoder + linear head, from N labels, beside the same from scratch.

    Both are trained on the same N stratified training examples with the same seed and
    epochs and tested on the test split; with several N, RUN/figures/finetune.png plots
    accuracy against N.
    """
    from dataclasses import asdict

    from aekit.apps.finetune import accuracy_figure, finetune
    from aekit.config import TrainConfig
    from aekit.runs import open_run

    opened = open_run(run, data_dir=data_dir)
    data = _labelled_data(opened, source) if source else opened.data
    cfg = TrainConfig(batch_size=batch_size, lr=lr, seed=seed, device=opened.config.train.device)
    counts = sorted(set(label_counts))
    results = finetune(opened.model, data, counts, cfg, freeze, epochs)
    figure = None
    if len(results) > 1:
        figure = accuracy_figure(results, opened.figures / "finetune.png", freeze)
    if as_json:
        rows = [asdict(r) for r in results]
        click.echo(to_json({"freeze": freeze, "results": rows, "figure": _str(figure)}))
        return
    encoder = "frozen" if freeze else "fine-tuned"
    click.echo(f"test accuracy on {len(data.test)} examples ({data.name}), encoder {encoder}")
    click.echo(f"{'labels':>8}  {'pre-trained':>11}  {'from scratch':>12}")
    for r in results:
        pretrained, scratch = 100 * r.pretrained_accuracy, 100 * r.scratch_accuracy
        click.echo(f"{r.labels:>8}  {pretrained:>10.2f}%  {scratch:>11.2f}%")
    if figure is not None:
        click.echo(f"wrote {figure}")


def _labelled_data(opened, source: str):
    """Another data set's splits (the run's split settings and data folder), in the model's
    input shape."""
    from dataclasses import replace

    import torch

    from aekit.data.raw import fit_shape
    from aekit.data.splits import prepare_data

    data = prepare_data(replace(opened.config.data, dataset=source))
    for split in (data.train, data.test):
        split.x = torch.from_numpy(fit_shape(split.x.numpy(), opened.model.input_shape, source))
    return data


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _write_scores(path: Path, scores, flagged, labels) -> None:
    from aekit.io import atomic_write

    if path.suffix == ".npy":
        opt.save_npy(path, scores)
        return
    with atomic_write(path, "w") as handle:
        handle.write("index,score,outlier" + (",label" if labels is not None else "") + "\n")
        for i, (score, outlier) in enumerate(zip(scores, flagged)):
            label = f",{int(labels[i])}" if labels is not None else ""
            handle.write(f"{i},{score:.8g},{int(outlier)}{label}\n")


COMMANDS = (anomaly_command, denoise_command, finetune_command)
