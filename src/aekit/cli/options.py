"""Option types shared by several commands."""

from __future__ import annotations

import click
import yaml


class SizeList(click.ParamType):
    """Comma-separated positive integers, e.g. ``--hidden 256,128``."""

    name = "N,N,..."

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        try:
            sizes = [int(v) for v in str(value).split(",") if v.strip()]
        except ValueError:
            self.fail(f"{value!r} is not a comma-separated list of integers", param, ctx)
        if any(s < 1 for s in sizes):
            self.fail(f"{value!r}: sizes must be positive", param, ctx)
        return sizes


def parse_assignment(text: str) -> tuple[str, object]:
    """``section.key=value`` with a YAML value (``model.channels=[30,15]``)."""
    key, sep, value = text.partition("=")
    if not sep or "." not in key or key.split(".", 1)[0] not in ("model", "data", "train"):
        raise click.BadParameter(
            f"{text!r} is not SECTION.KEY=VALUE with SECTION one of model, data, train",
            param_hint="--set",
        )
    try:
        return key, yaml.safe_load(value)
    except yaml.YAMLError:
        raise click.BadParameter(
            f"{text!r}: the value is not valid YAML", param_hint="--set"
        ) from None


run_argument = click.argument("run", type=click.Path(file_okay=False, path_type=str))

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    help="Folder with one sub-folder per named data set. Default: the one the run was trained "
    "from, else $AEKIT_DATA_DIR, else the cache.",
)
