"""``aekit plot RUN KIND``: any figure of a trained run, one command each."""

from __future__ import annotations

import click

from aekit.cli.options import data_dir_option, run_argument


class NumberList(click.ParamType):
    """Comma-separated numbers of one type, e.g. ``--labels 3,5`` or ``--code 0.5,-1``."""

    def __init__(self, kind: type = int, length: int | None = None) -> None:
        self.kind = kind
        self.length = length
        self.name = ",".join(["N"] * (length or 3)) + ("" if length else ",...")

    def convert(self, value, param, ctx):
        if isinstance(value, (list, tuple)):
            return value
        try:
            numbers = [self.kind(v) for v in str(value).split(",") if v.strip()]
        except ValueError:
            self.fail(
                f"{value!r} is not a comma-separated list of {self.kind.__name__}s", param, ctx
            )
        if not numbers or (self.length and len(numbers) != self.length):
            wanted = f"{self.length} " if self.length else ""
            self.fail(f"{value!r}: expected {wanted}comma-separated values", param, ctx)
        return tuple(numbers) if self.length else numbers


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
@click.option(
    "-n",
    "--count",
    type=click.IntRange(min=1),
    help="samples: how many (per label for conditional models); reconstructions/denoise: "
    "how many test inputs.",
)
@click.option(
    "--labels", type=NumberList(int), help="Conditional models: labels to draw, e.g. 3,5."
)
@click.option("--dims", type=NumberList(int), help="traverse: coordinates to sweep, e.g. 0,1,4.")
@click.option("--code", type=NumberList(float), help="traverse: the code to start from.")
@click.option(
    "--range",
    "span",
    type=NumberList(float, 2),
    metavar="LOW,HIGH",
    help="traverse/manifold: values to sweep (default: +-3 for priors, the training box else).",
)
@click.option(
    "--steps",
    type=click.IntRange(min=2, max=60),
    help="traverse/interpolate: points per row; manifold: grid side.",
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
@click.option("--seed", type=int, default=0, show_default=True)
@data_dir_option
def plot_command(run, kind, out, other, data_dir, **options) -> None:
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
    """
    from pathlib import Path

    from aekit.figures.kinds import get_kind, plot
    from aekit.figures.subject import PlotOptions, Subject

    get_kind(kind)  # an unknown kind fails before the run is loaded
    subject = Subject.from_run(run, data_dir)
    options["pairs"] = list(options["pairs"]) or None
    second = Subject.from_run(other, data_dir) if other else None
    settings = PlotOptions(**options, other=second)
    path = plot(subject, kind, settings, Path(out) if out else None)
    click.echo(f"wrote {path}")


plot_command.help = plot_command.help.replace("{kinds}", _kinds_help().replace("\n", "\n    "))

COMMANDS = (plot_command,)
