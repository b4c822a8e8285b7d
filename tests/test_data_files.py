"""The user's own data by path: shapes, scaling, labels, and clean errors for bad files."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aekit.data.files import load_path
from aekit.data.raw import unit_array
from aekit.data.sources import load_source
from aekit.errors import AekitError


def save_npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def one_line_error(call, *match: str) -> str:
    """Run ``call``, expecting one AekitError line containing every ``match``."""
    with pytest.raises(AekitError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    for part in match:
        assert part in message, message
    return message


# --- .npz / .npy: shapes ---------------------------------------------------------------------


def test_uint8_grey_images_get_a_channel_and_exact_scaling(tmp_path):
    x = np.arange(6 * 4 * 5, dtype=np.uint8).reshape(6, 4, 5)
    raw = load_path(save_npz(tmp_path / "d.npz", x=x, y=np.arange(6) % 2))
    assert raw.x_train.shape == (6, 1, 4, 5) and raw.x_train.dtype == np.uint8  # kept as bytes
    np.testing.assert_array_equal(unit_array(raw.x_train)[:, 0], x.astype(np.float32) / 255)
    assert raw.y_train.dtype == np.int64
    np.testing.assert_array_equal(raw.y_train, np.arange(6) % 2)
    assert raw.x_test is None and raw.name == "d.npz"


def test_channels_last_colour_becomes_channels_first(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (3, 4, 5, 3), dtype=np.uint8)
    raw = load_path(save_npz(tmp_path / "c.npz", x=x))
    assert raw.x_train.shape == (3, 3, 4, 5)
    assert unit_array(raw.x_train)[1, 2, 3, 4] == np.float32(x[1, 3, 4, 2]) / 255
    assert raw.x_train.flags.c_contiguous


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((7, 10), (7, 10)),  # flat vectors stay flat
        ((7, 3, 4, 5), (7, 3, 4, 5)),  # channels first kept
        ((7, 1, 4, 5), (7, 1, 4, 5)),
        ((7, 4, 5, 1), (7, 1, 4, 5)),  # channels last, grey
        ((7, 6, 8), (7, 1, 6, 8)),  # (N, H, W) grey images
    ],
)
def test_layouts(tmp_path, shape, expected):
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    raw = load_path(save_npz(tmp_path / "a.npz", x=x))
    assert raw.x_train.shape == expected
    np.testing.assert_array_equal(np.sort(raw.x_train, axis=None), np.sort(x, axis=None))


def test_npy_is_one_unlabelled_array(tmp_path):
    x = np.random.default_rng(1).random((5, 9, 9))
    np.save(tmp_path / "a.npy", x)
    raw = load_path(tmp_path / "a.npy")
    assert raw.x_train.shape == (5, 1, 9, 9) and raw.y_train is None
    np.testing.assert_allclose(raw.x_train[:, 0], x.astype(np.float32))  # in [0, 1]: kept


def test_sequences_keep_their_shape_and_are_scaled_per_feature(tmp_path):
    rng = np.random.default_rng(2)
    x = np.stack([rng.uniform(-5, 5, (8, 20)), rng.uniform(100, 300, (8, 20))], axis=-1)
    raw = load_path(save_npz(tmp_path / "s.npz", x=x, kind="sequence"))
    assert raw.x_train.shape == (8, 20, 2)
    for feature in range(2):
        values = raw.x_train[..., feature]
        assert values.min() == 0.0 and values.max() == pytest.approx(1.0)
        low, high = x[..., feature].min(), x[..., feature].max()
        np.testing.assert_allclose(values, (x[..., feature] - low) / (high - low), atol=1e-6)


def test_without_kind_a_3d_array_is_images(tmp_path):
    raw = load_path(save_npz(tmp_path / "s.npz", x=np.zeros((4, 20, 2))))
    assert raw.x_train.shape == (4, 1, 20, 2)


# --- scaling -------------------------------------------------------------------------------


def test_values_in_unit_range_are_kept_exactly(tmp_path):
    x = np.random.default_rng(3).random((4, 6)).astype(np.float32)
    np.testing.assert_array_equal(load_path(save_npz(tmp_path / "u.npz", x=x)).x_train, x)


def test_other_ranges_are_min_max_scaled_over_the_whole_array(tmp_path):
    x = np.array([[-3.0, 0.0], [1.0, 5.0]])
    raw = load_path(save_npz(tmp_path / "r.npz", x=x))
    np.testing.assert_allclose(raw.x_train, (x + 3) / 8)
    ints = load_path(save_npz(tmp_path / "i.npz", x=np.array([[0, 100], [400, 50]])))
    np.testing.assert_allclose(ints.x_train, [[0, 0.25], [1, 0.125]])


def test_scaling_is_deterministic_and_shared_with_the_test_split(tmp_path):
    x, x_test = np.full((3, 2), 10.0), np.full((2, 2), 20.0)
    x[0, 0] = 0.0
    path = save_npz(tmp_path / "t.npz", x=x, y=[0, 1, 2], x_test=x_test, y_test=[2, 1])
    raw, again = load_path(path), load_path(path)
    np.testing.assert_array_equal(raw.x_train, again.x_train)
    assert raw.x_train.max() == 0.5 and raw.x_test.min() == 1.0
    np.testing.assert_array_equal(raw.y_test, [2, 1])


def test_booleans_become_zero_and_one(tmp_path):
    raw = load_path(save_npz(tmp_path / "b.npz", x=np.eye(3, dtype=bool)))
    np.testing.assert_array_equal(raw.x_train, np.eye(3, dtype=np.float32))


# --- labels --------------------------------------------------------------------------------


def test_integer_valued_float_labels_are_accepted(tmp_path):
    raw = load_path(save_npz(tmp_path / "f.npz", x=np.zeros((3, 2)), y=[[0.0], [2.0], [1.0]]))
    np.testing.assert_array_equal(raw.y_train, [0, 2, 1])


@pytest.mark.parametrize(
    ("y", "message"),
    [
        ([0.5, 1.0, 2.0], "must be integers"),
        (["cat", "dog", "cat"], "must be integers"),
        ([0, -1, 2], "non-negative"),
        ([0, 1], "there are 3 examples"),
        ([[0, 1], [1, 0], [0, 1]], "there are 3 examples"),
        ([0.0, np.nan, 1.0], "must be integers"),
    ],
)
def test_bad_labels(tmp_path, y, message):
    path = save_npz(tmp_path / "l.npz", x=np.zeros((3, 2)), y=np.array(y))
    one_line_error(lambda: load_path(path), str(path), message)


# --- bad arrays and files ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": np.array([[0.0, np.nan]])}, "1 NaN or infinite values"),
        ({"x": np.array([[np.inf, 0.0], [1.0, 2.0]])}, "NaN or infinite"),
        ({"x": np.zeros((0, 5))}, "empty"),
        ({"x": np.zeros(5)}, "expected (N, D) vectors"),
        ({"x": np.zeros((2, 3, 4, 5, 6))}, "expected (N, D) vectors"),
        ({"x": np.zeros((2, 5, 4, 4))}, "C = 1 or 3"),
        ({"x": np.array([["a", "b"]])}, "expected real numbers"),
        ({"x": np.ones((2, 2), dtype=complex)}, "expected real numbers"),
        ({"images": np.zeros((2, 2))}, "found images"),
        ({"arr_0": np.zeros((2, 2))}, "np.savez(path, x=inputs, y=labels)"),
        ({"x": np.zeros((2, 2)), "extra": np.zeros(2)}, "found extra, x"),
        ({"x": np.zeros((2, 2)), "kind": "movie"}, "bad kind 'movie'"),
        ({"x": np.zeros((2, 2)), "kind": "sequence"}, "needs x shaped (N, T, F)"),
        ({"x": np.zeros((2, 2)), "x_test": np.zeros((2, 3))}, "x_test examples are shaped"),
        ({"x": np.zeros((2, 2)), "y": [0, 1], "x_test": np.zeros((2, 2))}, "y_test must"),
    ],
)
def test_bad_npz_contents(tmp_path, arrays, message):
    path = save_npz(tmp_path / "bad.npz", **arrays)
    one_line_error(lambda: load_path(path), str(path), message)


class _Trap:
    """Unpickling this calls ``open(marker, "w")``: proof that a file was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickled_object_arrays_are_refused_not_unpickled(tmp_path):
    marker = tmp_path / "unpickled"
    x = np.empty(2, dtype=object)
    x[:] = [_Trap(marker), _Trap(marker)]
    path = save_npz(tmp_path / "evil.npz", x=x)
    one_line_error(lambda: load_path(path), str(path), "never loads")
    assert not marker.exists()


