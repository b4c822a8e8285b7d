"""``aekit plot RUN KIND``: any figure of a trained run, one command each."""

from __future__ import annotations

from typing import Any

import click

from aekit.cli.options import (
    LABELS,
    NumberList,
    count_option,
    data_dir_option,
    run_argument,
    seed_option,
)


def _kinds_help() -> str:
    from aekit.figures.kinds import KINDS

    return "\n".join(f"  {name:<16} {kind.help}" for name, kind in KINDS.items())


@click.command("plot")
@run_argument
@click.argument("kind")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="Where to write it. Default: RUN/figures/KIND.png (progress: .gif).",
)
@click.option(
    "--other", type=click.Path(file_okay=False), metavar="RUN2", help="compare: the second run."
)
@click.option(
    "--method",
    type=click.Choice(["auto", "codes", "pca", "tsne"]),
    default="auto",
    show_default=True,
    help="latent/compare: 2-d codes as they are (auto), else PCA; t-SNE is slower.",
)
@click.option(
    "--points",
    type=click.IntRange(min=10),
    default=2000,
    show_default=True,
    help="latent/compare/activations: how many test examples.",
)
@count_option(
    None,
    "samples: how many (per label for conditional models); reconstructions/denoise: "
    "how many test inputs.",
)
@click.option("--labels", type=LABELS, help="Conditional models: labels to draw, e.g. 3,5.")
@click.option("--dims", type=NumberList(int), help="traverse: coordinates to sweep, e.g. 0,1,4.")
@click.option("--code", type=NumberList(float), help="traverse: the code to start from.")
@click.option(
    "--range",
    "span",
    type=NumberList(float, 2),
    metavar="LOW,HIGH",
    help="traverse/manifold: values to sweep (default: +-3 for priors, the training box "
    "else); edit: amounts of the direction (default: -1,2).",
)
@click.option(
    "--steps",
    type=click.IntRange(min=2, max=60),
    help="traverse/interpolate/edit: points per row; manifold: grid side.",
)
@click.option(
    "--pair",
    "pairs",
    type=NumberList(int, 2),
    multiple=True,
    metavar="I,J",
    help="interpolate: test example indices to join (repeatable).",
)
@click.option("--noise", help="denoise: gaussian:FACTOR or dropout:P (default: the run's own).")
@click.option(
    "--attribute",
    metavar="NAME",
    help="edit: the direction to move along, as `aekit attribute` named it (default: the newest).",
)
@seed_option
@data_dir_option
def plot_command(
    run: str, kind: str, out: str | None, other: str | None, data_dir: str | None, **options: Any
) -> None:
    """Draw one figure of a trained run.

    \b
    KIND is one of:
    {kinds}

    \b
    Examples:
      aekit plot runs/vae-mnist latent
      aekit plot runs/ae-mnist compare --other runs/vae-mnist
      aekit plot runs/cvae-mnist samples --labels 3,5
      aekit plot runs/ae-mnist latent --method tsne --out latent-tsne.png
      aekit plot runs/vae-mnist edit --attribute label-1-to-7
    """
    from pathlib import Path

    from aekit.figures.kinds import get_kind, plot
    from aekit.figures.options import PlotOptions
    from aekit.runs import open_run

    get_kind(kind)  # an unknown kind fails before the run is loaded
    opened = open_run(run, data_dir=data_dir)
    options["pairs"] = list(options["pairs"]) or None
    second = open_run(other, data_dir=data_dir) if other else None
    settings = PlotOptions(**options, other=second)
    path = plot(opened, kind, settings, Path(out) if out else None)
    click.echo(f"wrote {path}")


assert plot_command.help is not None, "its docstring"
plot_command.help = plot_command.help.replace("{kinds}", _kinds_help().replace("\n", "\n    "))

COMMANDS = (plot_command,)
