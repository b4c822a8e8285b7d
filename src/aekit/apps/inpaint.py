"""Inpainting: a trained model fills the hidden pixels of inputs from the known ones.

A deterministic autoencoder iterates reconstruct-and-keep-the-known-pixels, starting from the
training mean image. A VAE runs Markov chains on the hidden pixels, as in Mattei & Frellsen
2018 ("Leveraging the exact likelihood of deep latent variable models", NeurIPS):

- *pseudo-Gibbs* (Rezende et al. 2014) draws z ~ q(z | current completion), then the hidden
  pixels from p(x | z);
- *Metropolis-within-Gibbs* makes that z draw an independence proposal, accepted with the
  ratio of p(x, z) / q(z | x) between the proposal and the chain's z, so the chain targets the
  model's exact conditional p(x_hidden | x_known). It needs q(z|x) at any z, so it is offered
  where the posterior is the encoder's Gaussian (flows and the two-layer VAE get pseudo-Gibbs).

Where aekit differs from the paper: a Gaussian (MSE) model's hidden pixels are set to the
decoder's mean rather than drawn (its unit variance is no noise model of pixels in [0, 1]);
a chain's completion is the decoder's mean of the hidden pixels averaged over its second half
(Rao-Blackwellised), and ``samples`` chains give that many completions, whose mean is the one
scored. Errors are measured on the hidden pixels only, beside three baselines on the same
masks: the mean training image, the nearest training example on the known pixels, a PCA
projection fitted to the known pixels, and the conditional mean under a Gaussian with the
training data's covariance (the best linear completion, a strong baseline on digits).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from aekit.data.batches import iterate
from aekit.errors import AekitError
from aekit.models.base import Autoencoder
from aekit.models.vae import VariationalAutoencoder, gaussian_draws, log_normal
from aekit.runs.inference import BATCH, labels_for

if TYPE_CHECKING:
    from matplotlib.figure import Figure

METHODS = ("auto", "iterate", "pseudo-gibbs", "metropolis")
DEFAULT_ITERATIONS = {"iterate": 30, "pseudo-gibbs": 200, "metropolis": 200}
MAX_PCA_COMPONENTS = 100
MAX_GAUSSIAN_DIM = 4096  # its covariance grows as the square of the input's size
FIT_EXAMPLES = 10_000  # training examples the PCA and the Gaussian are fitted to
HIDDEN_SHADE = 0.5  # how hidden pixels look in the figure's masked row


@dataclass
class Completion:
    """What :func:`inpaint` returns: the completion it scores and each chain's own."""

    filled: torch.Tensor  # (n, *shape): known pixels as given, hidden ones filled
    samples: torch.Tensor  # (n, samples, *shape): each chain's completion
    method: str
    iterations: int
    acceptance: float | None = None  # Metropolis-within-Gibbs: share of proposals accepted


# -- masks ---------------------------------------------------------------------------------
def make_mask(spec: str, shape: tuple[int, ...], n: int, seed: int = 0) -> torch.Tensor:
    """Boolean (n, *shape), True where a pixel is hidden, from ``center:SIZE`` (a centred
    square), ``random:P`` (each pixel with probability P, seeded), ``rows:A-B`` (rows A to B,
    counted from 0, both included) or ``FILE.npy`` (1 = hidden; one mask for every input, or
    one per input)."""
    kind, _, arg = spec.partition(":")
    if spec.endswith(".npy"):
        mask = _file_mask(Path(spec), shape, n)
    elif kind == "random":
        mask = _random_mask(_fraction(arg, spec), shape, n, seed)
    elif kind in ("center", "rows"):
        mask = torch.zeros(n, *shape, dtype=torch.bool)
        height, width = _image_size(shape, spec)
        rows, cols = _square(arg, height, width, spec) if kind == "center" else _rows(arg, height)
        mask[..., rows, cols] = True
    else:
        raise AekitError(f"bad --mask {spec!r}: use center:SIZE, random:P, rows:A-B or FILE.npy")
    check_mask(mask)
    return mask


def check_mask(mask: torch.Tensor) -> None:
    """A mask must hide something, and leave every input something to fill from."""
    per_example = mask.flatten(1).sum(1)
    if not per_example.any():
        raise AekitError("the mask hides no pixel: there is nothing to fill in")
    whole = per_example == mask[0].numel()
    if whole.any():
        first = int(whole.nonzero()[0])
        raise AekitError(
            f"the mask hides every pixel of input {first}: nothing is left to fill it from"
        )


def _image_size(shape: tuple[int, ...], spec: str) -> tuple[int, int]:
    if len(shape) < 2:
        raise AekitError(
            f"--mask {spec}: the inputs are flat vectors of {shape[0]} values, not images; "
            "use random:P or FILE.npy"
        )
    return shape[-2], shape[-1]