def test_a_pickle_named_npy_is_refused_not_unpickled(tmp_path):
    marker = tmp_path / "unpickled"
    path = tmp_path / "evil.npy"
    path.write_bytes(pickle.dumps(_Trap(marker)))
    one_line_error(lambda: load_path(path), str(path), "never loads")
    assert not marker.exists()


def test_truncated_files(tmp_path):
    rng = np.random.default_rng(4)
    npz = save_npz(tmp_path / "t.npz", x=rng.random((50, 30)), y=np.arange(50) % 3)
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    one_line_error(lambda: load_path(npz), str(npz), "cannot read NumPy file")
    npy = tmp_path / "t.npy"
    np.save(npy, rng.random((50, 30)))
    npy.write_bytes(npy.read_bytes()[:-100])
    one_line_error(lambda: load_path(npy), str(npy))
    empty = tmp_path / "e.npz"
    empty.write_bytes(b"")
    one_line_error(lambda: load_path(empty), str(empty))


def test_damaged_files_never_escape_as_other_errors(tmp_path):
    """Damage every byte of the .npy header and of every zip structure (found by exhaustive
    fuzzing: zipfile, zlib and numpy's header parser raise many exception types): the result
    is a clean error naming the file, or valid data."""
    rng = np.random.default_rng(5)
    stored = save_npz(tmp_path / "s.npz", x=rng.random((2, 3)), y=np.arange(2))
    packed = tmp_path / "p.npz"
    np.savez_compressed(packed, x=rng.random((2, 3)), y=np.arange(2))
    single = tmp_path / "a.npy"
    np.save(single, rng.random((2, 3)))
    for source in (stored, packed, single):
        good = source.read_bytes()
        for position in range(len(good)) if source != single else range(128):
            for flip in (0xFF,):
                damaged = bytearray(good)
                damaged[position] ^= flip
                path = tmp_path / f"damaged{source.suffix}"
                path.write_bytes(bytes(damaged))
                try:
                    raw = load_path(path)
                except AekitError as exc:
                    assert str(exc).startswith(str(path)) and "\n" not in str(exc)
                else:
                    assert raw.x_train.min() >= 0 and raw.x_train.max() <= 1


