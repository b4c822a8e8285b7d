"""``aekit models`` and ``aekit datasets``: what exists."""

from __future__ import annotations

import click


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


@click.command("datasets")
def datasets_command() -> None:
    """List the named data sets, and the file formats accepted as a path."""
    from aekit.data.download import data_root
    from aekit.data.sources import NAMED

    for name, (description, _) in NAMED.items():
        click.echo(f"{name:<14} {description}")
    click.echo(
        f"{'PATH':<14} your data: .npz (x, optional integer y), .npy, .csv, or a folder of images"
    )
    click.echo(
        f"\ndata directory for downloads: {data_root()} (--data-dir or $AEKIT_DATA_DIR to change)"
    )


COMMANDS = (models_command, datasets_command)
