"""The IDX reader: round trips, and every kind of damage gives one clear error naming the file."""

from __future__ import annotations

import gzip
import re
import struct

import numpy as np
import pytest

from aekit.data.idx import parse_idx, read_idx
from aekit.errors import AekitError

_TYPE_CODES = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D}


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode an array in the IDX format (what the MNIST files hold once decompressed)."""
    big_endian = array.astype(array.dtype.newbyteorder(">"))
    header = struct.pack(">BBBB", 0, 0, _TYPE_CODES[big_endian.dtype], array.ndim)
    return header + struct.pack(f">{array.ndim}I", *array.shape) + big_endian.tobytes()


def idx_gz(array: np.ndarray) -> bytes:
    return gzip.compress(idx_bytes(array), mtime=0)


@pytest.mark.parametrize(
    "array",
    [
        np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
        np.array([3, -1, 7], dtype=np.int32),
        np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2),
    ],
)
@pytest.mark.parametrize("compressed", [True, False])
def test_round_trip(tmp_path, array, compressed):
    path = tmp_path / ("a.idx.gz" if compressed else "a.idx")
    path.write_bytes(idx_gz(array) if compressed else idx_bytes(array))
    loaded = read_idx(path)
    assert loaded.shape == array.shape
    assert loaded.dtype.isnative
    np.testing.assert_array_equal(loaded, array)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x00", "only 2 bytes"),
        (b"\x1f\x00\x08\x01" + b"\x00" * 8, "bad magic number"),
        (b"\x00\x00\x07\x01" + b"\x00" * 8, "bad magic number"),  # unknown element type
        (b"\x00\x00\x08\x00", "bad magic number"),  # zero dimensions
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated IDX header"),
        (idx_bytes(np.zeros((4, 3), np.uint8))[:-1], "declares shape (4, 3)"),
        (idx_bytes(np.zeros((4, 3), np.uint8)) + b"\x00", "holds 13 bytes"),
        # a corrupt header whose shape product overflows 64 bits must not wrap around
        (b"\x00\x00\x08\x03" + b"\xff" * 12 + b"\x00" * 16, "truncated or corrupted"),
    ],
    ids=["tiny", "magic", "type", "ndim0", "header", "short", "long", "overflow"],
)
def test_damaged_bytes_name_the_file(tmp_path, data, message):
    path = tmp_path / "broken-idx1-ubyte"
    path.write_bytes(data)
    with pytest.raises(AekitError, match=re.escape(message)) as caught:
        read_idx(path)
    assert str(caught.value).startswith(str(path))
    assert "\n" not in str(caught.value)


def test_damaged_gzip_is_a_clean_error(tmp_path):
    good = idx_gz(np.arange(4000, dtype=np.uint8).reshape(40, 100) * 7)
    truncated = tmp_path / "truncated.gz"
    truncated.write_bytes(good[: len(good) // 2])
    flipped = tmp_path / "flipped.gz"
    body = bytearray(good)
    body[len(body) // 2] ^= 0xFF
    flipped.write_bytes(bytes(body))
    for path in (truncated, flipped):
        with pytest.raises(AekitError, match=re.escape(str(path))):
            read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(AekitError, match="file not found"):
        read_idx(tmp_path / "nope.gz")


def test_parse_idx_names_its_source():
    with pytest.raises(AekitError, match=r"^memory: "):
        parse_idx(b"\x00\x00\x08", "memory")
