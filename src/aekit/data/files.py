"""The user's own data, given by path: ``.npz``, ``.npy``, ``.csv``, ``.parquet`` or a folder
of images.

Formats
    ``.npz``: array ``x`` (required); optional integer labels ``y``; optional ``x_test`` and
    ``y_test`` (an official test split, kept as is by the splitter); optional ``kind``, the
    string ``"images"`` or ``"sequence"``. Any other key is an error (it is usually a typo).
    ``.npy``: one array, read as ``x`` without labels.
    ``.csv``: numeric columns, comma-separated, with an optional header row; a header column
    named ``label`` or ``y`` holds integer labels. Each row is one example, a vector (N, D).
    Interactions (implicit feedback, :mod:`aekit.data.interactions`): a ``.csv`` whose header
    names a user and an item column (``user``/``userId``, ``item``/``movieId``, ...) and
    optionally a ``rating``, a ``.parquet`` file of the same, or an ``.npz`` written by
    ``scipy.sparse.save_npz`` (users in rows). Each user is one example: a 0/1 vector over
    the items, kept sparse.
    Folder: image files (.png, .jpg, .bmp, .gif, .tif, .webp, ...). With sub-folders, each
    sub-folder holding images is a class, labelled 0, 1, ... in sorted folder-name order;
    otherwise the images are unlabelled. All images must have the same size.

Shapes (what the models see, per example)
    (N, D)          vectors, kept as they are (a recurrent model reads them as D steps of 1)
    (N, H, W)       grey images -> (N, 1, H, W)
    (N, H, W, C)    channels-last images with C = 1 or 3 -> (N, C, H, W)
    (N, C, H, W)    channels-first images with C = 1 or 3, kept
    (N, T, F)       sequences of T steps of F features, kept; only from an ``.npz`` whose
                    ``kind`` is ``"sequence"`` (a 3-d array is otherwise read as images)
    Images from a folder are grey (N, 1, H, W) when every image is grey (by mode or because
    its red, green and blue are equal everywhere), else (N, 3, H, W); alpha is dropped.

Scaling to [0, 1] (a function of the file's contents only, so it is the same every time)
    uint8 -> v / 255; bool -> 0 / 1; anything already within [0, 1] is kept; other numeric
    ranges are min-max scaled, per column for CSV files, per feature (last axis) for
    sequences, and over the whole array for images and vectors from ``.npz`` / ``.npy``. A
    feature that never changes becomes 0. Training and test arrays of one ``.npz`` are scaled
    together. 16-bit images are divided by 65535. Data given to a trained run (``aekit
    evaluate --dataset``, ``anomaly --input``, ...) is scaled as the run's training file was
    (its minima and maxima, or kept as it is), not by its own extremes.

Errors: NaN or infinite values, empty data, shapes outside the table above, labels that are
not non-negative integers or do not match the examples, and unreadable files all raise
:class:`AekitError` naming the file. Files are read with ``allow_pickle=False``: arrays of
Python objects are refused, never unpickled.
"""

from __future__ import annotations

import csv
import itertools
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from aekit.data import interactions
from aekit.data.raw import RawData, Scaling, unit_array
from aekit.errors import AekitError

if TYPE_CHECKING:
    import PIL.Image

# What ``aekit datasets`` prints about user files: (topic, explanation) rows.
FORMATS_HELP = (
    (".npz", "array x; optional integer labels y, test split x_test/y_test, kind='sequence'"),
    (".npy", "one array x, no labels"),
    (".csv", "numeric columns, optional header row; a column 'label' or 'y' = integer labels"),
    ("interactions", ".csv/.parquet with user, item[, rating] columns, or a scipy.sparse .npz"),
    ("FOLDER", "images of one size (.png, .jpg, ...); each sub-folder holding images is a class"),
    ("shapes", "(N, D) vectors; (N, H, W) grey images; (N, C, H, W) or (N, H, W, C) images"),
    ("", "with C = 1 or 3; (N, T, F) sequences only from an .npz with kind='sequence'"),
    ("scaling", "to [0, 1]: uint8 / 255; values within [0, 1] kept; otherwise min-max per"),
    ("", "column (CSV), per feature (sequences), over the whole array (images, vectors)"),
)

IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm"}
)
NPZ_KEYS = ("x", "y", "x_test", "y_test", "kind")
KINDS = ("images", "sequence")
LABEL_COLUMNS = ("label", "y")
# Labels index classes, and a conditional model has a weight row per class: a stray huge
# value (an id, a year) would ask for gigabytes.
MAX_CLASSES = 10_000


def load_path(
    path: Path,
    scaling: Scaling | None = None,
    stream: bool | None = False,
    workers: int | None = None,
) -> RawData:
    """Load the user's data from a file or folder, scaled to [0, 1] (see the module doc), or
    with ``scaling`` (another source's: a trained run's data) where the rule depends on the
    values. A folder of images ``stream``s (:class:`ImageFiles`) when asked to, or with
    ``stream`` None when its decoded images would fill over a quarter of the memory."""
    if path.is_dir():
        return _load_image_folder(path, stream, workers)
    suffix = path.suffix.lower()
    if suffix in (".npz", ".npy"):
        return _load_numpy(path, scaling)
    if suffix == ".csv":
        return _load_csv(path, scaling)
    if suffix == ".parquet":
        return _interaction_data(path, interactions.read_parquet(path))
    raise AekitError(
        f"{path}: unsupported file type {suffix or '(no suffix)'!r}; use .npz, .npy, .csv, "
        ".parquet (interactions) or a folder of images"
    )


def _interaction_data(path: Path, table: interactions.InteractionTable) -> RawData:
    """User x item interactions: every user with enough positives, as one sparse matrix (the
    split into training and held-out users is made with the run's split settings)."""
    return RawData(path.name, interactions.positives(table, str(path)), None)


# --- .npz / .npy ---------------------------------------------------------------------------


def _load_numpy(path: Path, scaling: Scaling | None) -> RawData:
    arrays = _read_numpy(path)
    if interactions.is_sparse_npz(arrays):
        return _interaction_data(path, interactions.read_sparse_npz(path))
    unknown = sorted(set(arrays) - set(NPZ_KEYS))
    if unknown or "x" not in arrays:
        found = ", ".join(sorted(arrays)) or "nothing"
        raise AekitError(
            f"{path}: expected arrays named {', '.join(NPZ_KEYS)} (x required), found {found}; "
            "save with np.savez(path, x=inputs, y=labels)"
        )
    if ("y_test" in arrays) != ("x_test" in arrays and "y" in arrays):
        raise AekitError(f"{path}: y_test must come with x_test and y, and only with them")
    kind = _kind(arrays.get("kind"), path)
    parts = [_layout(_numeric(arrays["x"], path, "x"), kind, path, "x")]
    if "x_test" in arrays:
        parts.append(_layout(_numeric(arrays["x_test"], path, "x_test"), kind, path, "x_test"))
        if parts[1].shape[1:] != parts[0].shape[1:]:
            raise AekitError(
                f"{path}: x_test examples are shaped {parts[1].shape[1:]} but x examples "
                f"{parts[0].shape[1:]}"
            )
    (x, *rest), used = scale_to_unit(parts, kind == "sequence", path, scaling)
    x_test = rest[0] if rest else None
    y = _labels(arrays.get("y"), len(x), path, "y")
    y_test = None if x_test is None else _labels(arrays.get("y_test"), len(x_test), path, "y_test")
    return RawData(path.name, x, y, x_test, y_test, used)


