"""Fetching the public data sets: checksummed, cached, never half-written.

Files are looked up in the data directory first (``--data-dir``, then ``$AEKIT_DATA_DIR``,
then the per-user cache directory), as published (``.gz``) or already decompressed. Missing
files are downloaded from each mirror in turn with pooch, which writes to a temporary file
beside the target and moves it into place only after the MD5 checksum matches, so an
interrupted or corrupted download never leaves a file behind.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import platformdirs

from aekit.errors import AekitError

DATA_DIR_ENV = "AEKIT_DATA_DIR"


def data_root(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The directory holding one sub-folder per named data set."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    return Path(platformdirs.user_cache_dir("aekit")) / "data"


_NO_CONNECTION = "no connection"
_OFFLINE_HINT = (
    "you seem to be offline; copy the file there by hand or point --data-dir / "
    f"${DATA_DIR_ENV} at a folder that has it"
)


class _DownloadFailed(Exception):
    """One mirror did not deliver the file; the message says why, starting with the URL."""


def local_copy(folder: Path, filename: str) -> Path | None:
    """``folder/filename`` if present, else its decompressed form (many people gunzip MNIST)."""
    for candidate in (folder / filename, folder / filename.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def fetch(filename: str, md5: str, mirrors: Sequence[str], folder: Path) -> Path:
    """Return the local copy of ``filename``, downloading it from the first mirror that works."""
    found = local_copy(folder, filename)
    if found is not None:
        return found
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AekitError(
            f"cannot create {folder} for downloads ({exc.strerror or exc}); "
            f"point --data-dir or ${DATA_DIR_ENV} at a writable folder"
        ) from None
    errors: list[str] = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + filename
        try:
            return _download(url, md5, folder / filename)
        except _DownloadFailed as failure:
            errors.append(str(failure))
    raise AekitError(
        f"{filename} is not in {folder} and could not be downloaded: "
        + (_OFFLINE_HINT if all(e.endswith(_NO_CONNECTION) for e in errors) else "; ".join(errors))
    )


def _download(url: str, md5: str, target: Path) -> Path:
    """Download ``url`` to ``target`` through pooch (temporary file, checksum, then rename)."""
    import pooch
    import requests

    try:
        pooch.retrieve(
            url,
            known_hash=f"md5:{md5}",
            fname=target.name,
            path=target.parent,
            progressbar=_progress_wanted(),
        )
    except requests.exceptions.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        raise _DownloadFailed(f"{url}: HTTP {status}") from None
    except requests.exceptions.RequestException as exc:
        reason = _NO_CONNECTION if _is_unreachable(exc) else f"{exc.__class__.__name__} ({exc})"
        raise _DownloadFailed(f"{url}: {reason}") from None
    except ValueError as exc:  # pooch: checksum mismatch (the temporary file is already gone)
        raise _DownloadFailed(f"{url}: {str(exc).splitlines()[0]}") from None
    except OSError as exc:
        raise AekitError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target


def _is_unreachable(exc: Exception) -> bool:
    """True when no connection could be opened at all (no network, no DNS, refused, timeout),
    as opposed to a server that answered and then failed."""
    import requests
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError) or not exc.args:
        return False
    reason = getattr(exc.args[0], "reason", exc.args[0])
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))


def _progress_wanted() -> bool:
    """Show pooch's download bar only where tqdm can draw it (an interactive terminal)."""
    return sys.stderr.isatty()
