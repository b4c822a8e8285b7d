"""User-facing errors.

Anything a user can cause (a wrong option, a missing or corrupted file, data of the wrong
shape) raises :class:`AekitError`. The CLI prints its message as one line and exits non-zero,
without a traceback; everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterable


class AekitError(Exception):
    """A problem the user can fix; the message says what and how."""

    exit_code = 1


class Interrupted(AekitError):
    """The user stopped the work (Ctrl-C); the message says what was kept."""

    exit_code = 130


def unknown_choice(kind: str, value: str, choices: Iterable[str]) -> AekitError:
    """Build the error for a name that is not among the valid ones, listing them."""
    valid = ", ".join(sorted(choices))
    return AekitError(f"unknown {kind} {value!r}; choose one of: {valid}")
