"""``aekit recipes``: list the article reproductions aekit ships (:mod:`aekit.recipes`)."""

from __future__ import annotations

import click


@click.command("recipes")
@click.option("--paths", is_flag=True, help="Print each recipe's file path too.")
def recipes_command(paths: bool) -> None:
    """List the article recipes: name, the systems (S-IDs) they cover, description.

    Run one with `aekit train --config NAME --data-dir DIR` (or the path
    recipes/NAME.yaml); run several and
    compare with the articles with `python benchmarks/reproduce.py --only NAME,...`.
    """
    from aekit.recipes import all_recipes

    for recipe in all_recipes():
        ids = ",".join(recipe.ids) or "-"
        click.echo(f"{recipe.name:28s} {ids:10s} {recipe.description}")
        if paths:
            click.echo(f"{'':28s} {'':10s} {recipe.path}")


COMMANDS = (recipes_command,)
