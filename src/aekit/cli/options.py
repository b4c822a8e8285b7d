"""What several commands share: option types, options, and how results are written."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import yaml

from aekit.errors import AekitError

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    # newer click's ParamType is generic (value, input); older ones cannot be subscripted
    _NumbersType = click.ParamType[Sequence[Any], Any]
else:
    _NumbersType = click.ParamType

# A command function under click's decorators, which keep its type
Command = TypeVar("Command", bound=Callable[..., Any])


class NumberList(_NumbersType):
    """Comma-separated numbers of one type, e.g. ``--hidden 256,128``, ``--code 0.5,-1``;
    ``length`` fixes how many, ``minimum`` the smallest allowed."""

    def __init__(
        self, kind: type = int, length: int | None = None, minimum: float | None = None
    ) -> None:
        self.kind = kind
        self.length = length
        self.minimum = minimum
        self.name = ",".join(["N"] * (length or 3)) + ("" if length else ",...")

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Sequence[Any]:
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
        if self.minimum is not None and min(numbers) < self.minimum:
            self.fail(f"{value!r}: every value must be at least {self.minimum:g}", param, ctx)
        return tuple(numbers) if self.length else numbers


SIZES = NumberList(int, minimum=1)
LABELS = NumberList(int, minimum=0)


def split_assignment(text: str) -> tuple[str, str]:
    """``section.key=value`` -> (``section.key``, the value's text)."""
    key, sep, value = text.partition("=")
    if not sep or "." not in key or key.split(".", 1)[0] not in ("model", "data", "train"):
        raise click.BadParameter(
            f"{text!r} is not SECTION.KEY=VALUE with SECTION one of model, data, train",
            param_hint="--set",
        )
    return key, value


def parse_assignment(text: str) -> tuple[str, object]:
    """``section.key=value`` with a YAML value (``model.channels=[30,15]``)."""
    key, value = split_assignment(text)
    try:
        return key, yaml.safe_load(value)
    except yaml.YAMLError:
        raise click.BadParameter(
            f"{text!r}: the value is not valid YAML", param_hint="--set"
        ) from None


run_argument = click.argument("run", type=click.Path(file_okay=False, path_type=str))


def _data_dir(default: str) -> Callable[[Command], Command]:
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False),
        help=f"Folder with one sub-folder per named data set. Default: {default}",
    )


data_root_option = _data_dir("$AEKIT_DATA_DIR, else the cache.")
data_dir_option = _data_dir(
    "the one the run was trained from, else $AEKIT_DATA_DIR, else the cache."
)

SEED = click.IntRange(0, 2**63 - 8)
seed_option = click.option("--seed", type=SEED, default=0, show_default=True, help="Random seed.")


def _fix_threads(ctx: click.Context, _param: click.Parameter, value: int | None) -> None:
    if value is not None:
        from aekit.training.threads import ThreadCount

        ctx.ensure_object(ThreadCount).fix(value)


threads_option = click.option(
    "--threads",
    type=click.IntRange(min=1),
    callback=_fix_threads,
    expose_value=False,
    help="CPU threads to compute with. Default: $AEKIT_THREADS, else the cores other "
    "processes leave free, counted again every second while training.",
)


def count_option(default: int | None, help: str) -> Callable[[Command], Command]:
    """``-n``: how many examples a command draws or writes."""
    return click.option(
        "-n",
        "--count",
        "count",
        type=click.IntRange(min=1),
        default=default,
        show_default=default is not None,
        help=help,
    )


def figure_out_option(kind: str, shows: str) -> Callable[[Command], Command]:
    """``--out``: a .png of the ``kind`` figure (default ``RUN/figures/KIND.png``) or the
    arrays behind it as .npy."""
    return click.option(
        "--out",
        type=click.Path(dir_okay=False),
        help=f"PNG ({shows}) or .npy (the arrays). Default: RUN/figures/{kind}.png, "
        f"as `aekit plot RUN {kind}`.",
    )


def source_option(flag: str, help: str) -> Callable[[Command], Command]:
    """The data a command reads instead of the run's test split: a data set name or a file."""
    return click.option(flag, "source", metavar="DATA", help=help)


def save_npy(path: Path, array: ArrayLike) -> None:
    """Write an array as ``.npy``, atomically."""
    import numpy as np

    from aekit.io import atomic_write

    with atomic_write(path) as handle:
        np.save(handle, array)


def figure_or_array(out: str | None, default: Path) -> Path:
    """Where a command writes: ``--out`` (a ``.png`` figure or an ``.npy`` array) or the
    run's default figure."""
    path = Path(out) if out else default
    if path.suffix.lower() not in (".png", ".npy"):
        raise AekitError(f"{path}: write figures as .png (or arrays as .npy)")
    return path
