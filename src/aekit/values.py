"""One converter for every option value: config sections, model hyper-parameters, ``--set``.

YAML reads ``1e-3`` as a string and ``--set model.hidden=64,32`` arrives as text, so values
reach aekit in many forms. Every option is declared once, with a type hint on a dataclass
field or a model constructor's keyword argument; :func:`convert` turns what arrived into
that type, or raises one :class:`~aekit.errors.AekitError` that names the option and says
what is expected. Constraints that belong to the type (a layer width is a whole number >= 1)
ride along in ``typing.Annotated`` metadata, so each is written and checked once.
"""

from __future__ import annotations

import builtins
import dataclasses
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from aekit.errors import AekitError, unknown_choice


@dataclass(frozen=True)
class Check:
    """A constraint on an already converted value, with the sentence that states it."""

    holds: Callable[[Any], bool]
    requirement: str


@dataclass(frozen=True)
class SizeList:
    """Layer widths: a list of whole numbers >= 1, given as a list, one int or ``"64,32"``."""

    required: bool = False

    def parse(self, value: Any) -> list[int] | None:
        """The widths, or None when ``value`` is not a valid list of them."""
        items = [] if value is None or value == "" else value
        items = items.split(",") if isinstance(items, str) else items
        items = items if isinstance(items, Sequence) else [items]
        sizes = [int(s) if isinstance(s, str) and s.strip().isdigit() else s for s in items]
        if (self.required and not sizes) or not all(_whole(s) and s >= 1 for s in sizes):
            return None
        return sizes

    @property
    def requirement(self) -> str:
        count = "one or more " if self.required else ""
        return f"give {count}whole numbers >= 1, e.g. [32, 64]"


PositiveInt = Annotated[int, Check(lambda v: v >= 1, "it must be a whole number >= 1")]
# A sequence to the type checker, so a constructor's default can be a tuple; convert() always
# hands the constructor a list.
Sizes = Annotated[Sequence[int], SizeList()]
RequiredSizes = Annotated[Sequence[int], SizeList(required=True)]


def convert(value: Any, hint: Any, key: str, where: str = "") -> Any:
    """``value`` as the type ``hint`` declares for option ``key``; ``where`` prefixes errors
    (``"model 'ae'"``, ``"config.yaml: train"``)."""
    hint, checks = _unwrap(hint)
    kinds = _alternatives(hint)
    if value is None and type(None) in kinds:
        return None
    sizes = next((c for c in checks if isinstance(c, SizeList)), None)
    if sizes is not None:
        parsed = sizes.parse(value)
        if parsed is None:
            raise _bad(value, key, where, sizes.requirement)
        return parsed
    tests = [c for c in checks if isinstance(c, Check)]
    for kind in (k for k in kinds if k is not type(None)):
        converted = _as(value, kind)
        if converted is _NO:
            continue
        failed = next((c for c in tests if not c.holds(converted)), None)
        if failed is not None:
            raise _bad(value, key, where, failed.requirement)
        return converted
    requirement = tests[0].requirement if tests else f"expected {_names(kinds)}"
    raise _bad(value, key, where, requirement)


def describe(hint: Any) -> str:
    """What an option takes, as a reader would write it (the documentation's option tables):
    ``float``, ``float or None``, ``layer sizes, e.g. [256, 64]``, ``int (a whole number >= 1)``."""
    plain, checks = _unwrap(hint)
    kinds = _alternatives(plain)
    if any(isinstance(c, SizeList) for c in checks):
        words = "layer sizes, e.g. [256, 64]"
    elif plain is Any:
        words = "any"
    else:
        words = _names(kinds)
    if type(None) in kinds:
        words += " or None"
    tests = [c.requirement.removeprefix("it must be ") for c in checks if isinstance(c, Check)]
    return f"{words} ({'; '.join(tests)})" if tests else words


def options_of(kind: type, options: dict[str, Any], what: str) -> Any:
    """``kind(**options)`` for a dataclass of options given as keywords from Python
    (``aekit.plot``, ``aekit.evaluate``); an unknown keyword is refused in one line naming the
    valid ones."""
    fields = {field.name: field for field in dataclasses.fields(kind)}
    for key in options:
        if key not in fields:
            raise unknown_choice(what, key, fields)
    converted = {
        key: convert(value, _field_hint(fields[key]), key, what) for key, value in options.items()
    }
    return kind(**converted)


def _field_hint(field: dataclasses.Field[Any]) -> Any:
    """A dataclass field's type from its annotation; ``Any`` (no conversion) for a type named
    only for type checkers (a ``Run``, a ``Split``)."""
    if not isinstance(field.type, str):
        return field.type
    try:
        return eval(field.type, {"__builtins__": builtins})  # what get_type_hints does
    except NameError:
        return Any


def field_hints(owner: Any) -> dict[str, Any]:
    """The resolved type hints of a dataclass or a function (``from __future__ import
    annotations`` leaves them as strings), with their ``Annotated`` metadata kept."""
    return typing.get_type_hints(owner, include_extras=True)


_NO = object()


def _as(value: Any, kind: Any) -> Any:
    """``value`` as ``kind`` or ``_NO``; a bool is never taken for a number."""
    origin = typing.get_origin(kind) or kind
    if kind is Any:
        return value
    if kind is bool:
        return value if isinstance(value, bool) else _NO
    if isinstance(value, bool):
        return _NO
    if kind in (int, float):
        return _number(value, kind)
    if kind is str:
        return str(value) if isinstance(value, (str, int, float)) else _NO
    if origin in (list, tuple) and isinstance(value, (list, tuple)):
        return list(value)
    if origin is dict and isinstance(value, dict):
        return dict(value)
    return _NO


def _number(value: Any, kind: type) -> Any:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return _NO
    if not isinstance(value, (int, float)):
        return _NO
    if kind is int:
        return int(value) if float(value).is_integer() else _NO
    return float(value)


def _unwrap(hint: Any) -> tuple[Any, list[Any]]:
    """Strip ``Annotated`` (also inside ``X | None``), keeping its metadata."""
    checks: list[Any] = []
    if typing.get_origin(hint) is Annotated:
        hint, *meta = typing.get_args(hint)
        checks += meta
    kinds = _alternatives(hint)
    if len(kinds) > 1:
        plain = []
        for kind in kinds:
            inner, meta = _unwrap(kind)
            plain.append(inner)
            checks += meta
        hint = typing.Union[tuple(plain)]  # noqa: UP007  (built from a runtime tuple)
    return hint, checks


def _alternatives(hint: Any) -> tuple[Any, ...]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _names(kinds: tuple[Any, ...]) -> str:
    named = [getattr(k, "__name__", str(k)) for k in kinds if k is not type(None)]
    return " or ".join(named)


def _bad(value: Any, key: str, where: str, requirement: str) -> AekitError:
    prefix = f"{where}: " if where else ""
    return AekitError(f"{prefix}bad {key} {value!r}; {requirement}")
