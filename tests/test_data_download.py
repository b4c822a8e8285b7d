"""Downloading named data sets, against a local HTTP server (the tests never touch the internet).

The server on 127.0.0.1 serves small IDX .gz files made here, under several "mirrors":
``/good/`` serves them, ``/missing/`` answers 404, ``/cut/`` sends half the bytes and hangs
up, ``/corrupt/`` sends different bytes (wrong checksum). A closed port plays "offline".
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import re
import socket
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from aekit.data import sources
from aekit.data.sources import IDX_FILES, load_source
from aekit.errors import AekitError
from tests.test_data_idx import idx_gz

N_TRAIN, N_TEST = 12, 5


def _fake_set() -> dict[str, bytes]:
    """The four files of a tiny MNIST-like set: 28x28 uint8 images and labels 0..9."""
    rng = np.random.default_rng(0)
    arrays = (
        rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        (np.arange(N_TRAIN) % 10).astype(np.uint8),
        rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        (np.arange(N_TEST) % 10).astype(np.uint8),
    )
    return {name: idx_gz(a) for name, a in zip(IDX_FILES, arrays)}


def _fake_movielens() -> bytes:
    """A zip laid out as ml-1m.zip: ml-1m/ratings.dat of UserID::MovieID::Rating::Timestamp;
    users 1-6 rate 6 movies, user 7 has only 3 ratings of 4 or more."""
    lines = [f"{u}::{m}::{4 + (m % 2)}::97830{u}{m}" for u in range(1, 7) for m in range(1, 7)]
    lines += ["7::1::5::1", "7::2::4::1", "7::3::4::1", "7::4::2::1", "1::9::1::1"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ml-1m/ratings.dat", "\n".join(lines) + "\n")
    return buffer.getvalue()


FILES = {**_fake_set(), "ml-1m.zip": _fake_movielens()}


class _Server:
    """What the server was asked for, and its base URL."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.requests: list[str] = []

    def mirror(self, name: str) -> str:
        return f"{self.base}/{name}/"