def test_unsupported_and_missing_paths(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    one_line_error(lambda: load_source(str(text)), "unsupported file type '.txt'", ".npz")
    one_line_error(lambda: load_source(str(tmp_path / "nope.npz")), "data file not found")
    one_line_error(lambda: load_source("mnistt"), "unknown dataset 'mnistt'", "mnist-5k")


# --- .csv ----------------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_csv_with_header_and_label_column(tmp_path):
    path = write(tmp_path / "d.csv", "a,label,b\n0,1,10\n5,0,20\n10,2,30\n")
    raw = load_path(path)
    np.testing.assert_array_equal(raw.y_train, [1, 0, 2])
    np.testing.assert_allclose(raw.x_train, [[0, 0], [0.5, 0.5], [1, 1]])  # per column
    assert raw.x_train.dtype == np.float32


def test_csv_without_header_and_constant_column(tmp_path):
    raw = load_path(write(tmp_path / "d.csv", "1,7,0.5\n3,7,0.25\n"))
    assert raw.y_train is None
    np.testing.assert_allclose(raw.x_train, [[0, 0, 1], [1, 0, 0]])


def test_csv_in_unit_range_is_kept_and_y_column_and_bom(tmp_path):
    raw = load_path(write(tmp_path / "d.csv", '\ufeff"x1","Y"\n0.25,3\n0.5,1\n'))
    np.testing.assert_array_equal(raw.x_train, [[0.25], [0.5]])
    np.testing.assert_array_equal(raw.y_train, [3, 1])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b\n1,2\n3,abc\n", "line 3, column 2: 'abc' is not a number"),
        ("a,b\n1,2\n\n3\n", "line 4 has 1 values but the first data row has 2"),
        ("1,2\n3,\n", "line 2, column 2: '' is not a number"),
        ("1,2\n#3,4\n", "line 2, column 1: '#3' is not a number"),
        ("", "no data rows"),
        ("a,b,label\n", "no data rows"),
        ("a,b\n1,nan\n", "NaN or infinite"),
        ("a,label\n1,0.5\n", "labels label must be integers"),
        ("label\n1\n", "no feature columns"),
        ("label,y\n1,2\n", "more than one label column"),
    ],
)
def test_bad_csv(tmp_path, text, message):
    path = write(tmp_path / "bad.csv", text)
    one_line_error(lambda: load_path(path), str(path), message)


