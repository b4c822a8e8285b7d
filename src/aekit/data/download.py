"""Fetching the public data sets: checksummed, cached, never half-written.

Files are looked up in the data directory first (``--data-dir``, then ``$AEKIT_DATA_DIR``,
then the per-user cache directory). Missing files are downloaded from each mirror in turn with
pooch, which writes to a temporary file and moves it into place only after the MD5 checksum
matches, so an interrupted or corrupted download never leaves a file behind.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from aekit.errors import AekitError

DATA_DIR_ENV = "AEKIT_DATA_DIR"


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """The directory holding one sub-folder per named data set."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("aekit")) / "data"


def fetch(filename: str, md5: str, mirrors: Sequence[str], folder: Path) -> Path:
    """Return ``folder/filename``, downloading it from the first mirror that works if missing."""
    target = folder / filename
    if target.is_file():
        return target
    import pooch
    import requests

    errors = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + filename
        try:
            path = pooch.retrieve(
                url,
                known_hash=f"md5:{md5}",
                fname=filename,
                path=folder,
                progressbar=_progress_wanted(),
            )
            return Path(path)
        except requests.exceptions.ConnectionError:
            errors.append(f"{url}: no connection")
        except requests.exceptions.RequestException as exc:
            errors.append(f"{url}: {exc.__class__.__name__} {exc}")
        except ValueError as exc:  # pooch: checksum mismatch
            errors.append(f"{url}: {str(exc).splitlines()[0]}")
        except OSError as exc:
            raise AekitError(f"cannot write {target}: {exc.strerror or exc}") from None
    offline = all(e.endswith("no connection") for e in errors)
    hint = (
        "you seem to be offline; copy the file there by hand or point --data-dir / "
        f"${DATA_DIR_ENV} at a folder that has it"
        if offline
        else "; ".join(errors)
    )
    raise AekitError(f"{filename} is not in {folder} and could not be downloaded: {hint}")


def _progress_wanted() -> bool:
    """Show pooch's download bar only where tqdm can draw it (an interactive terminal)."""
    import sys

    return sys.stderr.isatty()