def _read_numpy(path: Path) -> dict[str, np.ndarray]:
    """Every array in the file, read without ever unpickling (a .npy file holds one, ``x``)."""
    try:
        # a .npy file is memory-mapped (copy-on-write: never written back): pages are read as
        # batches need them, so a file larger than memory trains from the disk cache
        loaded = np.load(path, allow_pickle=False, mmap_mode="c" if _is_npy(path) else None)
        if isinstance(loaded, np.ndarray):
            return {"x": loaded}
        with loaded:
            arrays = {key: loaded[key] for key in loaded.files}
    except ValueError as exc:
        if "pickle" in str(exc).lower() or "object arrays" in str(exc).lower():
            raise AekitError(
                f"{path}: not a plain NumPy array file (it is not .npy/.npz data, or it holds "
                "pickled Python objects, which aekit never loads); save numeric arrays"
            ) from None
        raise AekitError(f"{path}: corrupted NumPy file ({exc})") from None
    except MemoryError:
        raise AekitError(f"{path}: declares arrays too large for memory") from None
    except Exception as exc:
        # Damaged bytes surface from zipfile, zlib and numpy's header parser as many exception
        # types (BadZipFile, zlib.error, EOFError, RuntimeError, TokenError, ...); all of them
        # mean the same here: the user's file is not readable.
        reason = str(exc) or exc.__class__.__name__
        if len(reason) > 100:  # zipfile quotes whole damaged headers
            reason = reason[:100] + "..."
        raise AekitError(f"{path}: cannot read NumPy file ({reason})") from None
    not_arrays = [key for key, value in arrays.items() if not isinstance(value, np.ndarray)]
    if not_arrays:
        raise AekitError(f"{path}: member {not_arrays[0]!r} is not a NumPy array")
    return arrays


def _is_npy(path: Path) -> bool:
    """An uncompressed single-array file (what can be memory-mapped), by its magic bytes."""
    try:
        with path.open("rb") as handle:
            return handle.read(6) == b"\x93NUMPY"
    except OSError:
        return False


def _kind(value: np.ndarray | None, path: Path) -> str:
    if value is None:
        return "images"
    text = value.item() if value.shape == () else None
    if text not in KINDS:
        raise AekitError(f"{path}: bad kind {text!r}; choose one of: {', '.join(KINDS)}")
    return str(text)


def _numeric(x: np.ndarray, path: Path, key: str) -> np.ndarray:
    """Check that ``x`` holds examples of finite numbers."""
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool) or np.iscomplexobj(x):
        raise AekitError(f"{path}: {key} holds {x.dtype} values; expected real numbers")
    if x.ndim == 0 or x.size == 0:
        raise AekitError(f"{path}: {key} is empty (shape {x.shape})")
    if np.issubdtype(x.dtype, np.floating):
        chunk = max(1, (1 << 24) // max(1, x[0].size))  # rows per check: a bounded temporary
        bad = sum(int((~np.isfinite(x[i : i + chunk])).sum()) for i in range(0, len(x), chunk))
        if bad:
            raise AekitError(f"{path}: {key} has {bad} NaN or infinite values")
    return x


def _layout(x: np.ndarray, kind: str, path: Path, key: str) -> np.ndarray:
    """Arrange ``x`` as (N, D), (N, C, H, W) or (N, T, F); see the module doc."""
    if x.ndim == 3 and kind == "sequence":
        return x
    if kind == "sequence":
        raise AekitError(f"{path}: kind 'sequence' needs {key} shaped (N, T, F), got {x.shape}")
    if x.ndim == 2:
        return x
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4 and x.shape[1] in (1, 3):
        return x
    if x.ndim == 4 and x.shape[3] in (1, 3):
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    raise AekitError(
        f"{path}: {key} is shaped {x.shape}; expected (N, D) vectors, (N, H, W) grey images, "
        "(N, C, H, W) or (N, H, W, C) images with C = 1 or 3, or (N, T, F) sequences "
        "with kind='sequence'"
    )


def scale_to_unit(
    arrays: list[np.ndarray], per_feature: bool, source: Path, given: Scaling | None = None
) -> tuple[list[np.ndarray], Scaling | None]:
    """Scale arrays of one data set to float32 in [0, 1] with the same rule and statistics;
    return them and the :class:`Scaling` used (None for the rules of a type).

    uint8 is kept as bytes (they mean v / 255; see ``RawData``) and bool becomes 0/1;
    float32 data already within [0, 1] is kept as it is (a memory map stays one);
    anything else is min-max scaled, per feature (last axis) or over everything. With
    ``given`` (the scaling of the data a model was trained on), values that are not bytes or
    booleans are scaled by it instead, so that they mean what the training data's meant.
    """
    if all(a.dtype == np.uint8 for a in arrays):
        return list(arrays), None
    if all(a.dtype == bool for a in arrays):
        return [a.astype(np.float32) for a in arrays], None
    if given is not None:
        return [_rescaled(a, given, source) for a in arrays], given
    axes = tuple(range(arrays[0].ndim - 1)) if per_feature else None
    low = np.min([a.min(axis=axes) for a in arrays], axis=0).astype(np.float64)
    high = np.max([a.max(axis=axes) for a in arrays], axis=0).astype(np.float64)
    if low.min() >= 0 and high.max() <= 1:
        return [a.astype(np.float32, copy=False) for a in arrays], Scaling("unit")
    if not np.isfinite(high - low).all():
        raise AekitError(
            f"{source}: values range from {low.min()} to {high.max()}, too wide to scale"
        )
    scaling = Scaling("minmax", low, high)  # a constant feature becomes 0
    return [scaling.apply(a) for a in arrays], scaling


def _rescaled(x: np.ndarray, scaling: Scaling, source: Path) -> np.ndarray:
    """``x`` in another data set's scale, which must have as many features."""
    features = np.size(scaling.low)
    if features > 1 and x.shape[-1] != features:
        raise AekitError(
            f"{source}: examples have {x.shape[-1]} features, but the data the model was "
            f"trained on had {features}"
        )
    return scaling.apply(x)


def _labels(y: np.ndarray | None, n: int, path: Path, key: str) -> np.ndarray | None:
    """Labels as int64 class indices 0..K-1, or a clear error."""
    if y is None:
        return None
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != n:
        raise AekitError(f"{path}: {key} is shaped {y.shape} but there are {n} examples")
    if y.dtype == bool:
        return y.astype(np.int64)
    numeric = np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)
    if not numeric or (np.issubdtype(y.dtype, np.floating) and not _whole(y)):
        raise AekitError(
            f"{path}: labels {key} must be integers (class indices 0, 1, ...); found {y.dtype} "
            f"values such as {y[:3].tolist()}"
        )
    if y.min() < 0:
        raise AekitError(f"{path}: labels {key} must be non-negative, found {y.min()}")
    if y.max() >= MAX_CLASSES:
        distinct = len(np.unique(y))
        raise AekitError(
            f"{path}: labels {key} go up to {int(y.max())}; labels are class indices "
            f"0..K-1 with K at most {MAX_CLASSES} (these are {distinct} distinct values: "
            "number them 0, 1, ...)"
        )
    return y.astype(np.int64)


