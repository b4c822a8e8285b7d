"""Log-likelihood of VAEs: the importance-weighted estimate (Burda et al. 2015) and bits/dim.

The ELBO is only a lower bound on log p(x). With K posterior samples z_k ~ q(z|x),

    log p(x) ~= logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K

is a tighter bound whose expectation rises monotonically to log p(x) as K grows (K = 1 is the
ELBO; the literature reports K = 5000). The K samples are drawn in chunks of at most
``max_rows`` decoder inputs, which fixes the random numbers, and decoded ``DECODE_ROWS`` at a
time, which bounds memory: decoding all the rows at once multiplies a conv-vae's peak memory
and its time (benchmarks/RESULTS.md, "Page faults"). ``precision="bf16"`` runs the networks
under bf16 autocast, the weights' sums in float32 (benchmarks/RESULTS.md, "Likelihood
evaluation", measures its speed and the error it adds).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NoReturn

import torch

from aekit.config import MAX_SEED
from aekit.data.splits import Split
from aekit.errors import AekitError
from aekit.models.vae import VariationalAutoencoder
from aekit.training import internals
from aekit.training.distributed import World

if TYPE_CHECKING:
    from tqdm import tqdm

DEFAULT_MAX_ROWS = 16384  # posterior samples drawn per chunk (sets the random stream)
DECODE_ROWS = 512  # decoder inputs per forward pass (what sets the memory)
BLOCK = 64  # examples per block of the evaluator, each with its own seeded generator
PRECISIONS = ("fp32", "bf16")


@torch.no_grad()
def iwae_log_likelihood(
    model: VariationalAutoencoder,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    samples: int = 5000,
    generator: torch.Generator | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    progress: bool = False,
) -> torch.Tensor:
    """Per-example importance-weighted estimate of log p(x) (log p(x|y) for conditional
    models) in nats, from ``samples`` draws of the model's own posterior q(z|x), weighted by
    its own prior (``model.posterior_draws``)."""
    model.eval()
    per_pass = max(1, max_rows // min(samples, max_rows))
    starts = range(0, len(x), per_pass)
    bar = _bar(len(x), progress)
    results = []
    for i in starts:
        xb, yb = x[i : i + per_pass], None if y is None else y[i : i + per_pass]
        results.append(_iwae_batch(model, xb, yb, samples, generator, max_rows))
        if bar is not None:
            bar.update(len(xb))
    if bar is not None:
        bar.close()
    return torch.cat(results) if results else torch.empty(0)


def _bar(total: int, progress: bool, desc: str = "importance weighting") -> tqdm[NoReturn] | None:
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="example", leave=False)


def blockwise_log_likelihood(
    model: VariationalAutoencoder,
    x: torch.Tensor,
    y: torch.Tensor | None,
    samples: int,
    seed: int,
    world: World | None = None,
    progress: bool = False,
    precision: str = "fp32",
) -> torch.Tensor:
    """:func:`iwae_log_likelihood` over blocks of :data:`BLOCK` examples, block ``b`` drawing
    from a generator seeded by ``(seed, b)``: so the estimate is the same whether one process
    computes it or the ranks of a torchrun job share the blocks (every rank gets them all)."""
    cast = _autocast(model, precision)
    blocks = list(range(0, len(x), BLOCK))
    mine = blocks if world is None else list(world.take(blocks))
    share = "" if world is None else f" (rank {world.rank}: {len(mine)} of {len(blocks)} blocks)"
    bar = _bar(sum(len(x[i : i + BLOCK]) for i in mine), progress, "importance weighting" + share)
    log_px = torch.zeros(len(x), dtype=torch.float64)
    for start in mine:
        part = slice(start, start + BLOCK)
        generator = torch.Generator().manual_seed((seed * 1_000_003 + start) % MAX_SEED)
        labels = None if y is None else y[part]
        with cast:
            log_px[part] = iwae_log_likelihood(model, x[part], labels, samples, generator).double()
        if bar is not None:
            bar.update(len(x[part]))
    if bar is not None:
        bar.close()
    if world is not None:  # each position was filled by one rank, the others hold zeros
        log_px = torch.tensor(world.sum(log_px.tolist()), dtype=torch.float64)
    return log_px


def _autocast(model: VariationalAutoencoder, precision: str) -> torch.autocast:
    if precision not in PRECISIONS:
        raise AekitError(f"unknown precision {precision!r} for the IW estimate: one of fp32, bf16")
    device = next(model.parameters()).device.type
    if precision == "bf16" and device == "cpu":
        internals.warn_without_native_bf16("--iw-precision bf16")
    return torch.autocast(device, dtype=torch.bfloat16, enabled=precision == "bf16")


def _iwae_batch(
    model: VariationalAutoencoder,
    x: torch.Tensor,
    y: torch.Tensor | None,
    samples: int,
    generator: torch.Generator | None,
    max_rows: int,
) -> torch.Tensor:
    """log-mean-exp of the importance weights for a few examples, K samples in chunks; the
    sum over samples is taken in float64, where K = 5000 weights lose nothing."""
    n = len(x)
    chunk = max(1, min(samples, max_rows // n))
    log_weights = []
    for start in range(0, samples, chunk):
        k = min(chunk, samples - start)
        z, log_ratio = model.posterior_draws(x, y, k, generator)  # (n, k, d), (n, k)
        log_px_z = _decoded_log_likelihood(model, z, x, y)
        log_weights.append((log_px_z + log_ratio).double())
    return (torch.logsumexp(torch.cat(log_weights, dim=1), dim=1) - math.log(samples)).float()


def _decoded_log_likelihood(
    model: VariationalAutoencoder, z: torch.Tensor, x: torch.Tensor, y: torch.Tensor | None
) -> torch.Tensor:
    """log p(x|z) (n, k) for codes ``z`` shaped (n, k, code_dim), decoded about
    ``DECODE_ROWS`` rows at a time: slices of whole examples when k is smaller, else of one
    example's samples, so the model scores each slice against a broadcast view of its own
    examples (``draws_log_likelihood``) instead of a gathered copy of their pixels."""
    n, k = z.shape[:2]
    examples, samples = max(1, DECODE_ROWS // k), min(k, DECODE_ROWS)
    rows = []
    for e in range(0, n, examples):
        labels = None if y is None else y[e : e + examples]
        slices = [
            model.draws_log_likelihood(
                z[e : e + examples, s : s + samples], x[e : e + examples], labels
            )
            for s in range(0, k, samples)
        ]
        rows.append(torch.cat(slices, dim=1))
    return torch.cat(rows)


def bits_per_dim(nll_nats: float, dims: int) -> float:
    """Negative log-likelihood in nats per example -> bits per dimension."""
    return nll_nats / (dims * math.log(2))


def likelihood_metrics(
    model: VariationalAutoencoder,
    split: Split,
    samples: int,
    *,
    binarized: bool,
    seed: int = 0,
    progress: bool = False,
    world: World | None = None,
    precision: str = "fp32",
) -> dict[str, Any]:
    """``nll_iw`` (nats per example, with its standard error over examples) on ``split``;
    ``bits_per_dim`` too when the data is binary and the likelihood Bernoulli, the only case
    where the number compares with the literature's discrete-data results. Under torchrun
    (``world``) the ranks share the examples."""
    labels = split.y if model.conditional else None
    nll = -blockwise_log_likelihood(
        model, split.x, labels, samples, seed, world, progress, precision
    )
    metrics: dict[str, Any] = {
        "iw_samples": samples,
        "iw_precision": precision,
        "iw_examples": len(split),
        "nll_iw": nll.mean().item(),
        "nll_iw_stderr": (nll.std() / math.sqrt(len(nll))).item() if len(nll) > 1 else 0.0,
    }
    if binarized and model.recon_loss == "bce":
        metrics["bits_per_dim"] = bits_per_dim(metrics["nll_iw"], model.input_dim)
    return metrics