def _handler(server: _Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server.requests.append(self.path)
            mirror, _, filename = self.path.strip("/").partition("/")
            body = FILES.get(filename)
            if body is None or mirror == "missing":
                self.send_error(404)
                return
            if mirror == "corrupt":
                body = body[:-8] + b"\x00" * 8
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if mirror == "cut":
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # keep test output clean
            pass

    return Handler


@pytest.fixture
def server(monkeypatch) -> Iterator[_Server]:
    for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), None)  # handler set below, once the port is known
    state = _Server(httpd.server_address[1])
    httpd.RequestHandlerClass = _handler(state)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def closed_port() -> str:
    """A mirror URL where nothing listens: connecting is refused at once, as when offline."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/kmnist/"


def use_mirrors(monkeypatch, *mirrors: str) -> None:
    """Point kmnist at test mirrors, with the checksums of the test files."""
    md5 = {name: hashlib.md5(FILES[name]).hexdigest() for name in IDX_FILES}
    spec = dataclasses.replace(sources.IDX_SETS["kmnist"], mirrors=mirrors, md5=md5)
    monkeypatch.setitem(sources.IDX_SETS, "kmnist", spec)


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_lands_in_the_data_dir_and_is_read(server, monkeypatch, tmp_path):
    use_mirrors(monkeypatch, server.mirror("good"))
    raw = load_source("kmnist", str(tmp_path))
    assert files_in(tmp_path / "kmnist") == sorted(IDX_FILES)
    assert raw.x_train.shape == (N_TRAIN, 1, 28, 28)
    assert raw.x_test.shape == (N_TEST, 1, 28, 28)
    assert raw.x_train.dtype == np.uint8  # 8-bit pixels are kept as bytes until a batch
    np.testing.assert_array_equal(raw.y_train, np.arange(N_TRAIN) % 10)
    assert len(server.requests) == 4
    # Second load: everything is local now, the server is not asked again.
    load_source("kmnist", str(tmp_path))
    assert len(server.requests) == 4


def test_data_dir_from_the_environment(server, monkeypatch, tmp_path):
    use_mirrors(monkeypatch, server.mirror("good"))
    monkeypatch.setenv("AEKIT_DATA_DIR", str(tmp_path / "env-dir"))
    load_source("kmnist")
    assert files_in(tmp_path / "env-dir" / "kmnist") == sorted(IDX_FILES)


def test_wrong_checksum_leaves_nothing_behind(server, monkeypatch, tmp_path):
    use_mirrors(monkeypatch, server.mirror("corrupt"))
    with pytest.raises(AekitError, match="hash") as caught:
        load_source("kmnist", str(tmp_path))
    assert "could not be downloaded" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert files_in(tmp_path / "kmnist") == []


@pytest.mark.parametrize("broken", ["missing", "cut", "corrupt"])
def test_a_failing_mirror_falls_back_to_the_next(server, monkeypatch, tmp_path, broken):
    use_mirrors(monkeypatch, server.mirror(broken), server.mirror("good"))
    raw = load_source("kmnist", str(tmp_path))
    assert len(raw.x_train) == N_TRAIN
    assert files_in(tmp_path / "kmnist") == sorted(IDX_FILES)
    assert [r.split("/")[1] for r in server.requests] == [broken, "good"] * 4


@pytest.mark.parametrize(("broken", "reason"), [("missing", "HTTP 404"), ("cut", "Encoding")])
def test_every_mirror_failing_says_why(server, monkeypatch, tmp_path, broken, reason):
    use_mirrors(monkeypatch, server.mirror(broken))
    with pytest.raises(AekitError, match=reason) as caught:
        load_source("kmnist", str(tmp_path))
    assert server.mirror(broken) in str(caught.value)
    assert "offline" not in str(caught.value)
    assert files_in(tmp_path / "kmnist") == []


def test_no_network_gives_the_offline_message(monkeypatch, tmp_path, closed_port):
    use_mirrors(monkeypatch, closed_port)
    with pytest.raises(AekitError) as caught:
        load_source("kmnist", str(tmp_path))
    message = str(caught.value)
    assert message.startswith("train-images-idx3-ubyte.gz is not in")
    assert "you seem to be offline" in message and "--data-dir" in message
    assert files_in(tmp_path / "kmnist") == []


def test_kmnist_with_the_real_mirrors_replaced_by_a_closed_port(monkeypatch, tmp_path, closed_port):
    """The shipped kmnist entry, mirrors swapped for a closed port: the clean offline error."""
    spec = dataclasses.replace(sources.IDX_SETS["kmnist"], mirrors=(closed_port,))
    monkeypatch.setitem(sources.IDX_SETS, "kmnist", spec)
    with pytest.raises(AekitError, match="you seem to be offline"):
        load_source("kmnist", str(tmp_path / "empty"))


@pytest.mark.parametrize("compressed", [True, False])
def test_files_already_there_need_no_network(server, monkeypatch, tmp_path, compressed):
    use_mirrors(monkeypatch, server.mirror("good"))
    folder = tmp_path / "kmnist"
    folder.mkdir()
    for name in IDX_FILES:
        body = FILES[name]
        if compressed:
            (folder / name).write_bytes(body)
        else:  # decompressed copies, as many people keep MNIST
            (folder / name.removesuffix(".gz")).write_bytes(gzip.decompress(body))
    raw = load_source("kmnist", str(tmp_path))
    assert raw.x_train.shape == (N_TRAIN, 1, 28, 28)
    assert server.requests == []


def test_a_damaged_local_file_says_to_delete_it(monkeypatch, tmp_path, closed_port):
    use_mirrors(monkeypatch, closed_port)
    folder = tmp_path / "kmnist"
    folder.mkdir()
    for name, body in FILES.items():
        (folder / name).write_bytes(body)
    (folder / IDX_FILES[0]).write_bytes(idx_gz(np.zeros(3, np.uint8)))  # labels, not images
    with pytest.raises(AekitError, match=re.escape("delete the file to download a fresh copy")):
        load_source("kmnist", str(tmp_path))


def test_unwritable_data_dir_is_a_clean_error(monkeypatch, tmp_path, closed_port):
    use_mirrors(monkeypatch, closed_port)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(AekitError, match=r"cannot create .* for downloads"):
        load_source("kmnist", str(blocker))


def use_movielens_mirror(monkeypatch, mirror: str) -> None:
    md5 = hashlib.md5(FILES["ml-1m.zip"]).hexdigest()
    spec = dataclasses.replace(sources.RATINGS_SETS["movielens-1m"], mirrors=(mirror,), md5=md5)
    monkeypatch.setitem(sources.RATINGS_SETS, "movielens-1m", spec)


def test_movielens_downloads_checks_parses_once_and_keeps_positives(server, monkeypatch, tmp_path):
    use_movielens_mirror(monkeypatch, server.mirror("good"))
    raw = load_source("movielens-1m", str(tmp_path))
    folder = tmp_path / "movielens-1m"
    assert "ml-1m.zip" in files_in(folder) and len(server.requests) == 1
    matrix = raw.x_train.matrix
    # ratings >= 4 only (user 1's rating 1 of movie 9 is dropped); user 7 has 3 positives < 5
    assert matrix.shape == (6, 6) and matrix.nnz == 36
    assert list(raw.x_train.item_ids) == ["1", "2", "3", "4", "5", "6"]
    parsed = [name for name in files_in(folder) if name.endswith(".parsed.npz")]
    assert len(parsed) == 1
    size = (folder / "ml-1m.zip").stat().st_size
    (folder / "ml-1m.zip").write_bytes(b"x" * size)  # the parsed copy is what is read now
    again = load_source("movielens-1m", str(tmp_path))
    assert again.x_train.matrix.nnz == 36 and len(server.requests) == 1


def test_movielens_unpacked_by_hand_needs_no_network(monkeypatch, tmp_path, closed_port):
    use_movielens_mirror(monkeypatch, closed_port)
    folder = tmp_path / "movielens-1m" / "ml-1m"
    folder.mkdir(parents=True)
    with zipfile.ZipFile(io.BytesIO(FILES["ml-1m.zip"])) as archive:
        (folder / "ratings.dat").write_bytes(archive.read("ml-1m/ratings.dat"))
    assert load_source("movielens-1m", str(tmp_path)).x_train.matrix.shape == (6, 6)


@pytest.mark.parametrize("broken", ["corrupt", "offline"])
def test_movielens_download_failures_are_one_line_and_leave_nothing(
    server, monkeypatch, tmp_path, closed_port, broken
):
    use_movielens_mirror(monkeypatch, closed_port if broken == "offline" else server.mirror(broken))
    with pytest.raises(AekitError) as caught:
        load_source("movielens-1m", str(tmp_path))
    message = str(caught.value)
    assert message.startswith("ml-1m.zip is not in") and "\n" not in message
    assert ("offline" in message) == (broken == "offline")
    assert files_in(tmp_path / "movielens-1m") == []