def _square(arg: str, height: int, width: int, spec: str) -> tuple[slice, slice]:
    size = _whole_number(arg, spec)
    if not 1 <= size <= min(height, width):
        raise AekitError(f"bad --mask {spec!r}: SIZE must be 1..{min(height, width)}")
    top, left = (height - size) // 2, (width - size) // 2
    return slice(top, top + size), slice(left, left + size)


def _rows(arg: str, height: int) -> tuple[slice, slice]:
    first, sep, last = arg.partition("-")
    try:
        a, b = int(first), int(last if sep else first)
    except ValueError:
        a, b = -1, -1
    if not 0 <= a <= b < height:
        raise AekitError(f"bad --mask rows:{arg}: use rows:A-B with 0 <= A <= B < {height}")
    return slice(a, b + 1), slice(None)


def _whole_number(arg: str, spec: str) -> int:
    try:
        return int(arg)
    except ValueError:
        raise AekitError(f"bad --mask {spec!r}: {arg!r} is not a whole number") from None


def _fraction(arg: str, spec: str) -> float:
    try:
        p = float(arg)
    except ValueError:
        p = math.nan
    if not 0 < p < 1:
        raise AekitError(f"bad --mask {spec!r}: P must be between 0 and 1 (both excluded)")
    return p


def _random_mask(p: float, shape: tuple[int, ...], n: int, seed: int) -> torch.Tensor:
    """Each position hidden with probability ``p``; an image's channels are hidden together."""
    generator = torch.Generator().manual_seed(seed)
    positions = (n, 1, *shape[1:]) if len(shape) == 3 else (n, *shape)
    return (torch.rand(positions, generator=generator) < p).expand(n, *shape).clone()


def _file_mask(path: Path, shape: tuple[int, ...], n: int) -> torch.Tensor:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise AekitError(f"cannot read the mask {path}: {err}") from None
    if array.dtype != bool and not np.isin(array, (0, 1)).all():
        raise AekitError(f"{path}: a mask holds 0 (known) and 1 (hidden), or booleans")
    try:
        return torch.from_numpy(np.broadcast_to(array.astype(bool), (n, *shape)).copy())
    except ValueError:
        raise AekitError(
            f"{path}: a mask of shape {array.shape} fits neither one input {shape} "
            f"nor all {n} inputs"
        ) from None


# -- the model's completions -----------------------------------------------------------------
def chain_methods(model: Autoencoder) -> tuple[str, ...]:
    """The methods ``model`` can inpaint with, the best first."""
    if not isinstance(model, VariationalAutoencoder):
        return ("iterate",)
    if type(model).posterior_draws is VariationalAutoencoder.posterior_draws:
        return ("metropolis", "pseudo-gibbs", "iterate")
    return ("pseudo-gibbs", "iterate")


@torch.no_grad()
def inpaint(
    model: Autoencoder,
    x: torch.Tensor,
    mask: torch.Tensor,
    y: torch.Tensor | None = None,
    *,
    start: torch.Tensor | float = 0.5,
    method: str = "auto",
    iterations: int | None = None,
    samples: int = 1,
    seed: int = 0,
) -> Completion:
    """Fill the pixels of ``x`` where ``mask`` is True; ``start`` is their first guess (the
    mean training image serves well). ``method`` is one of :data:`METHODS` (``auto``: the
    best ``model`` offers, :func:`chain_methods`)."""
    method = _chosen(model, method)
    if samples < 1 or (method == "iterate" and samples != 1):
        raise AekitError(
            "--samples needs a Markov chain (a VAE, with pseudo-gibbs or metropolis): "
            "iterate gives one completion per input"
        )
    check_mask(mask)
    steps = iterations or DEFAULT_ITERATIONS[method]
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    labels = labels_for(model, y)
    fill = torch.as_tensor(start, dtype=torch.float32).to(device)
    model.eval()
    chains, accepted = [], []
    for xb, mb, yb in iterate((x, mask, labels), BATCH):
        assert xb is not None and mb is not None, "only the labels may be None"
        xb, mb = xb.to(device).repeat_interleave(samples, 0), mb.to(device)
        mb = mb.repeat_interleave(samples, 0)
        yb = None if yb is None else yb.to(device).repeat_interleave(samples)
        current = torch.where(mb, fill, xb)
        if method == "iterate":
            chains.append(_iterate(model, xb, mb, yb, current, steps).cpu())
            continue
        assert isinstance(model, VariationalAutoencoder), "chain_methods() offers chains to VAEs"
        completion, rate = _chain(model, xb, mb, yb, current, steps, method, generator)
        chains.append(completion.cpu())
        accepted.append(rate * len(xb))
    every = torch.cat(chains).reshape(len(x), samples, *x.shape[1:])
    acceptance = sum(accepted) / (len(x) * samples) if method == "metropolis" else None
    return Completion(every.mean(1), every, method, steps, acceptance)


