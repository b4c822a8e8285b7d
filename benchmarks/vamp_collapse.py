"""Why the VampPrior stays collapsed in Burda et al.'s tanh network: the first 600 Adam steps
of a VAE and of a VampPrior VAE on MNIST, watched.

    PYTHONPATH=src python benchmarks/vamp_collapse.py --data-dir ../shared/data

For each of ``vae`` (tanh), ``vamp`` (tanh) and ``vamp`` (ReLU), all with 784-200-200-50,
Adam 1e-3 and batches of 100 statically binarized digits, the same batches for all: every
100 steps the batch's reconstruction term and KL (nats), the gradient norm the
reconstruction term sends to the encoder's first layer, the mean norm of the posterior means
and the share of the last hidden layer's tanh units saturated (|h| > 0.99) on the batch.
Results and the reading of them: benchmarks/RESULTS.md, "Likelihood zoo".
"""

from __future__ import annotations

import argparse
import os

import torch

from aekit.config import DataConfig
from aekit.data.splits import prepare_data
from aekit.models import build_model

CASES = [("vae", "tanh"), ("vamp", "tanh"), ("vamp", "relu")]
STEPS, EVERY = 600, 100


def watch(name: str, activation: str, x: torch.Tensor) -> None:
    torch.manual_seed(0)
    spec = {"name": name, "latent_dim": 50, "hidden": [200, 200], "activation": activation}
    model = build_model(spec, tuple(x.shape[1:]))
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    first = model.encoder[0]
    batches = torch.Generator().manual_seed(1)
    print(f"\n{name} ({activation})")
    print("| step | recon | KL | recon gradient, encoder layer 1 | mean norm | saturated |")
    print("|---|---|---|---|---|---|")
    for step in range(1, STEPS + 1):
        batch = x[torch.randint(len(x), (100,), generator=batches)]
        terms = model.loss_terms(batch, batch)
        if step == 1 or step % EVERY == 0:
            grad = torch.autograd.grad(terms["recon"], first.weight, retain_graph=True)[0]
            with torch.no_grad():
                mean, _ = model.encode_dist(batch)
                hidden = model.encoder(batch.flatten(1))  # the last hidden layer, activated
                saturated = (hidden.abs() > 0.99).float().mean() if activation == "tanh" else 0
            print(
                f"| {step} | {terms['recon'].item():.1f} | {terms['kl'].item():.2f} | "
                f"{grad.norm().item():.3g} | {mean.norm(dim=1).mean().item():.2f} | "
                f"{float(saturated):.0%} |",
                flush=True,
            )
        optimizer.zero_grad()
        terms["loss"].backward()
        optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("AEKIT_DATA_DIR"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = prepare_data(DataConfig(dataset="mnist", data_dir=args.data_dir, binarize="static"))
    for name, activation in CASES:
        watch(name, activation, data.train.x)


if __name__ == "__main__":
    main()
