"""Crash-safe file writing, and where aekit keeps what it caches.

Every file aekit writes goes through :func:`atomic_write`: the data lands in a temporary
file beside the target, is flushed to disk, then renamed over it. A crash or Ctrl-C at any
point leaves either the previous complete file or the new complete file, never a torn one.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import platformdirs
import yaml

from aekit.errors import WriteFailed


def _default_mode() -> int:
    """Permissions a plainly created file gets (mkstemp's are owner-only)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _default_mode()


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside ``path`` that is renamed over it when the block succeeds and
    removed when it fails; the parent folder is created if missing. A failure of the file
    system (read-only, full, no permission) is a :class:`WriteFailed` naming ``path``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise WriteFailed(path, exc) from None
    try:
        yield Path(tmp)
        os.chmod(tmp, _FILE_MODE)  # after writing: a library may have made the file anew
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise WriteFailed(path, exc) from None
        raise


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file for writing that replaces ``path`` only when the block succeeds."""
    with replacing(path) as tmp, open(tmp, mode) as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def atomic_save(path: str | os.PathLike[str], save: Callable[[str], object]) -> None:
    """Let a library function that only takes a file name (``save(tmp_path)``) write atomically."""
    with replacing(path, Path(path).suffix) as tmp:
        save(str(tmp))


def write_yaml(path: str | os.PathLike[str], data: dict[str, Any]) -> None:
    """Write a mapping as human-readable YAML, atomically."""
    with atomic_write(path, "w") as handle:
        yaml.safe_dump(data, handle, sort_keys=False)


def json_safe(data: Any) -> Any:
    """``data`` with every NaN or infinite float replaced by None: JSON has no such numbers,
    and strict parsers reject the ``NaN`` / ``Infinity`` that Python would write."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: json_safe(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [json_safe(value) for value in data]
    return data


def to_json(data: Any, **options: Any) -> str:
    """Standard JSON text of ``data`` (non-finite numbers as null)."""
    return json.dumps(json_safe(data), allow_nan=False, **options)


def remove_orphans(folder: Path, names: Iterable[str] | None = None) -> list[Path]:
    """Delete the temporary files that writes of ``names`` in ``folder`` (None: of any file
    there, for a folder only aekit writes) left behind when their process was killed
    mid-write (``.NAME.*``); return them."""
    patterns = [".*.*"] if names is None else [f".{name}.*" for name in names]
    orphans = [path for pattern in patterns for path in folder.glob(pattern) if path.is_file()]
    for path in orphans:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return orphans


CACHE_ENV = "AEKIT_CACHE_DIR"


def cache_root() -> Path:
    """Where aekit keeps what it can rebuild (trained probe classifiers, compiled training
    steps): ``$AEKIT_CACHE_DIR``, else the user's cache directory."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(platformdirs.user_cache_dir("aekit"))
