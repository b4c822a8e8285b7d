"""The CUDA paths: batches crossing to the GPU, mixed precision (bf16; fp16 with its gradient
scaler), --compile, channels-last, the CUDA generator in checkpoints, exact resume, and DDP
with NCCL. Marked ``gpu``; they skip without a CUDA GPU (``benchmarks/gpu_check.sh`` runs them
with the GPU benchmark on a machine that has one: see DEVELOPERS.md)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors import safe_open

from aekit.config import DataConfig, RunConfig
from aekit.data.splits import prepare_data
from aekit.workflow import resume, train

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def config(model: str = "ae", epochs: int = 2, **train_options) -> RunConfig:
    options = {"ae": {"latent_dim": 8, "hidden": [64]}, "vae": {"latent_dim": 4, "hidden": [64]}}
    options |= {"conv-ae": {"channels": [8, 16]}, "conv-vae": {"latent_dim": 4}}
    return RunConfig.from_dict(
        {
            "model": {"name": model, **options[model]},
            "data": {"dataset": "mnist-5k", "limit": 1024},
            "train": {"epochs": epochs, "batch_size": 128, "device": "cuda", **train_options},
        }
    )


def curve(run) -> list[tuple[float, float]]:
    return [(row["train_loss"], row["val_loss"]) for row in run.history]


def test_a_mapped_file_crosses_to_the_gpu_as_bytes(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (300, 8, 8), dtype=np.uint8)
    np.save(tmp_path / "d.npy", x)
    split = prepare_data(DataConfig(dataset=str(tmp_path / "d.npy"))).train
    on_gpu = split.to(torch.device("cuda"))
    assert on_gpu.stored.device.type == "cpu"  # a memory map stays in host memory
    batch = on_gpu.batch(torch.arange(4), torch.device("cuda"))
    assert batch.is_cuda and batch.dtype == torch.float32
    assert torch.equal(batch.cpu(), split.subset(4).x)


def test_in_memory_bytes_move_to_the_gpu_once_and_convert_per_batch():
    split = prepare_data(DataConfig(dataset="mnist-5k", limit=256)).train
    on_gpu = split.to(torch.device("cuda"))
    assert on_gpu.stored.is_cuda
    batch = on_gpu.batch(torch.arange(8), torch.device("cuda"))
    assert torch.equal(batch.cpu(), split.x[:8])


def test_the_same_seed_gives_the_same_numbers_on_cuda():
    assert curve(train(config(seed=4))) == curve(train(config(seed=4)))


def test_a_resumed_cuda_run_ends_with_the_uninterrupted_weights(tmp_path):
    whole = train(config("vae", epochs=3), tmp_path / "whole", figures=False)
    part = train(config("vae", epochs=2), tmp_path / "part", figures=False)
    with safe_open(str(part.checkpoint_file), framework="pt") as handle:
        assert "rng/cuda" in set(handle.keys())  # the reparameterisation noise's generator
    resumed = resume(tmp_path / "part", epochs=3, figures=False)
    assert curve(resumed) == curve(whole)
    for (name, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_on_cuda(precision, tmp_path):
    run = train(config("conv-vae", epochs=3, precision=precision), tmp_path / "run")
    losses = [row["train_loss"] for row in run.history]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    state = json.loads(
        safe_open(str(run.checkpoint_file), framework="pt").metadata()["aekit_state"]
    )["trainer"]
    assert (state["grad_scaler"] is not None) == (precision == "fp16")
    resumed = resume(tmp_path / "run", epochs=4, figures=False)
    assert len(resumed.history) == 4 and np.isfinite(resumed.history[-1]["train_loss"])


def test_compile_on_cuda_trains_like_the_eager_step():
    eager = curve(train(config(epochs=2)))
    compiled = curve(train(config(epochs=2, compile=True)))
    np.testing.assert_allclose(compiled, eager, rtol=2e-3)


def test_conv_models_stay_channels_last_on_cuda(tmp_path):
    run = train(config("conv-ae", epochs=1), tmp_path / "run", figures=False)
    kernels = [p for p in run.model.parameters() if p.dim() == 4]
    assert kernels and all(p.is_contiguous(memory_format=torch.channels_last) for p in kernels)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="DDP with NCCL needs two GPUs")
def test_two_gpus_with_nccl_give_the_one_gpu_loss_curve(tmp_path):
    args = ["-m", "aekit", "train", "--quiet", "--no-progress-gif", "--device", "cuda"]
    args += ["--limit", "1024", "--batch-size", "128", "--epochs", "3"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, *args, "--out", "one"], cwd=tmp_path, env=env)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    two = subprocess.run(
        [*launch, "--master-port", port, *args, "--out", "two"], cwd=tmp_path, env=env
    )
    assert one.returncode == 0 and two.returncode == 0

    def rows(name):
        lines = (tmp_path / name / "metrics.jsonl").read_text().splitlines()
        return [(r["train_loss"], r["val_loss"]) for r in map(json.loads, lines)]

    np.testing.assert_allclose(rows("two"), rows("one"), rtol=1e-4)