def test_binary_file_named_csv(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"\xff\xfe\x00\x81" * 10)
    one_line_error(lambda: load_path(path), str(path))


# --- folder of images ----------------------------------------------------------------------


def save_image(path: Path, pixels: np.ndarray, mode: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, mode).save(path) if mode else Image.fromarray(pixels).save(path)


def grey(value: int, size=(4, 6)) -> np.ndarray:
    return np.full(size, value, dtype=np.uint8)


def test_folder_of_grey_images_without_classes(tmp_path):
    for i in range(3):
        save_image(tmp_path / "imgs" / f"{i}.png", grey(50 * i))
    (tmp_path / "imgs" / "README.txt").write_text("not an image")
    save_image(tmp_path / "imgs" / ".hidden.png", grey(255, (9, 9)))
    raw = load_path(tmp_path / "imgs")
    assert raw.x_train.shape == (3, 1, 4, 6) and raw.y_train is None
    np.testing.assert_array_equal(raw.x_train[:, 0, 0, 0], [0, 50, 100])  # bytes, as read


def test_sub_folders_are_classes_in_sorted_order(tmp_path):
    root = tmp_path / "set"
    for name, value in (("zebra", 30), ("ant", 10), ("cat", 20)):
        for i in range(2):
            save_image(root / name / f"{i}.png", grey(value))
    save_image(root / "cat" / "nested" / "x.png", grey(20))
    (root / "empty").mkdir()
    save_image(root / ".ipynb_checkpoints" / "0.png", grey(99))
    raw = load_path(root)
    np.testing.assert_array_equal(raw.y_train, [0, 0, 1, 1, 1, 2, 2])
    np.testing.assert_array_equal(raw.x_train[:, 0, 0, 0], [10, 10, 20, 20, 20, 30, 30])


def test_colour_images_and_grey_detection(tmp_path):
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[..., 0] = 255
    save_image(tmp_path / "colour" / "a.png", rgb)
    save_image(tmp_path / "colour" / "b.png", grey(128))  # grey among colour: 3 channels
    raw = load_path(tmp_path / "colour")
    assert raw.x_train.shape == (2, 3, 4, 6)
    np.testing.assert_array_equal(raw.x_train[0, :, 0, 0], [255, 0, 0])
    np.testing.assert_array_equal(raw.x_train[1, :, 0, 0], [128] * 3)
    # RGB files whose channels are all equal are grey images.
    save_image(tmp_path / "grey-rgb" / "a.png", np.repeat(grey(64)[..., None], 3, axis=2))
    save_image(tmp_path / "grey-rgb" / "b.jpg", grey(64))
    assert load_path(tmp_path / "grey-rgb").x_train.shape == (2, 1, 4, 6)


def test_sixteen_bit_images(tmp_path):
    save_image(tmp_path / "deep" / "a.png", np.full((3, 3), 65535, np.uint16))
    save_image(tmp_path / "deep" / "b.png", np.full((3, 3), 4096, np.uint16))
    raw = load_path(tmp_path / "deep")
    np.testing.assert_allclose(raw.x_train[:, 0, 0, 0], [1.0, 4096 / 65535])


def test_image_folder_errors(tmp_path):
    save_image(tmp_path / "sizes" / "a.png", grey(1))
    save_image(tmp_path / "sizes" / "b.png", grey(1, (5, 6)))
    one_line_error(
        lambda: load_path(tmp_path / "sizes"), "b.png: image is 6x5", "a.png is 6x4", "same size"
    )
    save_image(tmp_path / "broken" / "a.png", grey(1))
    good = (tmp_path / "broken" / "a.png").read_bytes()
    (tmp_path / "broken" / "b.png").write_bytes(good[: len(good) // 2])
    one_line_error(lambda: load_path(tmp_path / "broken"), "b.png: cannot read image")
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "a.txt").write_text("x")
    one_line_error(lambda: load_path(tmp_path / "none"), "no images found")
    save_image(tmp_path / "mixed" / "loose.png", grey(1))
    save_image(tmp_path / "mixed" / "class" / "a.png", grey(1))
    one_line_error(lambda: load_path(tmp_path / "mixed"), "both images (loose.png)")


def test_zip_that_is_not_numpy(tmp_path):
    path = tmp_path / "z.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", b"this is not an array")
    one_line_error(lambda: load_path(path), str(path))
