"""User-facing errors.

Anything a user can cause (a wrong option, a missing or corrupted file, data of the wrong
shape) raises :class:`AekitError`. The CLI prints its message as one line and exits non-zero,
without a traceback; everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class AekitError(Exception):
    """A problem the user can fix; the message says what and how."""

    exit_code = 1


class Interrupted(AekitError):
    """The user stopped the work (Ctrl-C); the message says what was kept."""

    exit_code = 130


class WriteFailed(AekitError):
    """A file could not be written (read-only file system, full disk, no permission); the
    previous version of the file, if any, is left as it was."""

    def __init__(self, path: Path, error: OSError) -> None:
        self.path = path
        self.reason = error.strerror or str(error)
        super().__init__(f"cannot write {path}: {self.reason}")


class AekitWarning(UserWarning):
    """Something the user should know that does not stop the work (a diverging loss, a torn
    line dropped from a file); the CLI prints it as one ``aekit: warning:`` line."""


def unknown_choice(kind: str, value: str, choices: Iterable[str]) -> AekitError:
    """Build the error for a name that is not among the valid ones, listing them."""
    valid = ", ".join(sorted(choices))
    return AekitError(f"unknown {kind} {value!r}; choose one of: {valid}")
