"""One writer per run directory: training and resuming hold ``RUN/.lock`` while they write.

Two processes training into one directory at once would interleave their metrics rows under
one config, and two resumes of one run would each add the same epochs. The lock is a file
created exclusively (``O_EXCL``, atomic on local and network file systems alike), holding the
owner's pid, host and start time; it is removed when the owner finishes, fails or is
interrupted. One left by a process that was killed is noticed (same host, no such process
any more) and taken over; a second writer otherwise gets one line naming the holder.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aekit.errors import AekitError

LOCK = ".lock"
TORN_AFTER_S = 60.0  # a lock file still empty after this long was left by a killed writer


@contextlib.contextmanager
def writing(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s write lock inside the block (``folder`` is created if missing)."""
    path = Path(folder) / LOCK
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise AekitError(f"{folder} exists and is not a directory") from None
    except OSError as exc:
        raise AekitError(f"cannot create {folder}: {exc.strerror or exc}") from None
    owner = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
    _acquire(path, owner)
    try:
        yield
    finally:
        if _holder(path) == owner:
            path.unlink(missing_ok=True)


def lock_text(folder: Path) -> str:
    """What ``folder``'s lock file says ("" without one): the processes of a job on several
    machines compare it with their writer's to learn whether they all see one folder."""
    try:
        return (Path(folder) / LOCK).read_text()
    except OSError:
        return ""


def _acquire(path: Path, owner: dict[str, Any]) -> None:
    for _attempt in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(path)
            if _stale(path, holder):
                path.unlink(missing_ok=True)
                continue
            raise AekitError(_held_message(path, holder)) from None
        except OSError as exc:
            raise AekitError(f"cannot write {path.parent}: {exc.strerror or exc}") from None
        with os.fdopen(fd, "w") as handle:
            json.dump(owner, handle)
        return
    raise AekitError(_held_message(path, _holder(path)))


def _holder(path: Path) -> dict[str, Any] | None:
    """Who holds the lock (None: no lock file, or one not written yet or torn)."""
    try:
        holder = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


def _stale(path: Path, holder: dict[str, Any] | None) -> bool:
    """A lock whose process is gone: on this host and not running, or never written."""
    if holder is None:
        try:
            return time.time() - path.stat().st_mtime > TORN_AFTER_S
        except FileNotFoundError:
            return True
    if holder.get("host") != socket.gethostname():
        return False  # another machine's process: it cannot be checked from here
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, KeyError, TypeError, ValueError):
        return False
    return False


def _held_message(path: Path, holder: dict[str, Any] | None) -> str:
    if holder is None:
        who = "another aekit process"
    else:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("since", 0)))
        pid, host = holder.get("pid"), holder.get("host")
        who = f"another aekit process (pid {pid} on {host}, since {since})"
    return (
        f"{path.parent} is being written by {who}; wait for it to finish, or delete {path} "
        "if that process no longer runs"
    )
