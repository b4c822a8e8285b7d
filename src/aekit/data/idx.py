"""Reader for the IDX format of MNIST-style data sets (raw or gzip-compressed).

The header is checked against the file before any array is built, so a truncated download or
a wrong file gives an error that names the file and what is wrong with it.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from aekit.errors import AekitError

# Third byte of the magic number -> element type (big-endian as IDX stores it).
_DTYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw) into an array of its declared shape.

    Byte data comes back as a read-only view of the file's bytes (no copy); callers convert it.
    """
    path = Path(path)
    try:
        data = _read_bytes(path)
    except FileNotFoundError:
        raise AekitError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as exc:  # truncated or corrupted .gz
        raise AekitError(f"{path}: cannot read IDX file ({exc})") from None
    return parse_idx(data, str(path))


def _read_bytes(path: Path) -> bytes:
    with path.open("rb") as handle:
        compressed = handle.read(2) == b"\x1f\x8b"
    opener = gzip.open if compressed else open
    with opener(path, "rb") as handle:
        return handle.read()


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes; ``name`` is used in error messages."""
    if len(data) < 4:
        raise AekitError(f"{name}: not an IDX file (only {len(data)} bytes)")
    zero1, zero2, type_code, ndim = struct.unpack(">BBBB", data[:4])
    if zero1 != 0 or zero2 != 0 or type_code not in _DTYPES or ndim == 0:
        raise AekitError(f"{name}: not an IDX file (bad magic number {data[:4].hex()})")
    header_end = 4 + 4 * ndim
    if len(data) < header_end:
        raise AekitError(f"{name}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:header_end])
    dtype = _DTYPES[type_code]
    expected = math.prod(shape) * dtype.itemsize  # exact: a corrupt header cannot overflow
    actual = len(data) - header_end
    if actual != expected:
        raise AekitError(
            f"{name}: IDX header declares shape {tuple(shape)} ({expected} bytes of data) "
            f"but the file holds {actual} bytes; the file is truncated or corrupted"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_end).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)
