"""Pages the documentation site builds from the code (run by mkdocs-gen-files): one page per
registered model (its docstring, options with their defaults from the registry, the command
that trains it and the figures of a short run, benchmarks/model_gallery.py), the gallery and
benchmark pages from the files the README and benchmarks keep, and the navigation."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import mkdocs_gen_files

from aekit.models import MODELS
from aekit.models.base import model_options
from aekit.values import describe

REPO = Path(__file__).resolve().parents[1]
FIGURES = json.loads((REPO / "docs/models/figures/figures.json").read_text())

# The families the models page and the navigation group by (module of aekit.models -> title)
FAMILIES = {
    "Classic autoencoders": ("mlp", "conv", "tied", "sparse", "recurrent"),
    "Variational autoencoders": ("vae", "conv_vae"),
    "Likelihood models": ("iwae", "vamp", "flows", "hierarchical"),
    "Disentangling": ("disentangle",),
    "Regularised and adversarial": ("regularised", "adversarial"),
    "Discrete codes": ("vq",),
    "Recommendation": ("multinomial",),
}


def family(cls: type) -> str:
    module = cls.__module__.rsplit(".", 1)[-1]
    return next(title for title, modules in FAMILIES.items() if module in modules)


def kinds(cls: type) -> str:
    flags = [("generative", cls.generative), ("conditional", cls.conditional)]
    flags.append(("variational (has an ELBO)", cls.variational))
    return ", ".join(word for word, on in flags if on) or "deterministic"


def model_page(name: str, cls: type) -> str:
    doc = (cls.__doc__ or "").strip()
    summary, _, rest = doc.partition("\n")
    lines = [
        f"# {name}",
        "",
        f"**{summary.strip()}**",
        "",
        f"{kinds(cls)[0].upper()}{kinds(cls)[1:]}; `{cls.__module__}.{cls.__qualname__}`.",
        "",
        _dedent(rest),
        "",
        *family_section(cls),
        "## Options",
        "",
        "Set with `--set model.KEY=VALUE` (or a config's `model:` section); `aekit models` lists "
        "them too.",
        "",
        "| option | default | type |",
        "|---|---|---|",
    ]
    for key, option in model_options(cls).items():
        lines.append(f"| `{key}` | `{option.default!r}` | {describe(option.hint)} |")
    if cls.fixed:
        pinned = ", ".join(f"`{k}={v!r}`" for k, v in cls.fixed.items())
        lines += ["", f"Pinned by this model: {pinned}."]
    if cls.train_defaults:
        trains = ", ".join(f"`{k}={v!r}`" for k, v in cls.train_defaults.items())
        lines += ["", f"Trains with {trains} unless the config says otherwise."]
    lines += ["", "## A short run", "", *figure_section(name)]
    return "\n".join(lines) + "\n"


def family_section(cls: type) -> list[str]:
    """The model's module docstring: the paper, the family it belongs to and where aekit's
    version differs (what a module of models says once for all of them)."""
    module = sys.modules[cls.__module__]
    text = _dedent((module.__doc__ or "").strip())
    if not text:
        return []
    return [f"## About `{cls.__module__}`", "", text, ""]


def figure_section(name: str) -> list[str]:
    record = FIGURES.get(name)
    if record is None:
        return [
            "No figure yet: `PYTHONPATH=src python benchmarks/model_gallery.py --models "
            f"{name}` draws it."
        ]
    lines = [
        f"`{record['command']}`: {record['epochs']} epochs on the bundled mnist-5k digits "
        f"({record['seconds']} s on a shared 2-core CPU), validation loss "
        f"{record['val_loss']:.4g}. These are the figures that training draws; a short run, "
        "not a tuned one.",
        "",
    ]
    if "tastes.csv" in record["command"]:
        lines[0] = lines[0].replace(
            "the bundled mnist-5k digits",
            "a synthetic implicit-feedback set (users who favour one of five genres)",
        )
    for figure in record["files"]:
        lines += [f"![{name} {figure['kind']}](figures/{figure['file']})", ""]
    return lines


def _dedent(text: str) -> str:
    lines = text.splitlines()
    indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    cut = min(indents, default=0)
    return "\n".join(line[cut:] for line in lines).strip()


def models_index(grouped: dict[str, list[str]]) -> str:
    lines = [
        "# Models",
        "",
        "Every model aekit registers: `aekit train --model NAME`. One interface for the family "
        "and one trainer for all of them; a model's class is the single source of truth for "
        "its options, which each page lists with their defaults.",
        "",
    ]
    for title, names in grouped.items():
        lines += [f"## {title}", "", "| model | what | kind |", "|---|---|---|"]
        for name in names:
            cls = MODELS[name]
            summary = (cls.__doc__ or "").strip().splitlines()[0]
            lines.append(f"| [{name}]({name}.md) | {summary} | {kinds(cls)} |")
        lines.append("")
    return "\n".join(lines)


def copied(source: str, title: str | None = None) -> str:
    """A markdown file kept elsewhere in the repository, paths made relative to the site."""
    text = (REPO / source).read_text()
    text = text.replace("](docs/gallery/", "](gallery/")
    return text if title is None else f"# {title}\n\n" + re.sub(r"^## ", "", text, count=1)


def main() -> None:
    grouped: dict[str, list[str]] = {title: [] for title in FAMILIES}
    for name in sorted(MODELS):
        grouped[family(MODELS[name])].append(name)
        with mkdocs_gen_files.open(f"models/{name}.md", "w") as page:
            page.write(model_page(name, MODELS[name]))
    with mkdocs_gen_files.open("models/index.md", "w") as page:
        page.write(models_index(grouped))
    with mkdocs_gen_files.open("gallery.md", "w") as page:
        page.write(copied("docs/gallery/gallery.md", "Gallery"))
    with mkdocs_gen_files.open("benchmarks/results.md", "w") as page:
        page.write(copied("benchmarks/RESULTS.md"))
    with mkdocs_gen_files.open("benchmarks/reproduction.md", "w") as page:
        page.write(copied("benchmarks/REPRODUCTION.md"))
    nav = [
        "* [Home](index.md)",
        "* [Getting started](getting-started.md)",
        "* Models",
        "    * [Overview](models/index.md)",
    ]
    for title, names in grouped.items():
        nav.append(f"    * {title}")
        nav += [f"        * [{name}](models/{name}.md)" for name in names]
    nav += [
        "* [Command line](cli.md)",
        "* [Python API](api.md)",
        "* [Gallery](gallery.md)",
        "* Benchmarks",
        "    * [Results](benchmarks/results.md)",
        "    * [Reproducing the articles](benchmarks/reproduction.md)",
        "* [Architecture](architecture.md)",
        "* [The article systems](articles.md)",
    ]
    with mkdocs_gen_files.open("SUMMARY.md", "w") as page:
        page.write("\n".join(nav) + "\n")


main()
