"""A trained model applied to data: batched encoding, decoding, reconstruction and sampling.

Figures, applications, the CLI, the scikit-learn estimators and greedy training encode,
decode, reconstruct and sample through these functions, so batching, devices, gradients and
labels are handled once: inputs may be on any device and of any size, results come back on
the CPU as float32, and a conditional model's labels are checked here (present, and each a
class the model knows) before anything is allocated. (Evaluation's metrics make their own
batched passes, which need the decoder's raw output, but take their labels from
:func:`labels_for` too.) ``sample`` draws all ``n`` codes at once, which fixes the random
numbers a seed gives.
"""

from __future__ import annotations

import torch

from aekit.data.batches import map_batches
from aekit.data.transforms import Noise
from aekit.errors import AekitError
from aekit.models.base import Autoencoder

BATCH = 1024  # examples per forward pass: keeps memory flat on large inputs


def labels_for(
    model: Autoencoder, y: torch.Tensor | None, option: str | None = None
) -> torch.Tensor | None:
    """The labels ``model`` takes with data labelled ``y``: None for an unconditional model
    (it ignores labels), else ``y`` itself, checked. ``option`` names where labels come from
    in messages (``--label``); without it they are the data's own."""
    if not model.conditional:
        return None
    classes = model.num_classes
    assert classes is not None, "Autoencoder refuses a conditional model without classes"
    if y is None:
        need = f"give {option} 0..{classes - 1}" if option else "the data needs labels"
        raise AekitError(f"model {model.name!r} is conditional: {need}")
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= classes):
        bad = int(y.min()) if int(y.min()) < 0 else int(y.max())
        raise AekitError(
            f"{option or 'label'} {bad} is out of range; this model knows labels 0..{classes - 1}"
        )
    return y


def requested_labels(
    model: Autoencoder, labels: list[int] | None, option: str = "--labels"
) -> list[int] | None:
    """Classes a user asked a model to generate: None for an unconditional model (where
    asking is a mistake), else the given ones (checked) or all of them."""
    if not model.conditional:
        if labels:
            raise AekitError(f"model {model.name!r} is not conditional; drop {option}")
        return None
    assert model.num_classes is not None, "Autoencoder refuses a conditional model without classes"
    chosen = list(labels) if labels else list(range(model.num_classes))
    labels_for(model, torch.tensor(chosen), option)
    return chosen


def _device(model: Autoencoder) -> torch.device:
    return next(model.parameters()).device


def _to(t: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    return None if t is None else t.to(device)


@torch.no_grad()
def encode(model: Autoencoder, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """Flattened codes (N x ``code_dim``) of every example of ``x``."""
    model.eval()
    device, labels = _device(model), labels_for(model, y)
    return map_batches(
        lambda xb, yb: model.encode(xb.to(device), _to(yb, device)).flatten(1).float().cpu(),
        x,
        labels,
        batch_size=BATCH,
    )


@torch.no_grad()
def decode(
    model: Autoencoder, z: torch.Tensor, y: torch.Tensor | None = None, option: str | None = None
) -> torch.Tensor:
    """Decodings of codes ``z`` in data space (probabilities or means)."""
    model.eval()
    device, labels = _device(model), labels_for(model, y, option)
    return map_batches(
        lambda zb, yb: model.to_data(model.decode(zb.to(device), _to(yb, device))).float().cpu(),
        z,
        labels,
        batch_size=BATCH,
    )


@torch.no_grad()
def reconstruct(model: Autoencoder, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """Reconstructions of ``x`` in data space (VAEs decode the posterior mean)."""
    model.eval()
    device, labels = _device(model), labels_for(model, y)
    return map_batches(
        lambda xb, yb: model.reconstruct(xb.to(device), _to(yb, device)).float().cpu(),
        x,
        labels,
        batch_size=BATCH,
    )


@torch.no_grad()
def sample(
    model: Autoencoder,
    n: int,
    y: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    option: str | None = None,
) -> torch.Tensor:
    """``n`` draws from a generative model's prior, decoded (of class ``y`` if conditional)."""
    model.eval()
    labels = labels_for(model, y, option)
    if labels is not None and len(labels) != n:
        raise AekitError(f"{n} samples need {n} labels, not {len(labels)}")
    return model.sample(n, _to(labels, _device(model)), generator=generator).float().cpu()


def denoise(
    model: Autoencoder, x: torch.Tensor, y: torch.Tensor | None, noise: Noise, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` corrupted with ``noise`` (seeded: same seed, same corruption), and the model's
    reconstructions of the corrupted inputs."""
    noisy = noise.apply(x.clone(), torch.Generator().manual_seed(seed))
    return noisy, reconstruct(model, noisy, y)
