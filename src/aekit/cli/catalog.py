"""``aekit models`` and ``aekit datasets``: what exists."""

from __future__ import annotations

import click

from aekit.cli.options import data_root_option


@click.command("models")
def models_command() -> None:
    """List the registered models and their options (with defaults)."""
    from aekit.models import MODELS, model_params

    for name, cls in MODELS.items():
        summary = (cls.__doc__ or "").strip().splitlines()[0]
        kinds = [
            k for k, on in (("generative", cls.generative), ("conditional", cls.conditional)) if on
        ]
        click.echo(f"{name:<14} {summary}" + (f"  [{', '.join(kinds)}]" if kinds else ""))
        options = ", ".join(f"{k}={v!r}" for k, v in model_params(cls).items())
        click.echo(f"{'':<14} options: {options}")
        if cls.train_defaults:
            trains = ", ".join(f"{k}={v!r}" for k, v in cls.train_defaults.items())
            click.echo(f"{'':<14} trains with: {trains} (unless set)")


@click.command("datasets")
@data_root_option
def datasets_command(data_dir: str | None) -> None:
    """List the named data sets, and the file formats accepted as a path."""
    from aekit.data import files
    from aekit.data.download import data_root, local_copy
    from aekit.data.sources import IDX_FILES, IDX_SETS, NAMED, RATINGS_SETS

    root = data_root(data_dir)
    for name, (description, _) in NAMED.items():
        where = ""
        if name in IDX_SETS or name in RATINGS_SETS:
            if name in IDX_SETS:
                present = all(local_copy(root / name, f) for f in IDX_FILES)
            else:
                spec = RATINGS_SETS[name]
                present = any((root / name / f).is_file() for f in (spec.archive, spec.member))
            where = f"  [in {root / name}]" if present else "  [downloaded on first use]"
        click.echo(f"{name:<14} {description}{where}")
    click.echo(f"{'PATH':<14} your own data, by path:")
    for topic, text in files.FORMATS_HELP:
        click.echo(f"  {topic:<12} {text}")
    click.echo(f"\ndata directory for downloads: {root} (--data-dir or $AEKIT_DATA_DIR to change)")


COMMANDS = (models_command, datasets_command)