def _whole(values: np.ndarray) -> bool:
    return bool(np.isfinite(values).all() and (values == np.round(values)).all())


# --- .csv ----------------------------------------------------------------------------------


def _load_csv(path: Path, scaling: Scaling | None) -> RawData:
    header = _csv_header(path)
    columns = interactions.interaction_columns(header)
    if columns is not None:
        return _interaction_data(path, interactions.read_interaction_csv(path, columns))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an empty file is reported below
            table = np.loadtxt(
                path,
                delimiter=",",
                skiprows=int(header is not None),
                dtype=np.float64,
                ndmin=2,
                encoding="utf-8-sig",
                quotechar='"',
                comments=None,
            )
    except ValueError:  # numpy's row numbers are inconsistent; find the cell ourselves
        raise AekitError(f"{path}: {_first_bad_cell(path, header is not None)}") from None
    if table.size == 0:
        raise AekitError(f"{path}: no data rows")
    label_column = _label_column(header, path)
    y = None
    if label_column is not None:
        assert header is not None, "only a header names a label column"
        y = _labels(table[:, label_column], len(table), path, header[label_column])
        table = np.delete(table, label_column, axis=1)
        if table.shape[1] == 0:
            raise AekitError(f"{path}: no feature columns besides the labels")
    (x,), used = scale_to_unit([_numeric(table, path, "the table")], True, path, scaling)
    return RawData(path.name, x, y, scaling=used)


