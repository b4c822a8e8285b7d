"""Reconstruction and ELBO metrics on a data split."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from aekit.data.splits import Split
from aekit.models.base import Autoencoder
from aekit.models.vae import VariationalAutoencoder
from aekit.runs.inference import labels_for

PSNR_CAP_DB = 100.0  # a perfect reconstruction's PSNR is infinite; cap it so the mean stays finite


@torch.no_grad()
def evaluate_model(
    model: Autoencoder, split: Split, batch_size: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Per-pixel MSE and BCE of reconstructions in data space, mean PSNR per image, and the
    ELBO (nats/example, one posterior sample) for VAEs.

    ``recon_bce`` is the mean binary cross-entropy per element, the number Keras prints as
    ``val_loss`` for a sigmoid/BCE autoencoder, so results compare directly with S19-S21.
    A multinomial model (a recommender's item vectors, where pixel errors mean nothing) gets
    ``recon_nll`` instead: its negative log-likelihood per example, in nats.
    """
    if model.recon_loss == "multinomial":
        return _multinomial_metrics(model, split, batch_size, seed)
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device).manual_seed(seed)
    sums = {"recon_mse": 0.0, "recon_bce": 0.0, "psnr": 0.0, "elbo": 0.0}
    n = len(split)
    labels = labels_for(model, split.y)
    for i in range(0, n, batch_size):
        x = split.batch(torch.arange(i, min(i + batch_size, n)), device)
        y = None if labels is None else labels[i : i + batch_size].to(device)
        out = model(x, y)
        recon = model.to_data(out).clamp(0.0, 1.0)
        sums["recon_mse"] += F.mse_loss(recon, x, reduction="sum").item()
        sums["recon_bce"] += _bce_sum(model, out, recon, x)
        sums["psnr"] += psnr(recon, x).sum().item()
        if model.variational:
            assert isinstance(model, VariationalAutoencoder), "only a VAE has an ELBO"
            sums["elbo"] += model.elbo(x, x, y, generator=generator).sum().item()
    elements = n * model.input_dim
    metrics: dict[str, Any] = {
        "examples": n,
        "recon_mse": sums["recon_mse"] / elements,
        "recon_bce": sums["recon_bce"] / elements,
        "psnr": sums["psnr"] / n,
    }
    if model.variational:
        metrics["elbo"] = sums["elbo"] / n
    return metrics


@torch.no_grad()
def _multinomial_metrics(
    model: Autoencoder, split: Split, batch_size: int, seed: int
) -> dict[str, Any]:
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device).manual_seed(seed)
    nll = elbo = 0.0
    for i in range(0, len(split), batch_size):
        x = split.batch(torch.arange(i, min(i + batch_size, len(split))), device)
        nll += model.reconstruction_error(model(x), x).sum().item()
        if model.variational:
            assert isinstance(model, VariationalAutoencoder), "only a VAE has an ELBO"
            elbo += model.elbo(x, x, generator=generator).sum().item()
    metrics: dict[str, Any] = {"examples": len(split), "recon_nll": nll / len(split)}
    if model.variational:
        metrics["elbo"] = elbo / len(split)
    return metrics


def pooled_psnr(estimate: torch.Tensor, reference: torch.Tensor) -> float:
    """PSNR in dB over a whole set, ``10 log10(1 / MSE)`` with the MSE pooled over every value
    of every example (data in [0, 1]): the denoising figure's and ``aekit denoise``'s number,
    which a single perfect image cannot make infinite."""
    mse = float((estimate.double() - reference.double()).square().mean())
    return math.inf if mse == 0 else -10.0 * math.log10(mse)


def psnr(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio per image in dB, ``10 log10(1 / MSE_i)`` for data in [0, 1].

    Computed per image and then averaged (the convention of image-compression papers), so a
    few perfect images cannot dominate; each is capped at ``PSNR_CAP_DB``.
    """
    mse = (recon - target).square().flatten(1).mean(1)
    return (-10.0 * torch.log10(mse)).clamp(max=PSNR_CAP_DB)


def _bce_sum(model: Autoencoder, out: torch.Tensor, recon: torch.Tensor, x: torch.Tensor) -> float:
    """From logits when the decoder has a sigmoid output (exact), else from clipped means."""
    if model.output == "sigmoid":
        return F.binary_cross_entropy_with_logits(out, x, reduction="sum").item()
    p = recon.clamp(1e-7, 1 - 1e-7)
    return -(x * p.log() + (1 - x) * (1 - p).log()).sum().item()