def _chosen(model: Autoencoder, method: str) -> str:
    offered = chain_methods(model)
    if method == "auto":
        return offered[0]
    if method not in METHODS:
        raise AekitError(f"unknown inpainting method {method!r}; choose from {', '.join(METHODS)}")
    if method not in offered:
        raise AekitError(
            f"model {model.name!r} cannot inpaint with {method}; it offers {', '.join(offered)}"
        )
    return method


def _iterate(
    model: Autoencoder,
    x: torch.Tensor,
    hidden: torch.Tensor,
    y: torch.Tensor | None,
    current: torch.Tensor,
    steps: int,
) -> torch.Tensor:
    for _ in range(steps):
        current = torch.where(hidden, model.reconstruct(current, y).float(), x)
    return current


def _chain(
    model: VariationalAutoencoder,
    x: torch.Tensor,
    hidden: torch.Tensor,
    y: torch.Tensor | None,
    current: torch.Tensor,
    steps: int,
    method: str,
    generator: torch.Generator,
) -> tuple[torch.Tensor, float]:
    """One chain per row: pseudo-Gibbs or Metropolis-within-Gibbs; the completion is the
    decoder's mean of the hidden pixels over the second half of the steps."""
    total, kept, accepted = torch.zeros_like(x), 0, 0.0
    z: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    for step in range(steps):
        if method == "pseudo-gibbs":
            draws, _ = model.posterior_draws(current, y, 1, generator)
            z, logits = draws[:, 0], _decode(model, draws[:, 0], y)
        else:
            z, logits, rate = _metropolis_step(model, current, y, z, logits, generator)
            accepted += rate
        mean = model.to_data(logits).float()
        if step >= steps // 2:
            total += mean
            kept += 1
        current = torch.where(hidden, _draw_pixels(model, mean, generator), x)
    completion = torch.where(hidden, total / kept, x)
    return completion, accepted / steps


def _metropolis_step(
    model: VariationalAutoencoder,
    current: torch.Tensor,
    y: torch.Tensor | None,
    z: torch.Tensor | None,
    logits: torch.Tensor | None,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Propose z' ~ q(z | current); keep it with probability min(1, w(z') / w(z)), where
    w = p(current | z) p(z) / q(z | current). The first step accepts every proposal."""
    mean, logvar = model.encode_dist(current, y)
    proposal, log_q = gaussian_draws(mean, logvar, 1, generator)
    proposal, log_q = proposal[:, 0], log_q[:, 0]
    proposed_logits = _decode(model, proposal, y)
    proposed = _log_weight(model, proposed_logits, current, proposal) - log_q
    if z is None:
        return proposal, proposed_logits, 1.0
    assert logits is not None, "drawn with z"
    old = _log_weight(model, logits, current, z) - log_normal(z, mean.float(), logvar.float())
    u = torch.rand(len(z), generator=generator).to(z.device)
    accept = torch.log(u) < proposed - old
    z = torch.where(accept[:, None], proposal, z)
    shape = (-1,) + (1,) * (logits.dim() - 1)
    logits = torch.where(accept.view(shape), proposed_logits, logits)
    return z, logits, accept.float().mean().item()


def _log_weight(
    model: VariationalAutoencoder, logits: torch.Tensor, current: torch.Tensor, z: torch.Tensor
) -> torch.Tensor:
    return model.log_likelihood(logits.float(), current) + model.log_prior(z)


def _decode(model: Autoencoder, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    return model.decode(z, y).reshape(len(z), *model.input_shape)


def _draw_pixels(
    model: Autoencoder, mean: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Hidden pixels from p(x|z): 0/1 draws for a Bernoulli model, the mean for a Gaussian."""
    if model.recon_loss != "bce":
        return mean
    u = torch.rand(mean.shape, generator=generator).to(mean.device)
    return (u < mean).float()