def _first_bad_cell(path: Path, skip_header: bool) -> str:
    """Where a CSV stops being a rectangle of numbers (run only once loading has failed)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = enumerate(csv.reader(handle), start=1)
            width = None
            for line, row in itertools.islice(rows, int(skip_header), None):
                if not row:
                    continue  # blank lines are skipped by the loader too
                width = width or len(row)
                if len(row) != width:
                    return f"line {line} has {len(row)} values but the first data row has {width}"
                for column, cell in enumerate(row, start=1):
                    if not _is_number(cell):
                        return f"line {line}, column {column}: {cell!r} is not a number"
    except UnicodeDecodeError:
        return "not a text CSV file (it is not UTF-8)"
    return "not a table of numbers"


def _csv_header(path: Path) -> list[str] | None:
    """The column names when the first row has any field that is not a number."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            first = next(csv.reader(handle), [])
    except UnicodeDecodeError:
        raise AekitError(f"{path}: not a text CSV file (it is not UTF-8)") from None
    except OSError as exc:
        raise AekitError(f"{path}: cannot read ({exc.strerror or exc})") from None
    names = [field.strip() for field in first]
    return names if any(not _is_number(name) for name in names) else None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _label_column(header: list[str] | None, path: Path) -> int | None:
    if header is None:
        return None
    found = [i for i, name in enumerate(header) if name.lower() in LABEL_COLUMNS]
    if len(found) > 1:
        raise AekitError(f"{path}: more than one label column ({', '.join(LABEL_COLUMNS)})")
    return found[0] if found else None


# --- folder of images ----------------------------------------------------------------------


def _load_image_folder(root: Path, stream: bool | None, workers: int | None) -> RawData:
    files, labels = _image_files(root)
    if stream or (stream is None and _too_large(files)):
        return RawData(root.name, ImageFiles(files, _scan(files), workers), labels)
    pictures = [_read_image(file) for file in files]
    for file, picture in zip(files, pictures):
        if picture.shape[:2] != pictures[0].shape[:2]:
            raise AekitError(
                f"{file}: image is {_size(picture)} but {files[0]} is {_size(pictures[0])}; "
                "all images must have the same size"
            )
    return RawData(root.name, _stack_images(pictures), labels)


class ImageFiles:
    """A folder's images as an array that stays on disk (8-bit images only): rows are decoded
    when asked for, by the DataLoader's ``workers`` processes while a model trains
    (:meth:`aekit.data.splits.Split.fetch`). It answers what the splitter and the trainer ask
    of a tensor of bytes: ``shape``, ``dtype``, ``device``, ``index_select``."""

    dtype = torch.uint8
    device = torch.device("cpu")

    def __init__(
        self, files: list[Path], example_shape: tuple[int, int, int], workers: int | None
    ) -> None:
        self.files, self.example_shape = files, example_shape
        self.workers = max(1, (os.cpu_count() or 2) - 1) if workers is None else workers

    def __len__(self) -> int:
        return len(self.files)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.files), *self.example_shape)

    def read(self, row: int) -> torch.Tensor:
        """Image ``row`` as (C, H, W) bytes."""
        file = self.files[row]
        picture = _read_image(file)
        if picture.dtype != np.uint8 or picture.shape[:2] != self.example_shape[1:]:
            raise AekitError(f"{file}: changed since the folder was read; read it again")
        if self.example_shape[0] == 1:
            return torch.from_numpy(np.ascontiguousarray(picture))[None]
        if picture.ndim == 2:
            picture = np.repeat(picture[..., None], 3, axis=2)
        return torch.from_numpy(np.ascontiguousarray(picture.transpose(2, 0, 1)))

    def index_select(self, dim: int, rows: torch.Tensor) -> torch.Tensor:
        if dim != 0:
            raise ValueError("images are selected along the first dimension")
        if not len(rows):
            return torch.empty((0, *self.example_shape), dtype=torch.uint8)
        return torch.stack([self.read(int(row)) for row in rows])


