"""``aekit report RUN [RUN2 ...]``: a self-contained HTML page of one run, or several compared."""

from __future__ import annotations

from pathlib import Path

import click

from aekit.cli.options import data_dir_option


@click.command("report")
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="HTML file. Default: RUN/report.html for one run, report.html for several.",
)
@data_dir_option
def report_command(runs: tuple[str, ...], out: str | None, data_dir: str | None) -> None:
    """Write one HTML page: configuration, final and test metrics, curves and every figure.

    Figures the run does not have yet are drawn first (into RUN/figures/). The page embeds its
    images and needs no network to view. With several runs it starts with a comparison table.

    \b
    Examples:
      aekit report runs/vae-mnist
      aekit report runs/ae-mnist runs/vae-mnist --out ae-vs-vae.html
    """
    from aekit.errors import AekitError
    from aekit.figures.report import write_report

    path = Path(out) if out else (Path(runs[0]) / "report.html" if len(runs) == 1 else None)
    path = path or Path("report.html")
    if path.suffix.lower() not in (".html", ".htm"):
        raise AekitError(f"{path}: the report is an HTML page; give --out FILE.html")
    write_report(list(runs), path, data_dir)
    click.echo(f"wrote {path}")


COMMANDS = (report_command,)