# -- baselines and scores ------------------------------------------------------------------
@torch.no_grad()
def baselines(
    train_x: torch.Tensor, x: torch.Tensor, mask: torch.Tensor, components: int, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Completions of ``x`` that need no autoencoder, on the same ``mask``: the mean training
    image, the training example nearest on the known pixels, the PCA reconstruction (of
    ``components`` principal directions) that fits the known pixels, and the Gaussian
    conditional mean (see the module)."""
    flat_train = train_x.flatten(1).float()
    flat_x, hidden = x.flatten(1).float(), mask.flatten(1)
    mean = flat_train.mean(0)
    k = max(1, min(components, MAX_PCA_COMPONENTS, len(flat_train) - 2, flat_train.shape[1] - 1))
    generator = torch.Generator().manual_seed(seed)
    rows = torch.randperm(len(flat_train), generator=generator)[:FIT_EXAMPLES]
    centred = flat_train[rows] - mean
    fills = {
        "mean image": mean.expand_as(flat_x),
        "nearest neighbour": _nearest(flat_train, flat_x, hidden),
        f"PCA ({k} components)": _pca_fill(centred, k, flat_x - mean, hidden) + mean,
    }
    if flat_x.shape[1] <= MAX_GAUSSIAN_DIM:
        fills["Gaussian"] = _gaussian_fill(centred, flat_x - mean, hidden) + mean
    return {name: torch.where(hidden, f, flat_x).reshape(x.shape) for name, f in fills.items()}


def _pca_fill(centred: torch.Tensor, k: int, x: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """The probabilistic PCA of ``k`` components (Tipping & Bishop 1999) fitted to training
    data, and per input the mean of its latent given the known pixels, decoded: an unweighted
    least-squares fit would let directions barely seen on the known pixels grow without
    bound."""
    _, singular, vh = torch.linalg.svd(centred, full_matrices=False)
    variances = singular.square() / (len(centred) - 1)
    noise = variances[k:].mean().clamp_min(1e-8)
    loadings = vh[:k].T * (variances[:k] - noise).clamp_min(0).sqrt()  # (d, k)
    fitted = []
    for xb, hb in iterate((x, hidden), 256):
        known = (~hb).float()
        gram = torch.einsum("bd,dk,dl->bkl", known, loadings, loadings)
        gram += noise * torch.eye(k)
        rhs = ((known * xb) @ loadings).unsqueeze(-1)
        fitted.append(torch.linalg.solve(gram, rhs).squeeze(-1) @ loadings.T)
    return torch.cat(fitted)


def _nearest(train: torch.Tensor, x: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """Per input, the training example with the least squared distance on its known pixels:
    sum_k m (x - t)^2 = sum m x^2 - 2 (m x) . t + m . t^2, two matrix products a batch."""
    squares = train.square()
    picks = []
    for xb, hb in iterate((x, hidden), 256):
        known = (~hb).float()
        distance = (known * xb.square()).sum(1, keepdim=True) - 2 * (known * xb) @ train.T
        picks.append((distance + known @ squares.T).argmin(1))
    return train[torch.cat(picks)]


def _gaussian_fill(
    centred: torch.Tensor, x: torch.Tensor, hidden: torch.Tensor, ridge: float = 1e-3
) -> torch.Tensor:
    """The conditional mean of the hidden pixels given the known ones under a Gaussian with the
    training data's full covariance: the best linear completion. Inputs sharing a mask share
    one solve."""
    covariance = centred.T.double() @ centred.double() / (len(centred) - 1)
    covariance += ridge * torch.eye(len(covariance), dtype=torch.float64)
    masks, which = torch.unique(hidden, dim=0, return_inverse=True)
    filled = torch.zeros_like(x)
    for group, h in enumerate(masks):
        rows, o = which == group, ~h
        known = x[rows][:, o].double()
        gain = torch.linalg.solve(covariance[o][:, o], covariance[o][:, h])
        filled[rows.nonzero()[:, 0][:, None], h.nonzero()[:, 0]] = (known @ gain).float()
    return filled


def hidden_error(completed: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """Mean squared error and PSNR (data in [0, 1]) over the hidden pixels of every input."""
    squared = (completed.float() - x.float()).square()[mask]
    mse = squared.double().mean().item()
    return {"mse": mse, "psnr_db": 10 * math.log10(1 / mse) if mse > 0 else math.inf}


def inpainting_figure(
    x: torch.Tensor, mask: torch.Tensor, completion: Completion, count: int
) -> Figure:
    """Columns of inputs: masked (hidden pixels grey), completed (each chain's, up to three,
    when there are several), original."""
    from aekit.figures.plotting import example_grid

    count = min(count, len(x))
    chains = completion.samples.shape[1]
    rows = [torch.where(mask[:count], HIDDEN_SHADE, x[:count])]
    labels = ["masked"]
    if chains == 1:
        rows.append(completion.filled[:count])
        labels.append("completed")
    else:
        rows += [completion.samples[:count, s] for s in range(min(chains, 3))]
        labels += [f"completion {s + 1}" for s in range(min(chains, 3))]
    rows.append(x[:count])
    labels.append("original")
    title = f"Inpainting ({completion.method}, {completion.iterations} iterations)"
    return example_grid(torch.cat(rows), len(rows), count, title=title, row_labels=labels)