def _too_large(files: list[Path]) -> bool:
    """Whether the folder's images, decoded as bytes, would take over a quarter of the
    machine's memory (judged from the first image's size and mode)."""
    from PIL import Image

    with Image.open(files[0]) as image:
        channels = 1 if image.mode in _GREY_MODES else 3
        decoded = len(files) * image.width * image.height * channels
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system: decide by size alone
        memory = 8 << 30
    return bool(decoded > memory // 4)


def _scan(files: list[Path]) -> tuple[int, int, int]:
    """The (C, H, W) of a folder streamed from disk, read from the image headers alone (with
    a bar counting them): one size for all, grey (C = 1) when every image's mode is."""
    from PIL import Image
    from tqdm.auto import tqdm

    size, grey = None, True
    for file in tqdm(files, desc="reading image headers", unit="image", leave=False):
        try:
            with Image.open(file) as image:
                mode, found = image.mode, image.size
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise AekitError(f"{file}: cannot read image ({exc})") from None
        if mode in _DEEP_GREY_MODES or mode == "F":
            raise AekitError(
                f"{file}: {mode} images cannot be streamed (8-bit images only); "
                "use --set data.stream=false to read the folder into memory"
            )
        if size is not None and found != size:
            raise AekitError(
                f"{file}: image is {found[0]}x{found[1]} but {files[0]} is {size[0]}x{size[1]}; "
                "all images must have the same size"
            )
        size, grey = found, grey and mode in _GREY_MODES
    assert size is not None, "a folder streamed has images"
    return (1 if grey else 3, size[1], size[0])


def _size(picture: np.ndarray) -> str:
    return f"{picture.shape[1]}x{picture.shape[0]}"  # width x height, as image viewers say


def _image_files(root: Path) -> tuple[list[Path], np.ndarray | None]:
    """Image files in a stable order, with class labels when they sit in sub-folders."""
    loose = _images_in(root, recursive=False)
    classes = [
        (folder, images)
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and _visible(p))
        if (images := _images_in(folder, recursive=True))
    ]
    if classes and loose:
        raise AekitError(
            f"{root}: holds both images ({loose[0].name}) and class sub-folders; put every "
            "image in a class folder, or use a folder with images only"
        )
    if classes:
        files = [file for _, images in classes for file in images]
        labels = np.repeat(np.arange(len(classes)), [len(images) for _, images in classes])
        return files, labels.astype(np.int64)
    if not loose:
        raise AekitError(
            f"{root}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    return loose, None


def _images_in(folder: Path, recursive: bool) -> list[Path]:
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        p
        for p in candidates
        if p.suffix.lower() in IMAGE_SUFFIXES
        and p.is_file()
        and all(_visible(part) for part in p.relative_to(folder).parts)
    )


def _visible(path: Path | str) -> bool:
    """Hidden files and folders (.DS_Store, .ipynb_checkpoints) are not data."""
    return not str(getattr(path, "name", path)).startswith(".")


_GREY_MODES = frozenset({"1", "L", "LA"})
_DEEP_GREY_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})


def _read_image(file: Path) -> np.ndarray:
    """One image, (H, W) when grey, (H, W, 3) otherwise: bytes when it has 8 bits per
    channel, float32 in [0, 1] when 16."""
    from PIL import Image

    try:
        with Image.open(file) as image:
            return _decode(image, file)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise AekitError(f"{file}: cannot read image ({exc})") from None


def _decode(image: PIL.Image.Image, file: Path) -> np.ndarray:
    if image.mode in _GREY_MODES:
        return np.asarray(image.convert("L"))
    if image.mode in _DEEP_GREY_MODES:
        values = np.asarray(image, dtype=np.float32)
        if values.min() < 0 or values.max() > 65535:
            raise AekitError(f"{file}: {image.mode} image with values beyond 16 bits")
        return values / 65535.0
    if image.mode == "F":
        raise AekitError(f"{file}: floating-point images are not supported; save them as .npy")
    return np.asarray(image.convert("RGB"))


def _stack_images(pictures: list[np.ndarray]) -> np.ndarray:
    """(N, 1, H, W) when every picture is grey, else (N, 3, H, W); bytes unless some picture
    has 16 bits."""
    if any(p.dtype != np.uint8 for p in pictures):
        pictures = [unit_array(p) for p in pictures]
    if all(p.ndim == 2 for p in pictures):
        return np.stack(pictures)[:, None]
    colour = np.stack([p if p.ndim == 3 else np.repeat(p[..., None], 3, axis=2) for p in pictures])
    if (colour[..., 0] == colour[..., 1]).all() and (colour[..., 1] == colour[..., 2]).all():
        return np.ascontiguousarray(colour[..., 0])[:, None]
    return np.ascontiguousarray(colour.transpose(0, 3, 1, 2))
