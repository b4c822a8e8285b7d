"""The article reproductions, shipped with aekit as YAML configs (``aekit recipes``).

A recipe is an ordinary config file (``aekit train --config NAME`` or the file's path runs it)
with two documentation-only keys: ``description`` and ``article`` (the S-IDs it covers, see
docs/articles.md, and the result the article printed). They are package data, in this folder,
so an installed aekit has them; a ``recipes/`` folder in the current directory with YAML files
in it is used instead, for one's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from aekit.config import RunConfig
from aekit.errors import AekitError

SHIPPED = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Recipe:
    """One recipe file and its documentation keys (the run config is loaded on demand)."""

    name: str
    path: Path
    description: str
    article: dict[str, Any] = field(default_factory=dict)

    @property
    def ids(self) -> list[str]:
        return [str(i) for i in self.article.get("ids", [])]

    def config(self) -> RunConfig:
        """The :class:`~aekit.config.RunConfig` this recipe trains."""
        return RunConfig.load(self.path)


def recipes_dir() -> Path:
    """``./recipes`` when it holds recipes (a user's own), else the ones aekit ships."""
    local = Path.cwd() / "recipes"
    if local.is_dir() and any(local.glob("*.yaml")):
        return local
    return SHIPPED


def read_recipe(path: Path) -> Recipe:
    """Read a recipe's name, description and article keys, naming a broken file."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError:
        raise AekitError(f"{path}: not a text (UTF-8) YAML file") from None
    except yaml.YAMLError as exc:
        raise AekitError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(raw, dict):
        raise AekitError(f"{path}: expected a mapping with model/data/train sections")
    return Recipe(path.stem, path, str(raw.get("description", "")), dict(raw.get("article") or {}))


def all_recipes(folder: Path | None = None) -> list[Recipe]:
    """Every recipe in ``folder`` (default :func:`recipes_dir`), sorted by name."""
    folder = folder or recipes_dir()
    return [read_recipe(path) for path in sorted(folder.glob("*.yaml"))]


def select_recipes(names: list[str], folder: Path | None = None) -> list[Recipe]:
    """The named recipes (all of them when ``names`` is empty); an unknown name is an error."""
    recipes = all_recipes(folder)
    if not names:
        return recipes
    by_name = {recipe.name: recipe for recipe in recipes}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise AekitError(
            f"unknown recipe(s) {', '.join(unknown)}; choose from: {', '.join(sorted(by_name))}"
        )
    return [by_name[name] for name in names]


def config_path(name_or_path: str) -> Path:
    """A config file path as given, or the file of the recipe of that name (``aekit train
    --config keras-simple-ae``); a missing file keeps its path so the loader names it."""
    path = Path(name_or_path)
    if path.is_file() or path.suffix or len(path.parts) > 1:
        return path
    candidate = recipes_dir() / f"{name_or_path}.yaml"
    if not candidate.is_file():
        known = ", ".join(recipe.name for recipe in all_recipes())
        raise AekitError(f"no config file or recipe named {name_or_path!r}; recipes: {known}")
    return candidate
