"""Training throughput: aekit's trainer against the plain PyTorch loop of the S1 article.

Both train S1's model (784-256-8, ReLU everywhere, sigmoid output, MSE, Adam 1e-3) on the same
data with the same batch size for the same number of epochs, in one process, one after the
other; the table reports samples per second and the ratio. A third row uses aekit's opt-in
bf16 mixed precision, and its final loss is compared with fp32's. Peak resident memory of
`aekit train` on the full 60,000-image MNIST is measured in a separate process.

    python benchmarks/train_throughput.py --data-dir ../shared/data --epochs 3
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time

import torch
from torch import nn, optim

from aekit.config import RunConfig
from aekit.data import prepare_data
from aekit.training.run import build_trainer


class ArticleAutoEncoder(nn.Module):
    """S1's model exactly as the article writes it."""

    def __init__(self, num_hidden: int = 8) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, num_hidden), nn.ReLU()
        )
        self.decoder = nn.Sequential(
            nn.Linear(num_hidden, 256), nn.ReLU(), nn.Linear(256, 784), nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        encoded = self.encoder(x)
        return encoded, self.decoder(encoded)


def plain_loop(
    x_train: torch.Tensor, epochs: int, batch_size: int, seed: int
) -> tuple[float, float]:
    """The S1 article's training loop; returns (seconds, last epoch's mean loss)."""
    torch.manual_seed(seed)
    model = ArticleAutoEncoder()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.MSELoss()
    loader = torch.utils.data.DataLoader(x_train, batch_size=batch_size, shuffle=True)
    start = time.perf_counter()
    for _ in range(epochs):
        total = 0.0
        for data in loader:
            _, decoded = model(data)
            loss = criterion(decoded, data)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * data.size(0)
    return time.perf_counter() - start, total / len(x_train)


def aekit_config(args: argparse.Namespace, precision: str) -> RunConfig:
    return RunConfig.from_dict(
        {
            "model": {
                "name": "ae",
                "latent_dim": 8,
                "hidden": [256],
                "activation": "relu",
                "code_activation": "relu",
                "recon_loss": "mse",
            },
            "data": {"dataset": args.dataset, "data_dir": args.data_dir, "validation": "test"},
            "train": {
                "epochs": args.epochs,
                "batch_size": args.batch_size,
                "lr": 1e-3,
                "precision": precision,
                "seed": args.seed,
                "device": "cpu",
            },
        }
    )


def aekit_loop(args: argparse.Namespace, precision: str, data) -> tuple[float, float]:
    """aekit's trainer on the same data; returns (seconds, last epoch's mean train loss)."""
    trainer = build_trainer(aekit_config(args, precision), data, run=None)
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        metrics = trainer.train_epoch(data.train.x, data.train.y, epoch)
    return time.perf_counter() - start, metrics["train_loss"]


def peak_memory_mib(args: argparse.Namespace) -> float:
    """Peak RSS of a real `aekit train` on the full data set, in a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "aekit",
            "train",
            "--quiet",
            "--dataset",
            args.dataset,
            "--epochs",
            "1",
            "--hidden",
            "256",
            "--latent-dim",
            "8",
            "--out",
            f"{tmp}/run",
        ]
        if args.data_dir:
            cmd += ["--data-dir", args.data_dir]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    data = prepare_data(aekit_config(args, "fp32").data)
    x_flat = data.train.x.reshape(len(data.train.x), -1)
    n = len(x_flat) * args.epochs
    rows = [
        (
            "plain PyTorch loop (S1 article)",
            *plain_loop(x_flat, args.epochs, args.batch_size, args.seed),
        )
    ]
    rows.append(("aekit Trainer, fp32", *aekit_loop(args, "fp32", data)))
    rows.append(("aekit Trainer, --precision bf16", *aekit_loop(args, "bf16", data)))
    base = rows[0][1]
    print(
        f"{len(x_flat)} examples x {args.epochs} epochs, batch {args.batch_size}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    print(f"| {'loop':<34} | {'samples/s':>10} | {'speed-up':>8} | {'final loss':>10} |")
    print(f"|{'-' * 36}|{'-' * 12}|{'-' * 10}|{'-' * 12}|")
    for name, seconds, loss in rows:
        print(f"| {name:<34} | {n / seconds:>10.0f} | {base / seconds:>7.2f}x | {loss:>10.5f} |")
    fp32_loss, bf16_loss = rows[1][2], rows[2][2]
    print(f"bf16 final loss vs fp32: {100 * (bf16_loss - fp32_loss) / fp32_loss:+.2f}%")
    print(f"peak RSS of `aekit train` on {args.dataset}: {peak_memory_mib(args):.0f} MiB")


if __name__ == "__main__":
    main()
