"""GPU throughput: aekit's trainer against the plain PyTorch loop on CUDA, and DDP scaling.

For S1's model (784-256-8 MLP, MSE, Adam 1e-3) and for ``conv-vae`` (aekit's defaults), at
batch 256 and 1024, on MNIST's 60,000 training digits:

- ``plain``: the loop a user writes: a ``DataLoader`` over the images in host memory
  (shuffled), each batch moved to the GPU, forward, loss, backward, Adam, around the same
  network (built by aekit and trained through its own loss, so only the loop differs);
- ``aekit``: ``aekit train --device cuda`` in fp32, and with ``--precision bf16``.

Training examples per second over epochs 2.. (epoch 1 warms up CUDA and cuDNN), with
``torch.cuda.synchronize`` around each timed epoch. With more than one GPU, the aekit rows are
also run under ``torchrun --nproc-per-node N`` (same global batch) for the scaling factor.

    python benchmarks/gpu_throughput.py --epochs 4 --out gpu_results.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from train_throughput import S1_MODEL  # benchmarks/ is on the path of its scripts

from aekit.config import DataConfig
from aekit.data import prepare_data
from aekit.models import build_model

MODELS = {"s1-ae": S1_MODEL, "conv-vae": {"name": "conv-vae"}}


def plain_loop(model_options: dict, batch_size: int, epochs: int, data_dir: str | None) -> float:
    """Examples per second of the user's loop around the same network (epochs 2..)."""
    data = prepare_data(DataConfig(dataset="mnist", data_dir=data_dir))
    x = data.train.x  # float32 in host memory, as a user's tensor would be
    torch.manual_seed(0)
    model = build_model(model_options, data.shape).cuda()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(x, batch_size=batch_size, shuffle=True)
    rates = []
    for epoch in range(epochs):
        torch.cuda.synchronize()
        start = time.perf_counter()
        for batch in loader:
            batch = batch.cuda(non_blocking=True)
            loss = model.loss_terms(batch, batch, None)["loss"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        torch.cuda.synchronize()
        if epoch:
            rates.append(len(x) / (time.perf_counter() - start))
    return max(rates)


def aekit_run(
    model_options: dict, batch_size: int, epochs: int, precision: str, data_dir, gpus: int
) -> float:
    """Examples per second of ``aekit train`` (epochs 2.., from metrics.jsonl's seconds,
    which include validation: a conservative figure)."""
    with tempfile.TemporaryDirectory() as tmp:
        config = {
            "model": model_options,
            "data": {"dataset": "mnist", "data_dir": data_dir},
            "train": {
                "epochs": epochs,
                "batch_size": batch_size,
                "device": "cuda",
                "precision": precision,
            },
        }
        path = Path(tmp) / "config.yaml"
        path.write_text(json.dumps(config))  # JSON is YAML
        command = ["-m", "aekit", "train", "--quiet", "--no-progress-gif", "--config", str(path)]
        command += ["--out", f"{tmp}/run"]
        if gpus > 1:
            command = ["-m", "torch.distributed.run", "--nproc-per-node", str(gpus), *command]
        subprocess.run([sys.executable, *command], check=True, env={**os.environ})
        rows = [json.loads(line) for line in (Path(tmp) / "run" / "metrics.jsonl").open()]
        data = prepare_data(DataConfig(dataset="mnist", data_dir=data_dir))
    return max(len(data.train) / row["seconds"] for row in rows[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="gpu_results.json")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU here: nothing measured")
    gpus = torch.cuda.device_count()
    results = {"device": torch.cuda.get_device_name(0), "gpus": gpus, "torch": torch.__version__}
    rows = []
    for name, options in MODELS.items():
        for batch in (256, 1024):
            row = {"model": name, "batch": batch}
            row["plain"] = plain_loop(options, batch, args.epochs, args.data_dir)
            for precision in ("fp32", "bf16"):
                row[f"aekit-{precision}"] = aekit_run(
                    options, batch, args.epochs, precision, args.data_dir, 1
                )
            if gpus > 1:
                row[f"aekit-fp32-{gpus}gpu"] = aekit_run(
                    options, batch, args.epochs, "fp32", args.data_dir, gpus
                )
            rows.append(row)
            print(json.dumps(row), flush=True)
    results["rows"] = rows
    Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
