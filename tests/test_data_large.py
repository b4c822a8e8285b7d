"""Data larger than memory: bytes stay bytes until a batch, and a .npy file is memory-mapped
and split by row indices, with the numbers of the same data held in memory."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from aekit.config import DataConfig, RunConfig
from aekit.data.files import ImageFiles
from aekit.data.sources import load_source
from aekit.data.splits import prepare_data
from aekit.data.transforms import binarize_static
from aekit.errors import AekitError
from aekit.workflow import train


@pytest.fixture
def digits_bytes(tmp_path):
    """600 random 8-bit 'images' as .npy (mapped) and .npz (read into memory)."""
    x = np.random.default_rng(0).integers(0, 256, (600, 12, 12), dtype=np.uint8)
    np.save(tmp_path / "d.npy", x)
    np.savez(tmp_path / "d.npz", x=x)
    return x, tmp_path / "d.npy", tmp_path / "d.npz"


def test_a_npy_file_is_memory_mapped_and_split_without_a_copy(digits_bytes):
    x, npy, _ = digits_bytes
    raw = load_source(str(npy))
    assert isinstance(raw.x_train, np.memmap) and raw.x_train.dtype == np.uint8
    data = prepare_data(DataConfig(dataset=str(npy)))
    train = data.train
    assert train.mapped and train.index is not None and train.stored.dtype == torch.uint8
    assert len(train.stored) == len(x)  # the whole file, named by indices, not copied out
    rows = train.index[:5].numpy()
    expected = torch.from_numpy(x[rows][:, None].astype(np.float32) / 255)
    assert torch.equal(train.subset(5).x, expected)
    batch = train.batch(torch.tensor([0, 3]), torch.device("cpu"))
    assert batch.dtype == torch.float32 and torch.equal(batch, expected[[0, 3]])


def test_8_bit_data_in_memory_is_kept_as_bytes(digits_bytes):
    *_, npz = digits_bytes
    data = prepare_data(DataConfig(dataset=str(npz)))
    assert not data.train.mapped and data.train.stored.dtype == torch.uint8
    assert data.train.x.dtype == torch.float32 and float(data.train.x.max()) <= 1.0


def test_the_same_split_whether_mapped_or_in_memory(digits_bytes):
    _, npy, npz = digits_bytes
    mapped, held = (prepare_data(DataConfig(dataset=str(p))) for p in (npy, npz))
    for a, b in ((mapped.train, held.train), (mapped.val, held.val), (mapped.test, held.test)):
        assert torch.equal(a.x, b.x)


def test_static_binarization_keeps_bytes_and_the_threshold(digits_bytes):
    *_, npz = digits_bytes
    binary = prepare_data(DataConfig(dataset=str(npz), binarize="static")).train
    plain = prepare_data(DataConfig(dataset=str(npz))).train
    assert binary.stored.dtype == torch.uint8
    assert torch.equal(binary.x, binarize_static(plain.x))


def test_static_binarization_of_a_mapped_file_keeps_it_on_disk(digits_bytes):
    _, npy, npz = digits_bytes
    mapped = prepare_data(DataConfig(dataset=str(npy), binarize="static")).train
    held = prepare_data(DataConfig(dataset=str(npz), binarize="static")).train
    assert mapped.mapped and mapped.thresholded and len(mapped.stored) == 600
    assert torch.equal(mapped.x, held.x)
    assert torch.equal(mapped.batch(torch.arange(7), torch.device("cpu")), held.x[:7])


def test_training_on_a_mapped_file_gives_the_in_memory_numbers(digits_bytes, tmp_path):
    _, npy, npz = digits_bytes
    curves = []
    for path in (npy, npz):
        config = RunConfig.from_dict(
            {
                "model": {"name": "ae", "latent_dim": 4, "hidden": [16]},
                "data": {"dataset": str(path)},
                "train": {"epochs": 2, "batch_size": 32, "device": "cpu"},
            }
        )
        run = train(config, tmp_path / path.suffix[1:], figures=False)
        rows = [json.loads(line) for line in run.metrics_file.read_text().splitlines()]
        curves.append([(row["train_loss"], row["val_loss"]) for row in rows])
    assert curves[0] == curves[1]


# -- a folder of images streamed from disk ---------------------------------------------------
@pytest.fixture
def image_folder(tmp_path):
    """160 8-bit images in two class folders, grey in one and colour in the other."""
    from PIL import Image

    rng = np.random.default_rng(1)
    for i in range(160):
        cls = i % 2
        pixels = rng.integers(0, 256, (10, 12, 3) if cls else (10, 12), dtype=np.uint8)
        folder = tmp_path / "images" / f"class{cls}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    return tmp_path / "images"


def folder_config(folder, stream: bool, **train) -> RunConfig:
    return RunConfig.from_dict(
        {
            "model": {"name": "ae", "latent_dim": 4, "hidden": [16]},
            "data": {"dataset": str(folder), "stream": stream, "workers": 1},
            "train": {"epochs": 2, "batch_size": 32, "device": "cpu", **train},
        }
    )


def test_a_streamed_folder_holds_the_images_it_would_read_into_memory(image_folder):
    streamed = prepare_data(folder_config(image_folder, True).data)
    held = prepare_data(folder_config(image_folder, False).data)
    assert isinstance(streamed.train.stored, ImageFiles) and streamed.shape == (3, 10, 12)
    assert streamed.shape == held.shape
    for a, b in ((streamed.train, held.train), (streamed.test, held.test)):
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)


def test_a_small_folder_is_read_into_memory_unless_asked_to_stream(image_folder):
    assert not prepare_data(DataConfig(dataset=str(image_folder))).train.mapped


def test_training_on_a_streamed_folder_gives_the_in_memory_numbers(image_folder, tmp_path):
    curves = []
    for stream in (True, False):
        run = train(folder_config(image_folder, stream), tmp_path / str(stream), figures=False)
        curves.append([(row["train_loss"], row["val_loss"]) for row in run.history])
    assert curves[0] == curves[1]


def test_streaming_shows_a_bar_counting_examples(image_folder, tmp_path):
    args = ["train", "--dataset", str(image_folder), "--set", "data.stream=true"]
    args += ["--epochs", "1", "--no-progress-gif", "--out", str(tmp_path / "run")]
    done = subprocess.run(
        [sys.executable, "-m", "aekit", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "reading image headers" in done.stderr and "example/s" in done.stderr


def test_a_16_bit_image_cannot_stream(image_folder):
    from PIL import Image

    deep = np.full((10, 12), 40000, dtype=np.uint16)
    Image.fromarray(deep).save(image_folder / "class0" / "deep.png")
    with pytest.raises(AekitError, match=r"cannot be streamed .*data\.stream=false"):
        prepare_data(folder_config(image_folder, True).data)


def test_a_streamed_image_of_another_size_is_one_error(image_folder):
    from PIL import Image

    Image.fromarray(np.zeros((5, 5), np.uint8)).save(image_folder / "class1" / "small.png")
    with pytest.raises(AekitError, match="all images must have the same size"):
        prepare_data(folder_config(image_folder, True).data)
