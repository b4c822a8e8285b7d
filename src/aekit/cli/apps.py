"""Real uses of a trained run: anomaly scores, attribute directions, denoising, classifiers
from few labels, inpainting, recommendations."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from aekit.cli import options as opt
from aekit.errors import AekitError
from aekit.io import to_json

if TYPE_CHECKING:
    import numpy as np
    import torch

    from aekit.data.splits import DataBundle
    from aekit.runs.directory import Run


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
def anomaly_command(
    run: str,
    source: str | None,
    data_dir: str | None,
    score: str,
    contamination: float,
    rule: str | None,
    out: str,
) -> None:
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
def denoise_command(
    run: str,
    source: str | None,
    data_dir: str | None,
    noise: str | None,
    seed: int,
    count: int | None,
    out: str | None,
    as_json: bool,
) -> None:
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
    run: str,
    label_counts: list[int],
    freeze: bool,
    source: str | None,
    data_dir: str | None,
    epochs: int | None,
    batch_size: int,
    lr: float,
    seed: int,
    as_json: bool,
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


@click.command("inpaint")
@opt.run_argument
@opt.source_option("--input", "Data set name or file. Default: the run's test split.")
@opt.data_dir_option
@click.option(
    "--mask",
    "mask_spec",
    required=True,
    metavar="MASK",
    help="What to hide: center:SIZE (a centred square), random:P (each pixel with "
    "probability P), rows:A-B (0-based, both included), or FILE.npy (1 = hidden; one "
    "mask, or one per input).",
)
@click.option(
    "--method",
    type=click.Choice(["auto", "iterate", "pseudo-gibbs", "metropolis"]),
    default="auto",
    show_default=True,
    help="auto: Metropolis-within-Gibbs for VAEs whose posterior is the encoder's Gaussian, "
    "pseudo-Gibbs for other VAEs, reconstruct-and-keep-the-known-pixels for the rest.",
)
@click.option(
    "--iterations",
    type=click.IntRange(min=1),
    help="Steps per input. Default: 30 for iterate, 200 for the chains.",
)
@click.option(
    "--samples",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="VAEs: completions (chains) per input; their mean is the one scored.",
)
@opt.count_option(1000, "Inputs to complete and score: the first N of the input.")
@click.option(
    "--show", type=click.IntRange(min=1), default=10, show_default=True, help="Inputs drawn."
)
@opt.seed_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="PNG (rows masked / completed / original) or .npy (every completion). "
    "Default: RUN/figures/inpaint.png.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def inpaint_command(
    run: str,
    source: str | None,
    data_dir: str | None,
    mask_spec: str,
    method: str,
    iterations: int | None,
    samples: int,
    count: int,
    show: int,
    seed: int,
    out: str | None,
    as_json: bool,
) -> None:
    """Fill hidden pixels from the known ones; error on the hidden pixels beside baselines.

    The baselines complete the same masks without the model: the mean training image, the
    training example nearest on the known pixels, and a PCA fit to the known pixels with as
    many components as the model's code (at most 100).

    \b
    Examples:
      aekit inpaint runs/vae-mnist --mask center:14
      aekit inpaint runs/ae-mnist --mask rows:14-27 --out bottom-half.npy
      aekit inpaint runs/vae-mnist --mask random:0.5 --samples 5
    """
    from aekit.apps.inpaint import baselines, hidden_error, inpaint, inpainting_figure, make_mask
    from aekit.figures.plotting import save_figure
    from aekit.runs import open_run

    opened = open_run(run, data_dir=data_dir)
    split = opened.inputs(source).subset(count)
    x, y = split.x, split.y
    mask = make_mask(mask_spec, tuple(x.shape[1:]), len(x), seed)
    train = opened.data.train.x
    completion = inpaint(
        opened.model,
        x,
        mask,
        y,
        start=train.mean(0),
        method=method,
        iterations=iterations,
        samples=samples,
        seed=seed,
    )
    scores = {"model": hidden_error(completion.filled, x, mask)}
    for name, filled in baselines(train, x, mask, opened.model.code_dim, seed).items():
        scores[name] = hidden_error(filled, x, mask)
    path = opt.figure_or_array(out, opened.figures / "inpaint.png")
    if path.suffix == ".npy":
        opt.save_npy(path, completion.samples.squeeze(1).numpy())
    else:
        save_figure(inpainting_figure(x, mask, completion, show), path)
    report = {
        "examples": len(x),
        "mask": mask_spec,
        "hidden_fraction": round(mask.float().mean().item(), 4),
        "method": completion.method,
        "iterations": completion.iterations,
        "samples": samples,
        "acceptance": completion.acceptance,
        "scores": scores,
        "out": str(path),
    }
    if as_json:
        click.echo(to_json(report))
        return
    _print_inpainting(report)


def _print_inpainting(report: dict[str, Any]) -> None:
    chains = "" if report["method"] == "iterate" else f", {report['samples']} chain(s) per input"
    click.echo(
        f"{report['examples']} inputs, mask {report['mask']} "
        f"({100 * report['hidden_fraction']:.1f}% of the pixels hidden)"
    )
    click.echo(f"model: {report['method']}, {report['iterations']} iterations{chains}")
    if report["acceptance"] is not None:
        click.echo(f"proposals accepted: {100 * report['acceptance']:.1f}%")
    click.echo(f"{'on the hidden pixels':<24} {'MSE':>9} {'PSNR':>9}")
    for name, score in report["scores"].items():
        click.echo(f"{name:<24} {score['mse']:>9.5f} {score['psnr_db']:>6.2f} dB")
    click.echo(f"wrote {report['out']}")


@click.command("attribute")
@opt.run_argument
@click.option(
    "--attribute",
    "spec",
    required=True,
    metavar="ATTRIBUTE",
    help="label:K (class K against the others), label:J:K (from class J to class K), or "
    "FILE.npy: one 0/1 or numeric value per example of --input (NaN leaves one out).",
)
@opt.source_option(
    "--input", "Data set name or file the codes come from. Default: the run's training split."
)
@opt.data_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def attribute_command(
    run: str, spec: str, source: str | None, data_dir: str | None, as_json: bool
) -> None:
    """Find the direction in code space that adds an attribute; keep it with the run.

    The direction is the mean code of the examples with the attribute less that of the
    examples without it (for a numeric attribute: the change of the code per unit of it).
    It is kept as RUN/attributes/NAME.safetensors; `aekit plot RUN edit` draws inputs moved
    along it.

    \b
    Examples:
      aekit attribute runs/vae-mnist --attribute label:1:7
      aekit plot runs/vae-mnist edit --attribute label-1-to-7
      aekit attribute runs/ae-mnist --attribute thickness.npy --input mnist
    """
    from aekit.runs import open_run
    from aekit.runs.attributes import attribute_direction, parse_attribute, save_direction

    if spec.endswith(".npy") and source is None:
        raise AekitError(
            f"--attribute {spec} holds one value per example of some data: name them with "
            "--input DATA (a data set or file)"
        )
    opened = open_run(run, data_dir=data_dir)
    split = opened.data.train if source is None else opened.inputs(source)
    attribute = parse_attribute(spec, split)
    direction = attribute_direction(opened.encode(split), attribute)
    path = save_direction(opened, direction)
    report = {
        "name": direction.name,
        "attribute": spec,
        "examples": direction.examples,
        "norm": round(float(direction.vector.norm()), 6),
        "code_dim": len(direction.vector),
        "out": str(path),
    }
    if as_json:
        click.echo(to_json(report))
        return
    click.echo(
        f"direction {direction.name!r} from {direction.examples} examples: length "
        f"{report['norm']:.4g} in a {report['code_dim']}-d code space"
    )
    click.echo(f"wrote {path}; draw it: aekit plot {run} edit --attribute {direction.name}")


@click.command("recommend")
@opt.run_argument
@click.option(
    "--user-history",
    "history",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="A user's item ids, one per line; or a CSV with user and item columns (every user "
    "in it). Ids as in the run's training data.",
)
@click.option("-k", "top", type=click.IntRange(min=1), default=20, show_default=True)
@opt.data_dir_option
@click.option(
    "--out", type=click.Path(dir_okay=False), help="Write user,rank,item,score rows as .csv."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def recommend_command(
    run: str, history: str, top: int, data_dir: str | None, out: str | None, as_json: bool
) -> None:
    """The top K items for users, leaving out those they already have.

    RUN is a model trained on interaction data (mult-vae, mult-dae, ...): a CSV or parquet of
    user, item[, rating], a scipy.sparse .npz, or movielens-1m / movielens-20m.

    \b
    Examples:
      aekit recommend runs/mult-vae-movielens-1m --user-history liked.txt -k 10
      aekit recommend runs/mult-vae-ratings --user-history users.csv --out top20.csv
    """
    from aekit.apps.recommend import read_histories, recommend
    from aekit.data.interactions import Interactions
    from aekit.io import atomic_write
    from aekit.runs import open_run

    histories = read_histories(Path(history))
    opened = open_run(run, data_dir=data_dir)
    if not opened.data.interactions:
        raise AekitError(f"{run} was not trained on interaction data; it has no items to rank")
    stored = opened.data.train.stored
    assert isinstance(stored, Interactions), "trained on interaction data"
    items = list(stored.item_ids)
    found = recommend(opened.model, items, histories, top)
    rows = [vars(r) for r in found]
    if out:
        with atomic_write(out, "w") as handle:
            handle.write("user,rank,item,score\n")
            handle.writelines(f"{r.user},{r.rank},{r.item},{r.score:.6g}\n" for r in found)
    if as_json:
        click.echo(to_json({"k": top, "users": len(histories), "recommendations": rows}))
        return
    for r in found:
        click.echo(f"{r.user}\t{r.rank}\t{r.item}\t{r.score:.4g}")
    if out:
        click.echo(f"wrote {out}: {len(found)} recommendations for {len(histories)} user(s)")


def _labelled_data(opened: Run, source: str) -> DataBundle:
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


def _write_scores(
    path: Path, scores: np.ndarray, flagged: np.ndarray, labels: torch.Tensor | None
) -> None:
    from aekit.io import atomic_write

    if path.suffix == ".npy":
        opt.save_npy(path, scores)
        return
    with atomic_write(path, "w") as handle:
        handle.write("index,score,outlier" + (",label" if labels is not None else "") + "\n")
        for i, (score, outlier) in enumerate(zip(scores, flagged)):
            label = f",{int(labels[i])}" if labels is not None else ""
            handle.write(f"{i},{score:.8g},{int(outlier)}{label}\n")


COMMANDS = (
    anomaly_command,
    attribute_command,
    denoise_command,
    finetune_command,
    inpaint_command,
    recommend_command,
)
