"""Semi-supervised use of a trained encoder: a classifier from few labels (S9).

The classifier is the autoencoder's encoder (``model.encode``) followed by a linear head.
It is trained on N labelled training examples (drawn stratified by class, seeded) either
with the pre-trained encoder (fine-tuned, or ``freeze``-d so only the head learns) or with
the same architecture freshly initialised ("from scratch", all layers trained): the gap
between the two is what unsupervised pre-training bought with N labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.model_selection import train_test_split
from torch import nn
from tqdm.auto import tqdm

from aekit.config import TrainConfig
from aekit.data.batches import batch_indices
from aekit.data.splits import DataBundle, Split
from aekit.errors import AekitError
from aekit.figures.plotting import new_figure, save_figure
from aekit.models.base import Autoencoder
from aekit.training.internals import step_optimizer
from aekit.training.optim import make_optimizer
from aekit.training.trainer import resolve_device, seed_everything

DEFAULT_STEPS = 1000  # optimisation steps per classifier when no epoch count is given


class EncoderClassifier(nn.Module):
    """An autoencoder's encoder with a linear classification head on its standardised code.

    Codes are not on a common scale (a linear code layer's units can span tens), so the head
    batch-normalises them before its linear layer: the head then learns in a few steps, which
    matters with a handful of labels.
    """

    def __init__(self, autoencoder: Autoencoder, num_classes: int, freeze: bool) -> None:
        super().__init__()
        self.autoencoder = autoencoder
        self.head = nn.Sequential(
            nn.BatchNorm1d(autoencoder.code_dim), nn.Linear(autoencoder.code_dim, num_classes)
        )
        self.autoencoder.requires_grad_(not freeze)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(self.autoencoder.encode(x).flatten(1))
        return logits


@dataclass
class FinetuneResult:
    labels: int  # N labelled training examples
    pretrained_accuracy: float
    scratch_accuracy: float


def labelled_subset(split: Split, n: int, seed: int) -> Split:
    """``n`` training examples, stratified by class (seeded), as a semi-supervised setting has."""
    if split.y is None:
        raise AekitError("this data has no labels; give a labelled data set with --dataset")
    classes = int(torch.unique(split.y).numel())
    if n > len(split):
        raise AekitError(f"--labels {n} is more than the {len(split)} training examples")
    if n < classes:
        raise AekitError(
            f"--labels {n} is fewer than the {classes} classes; give at least one each"
        )
    if n == len(split):
        return split
    index = np.arange(len(split))
    chosen, _ = train_test_split(
        index, train_size=n, stratify=split.y.numpy(), random_state=seed, shuffle=True
    )
    chosen = torch.from_numpy(np.sort(chosen))
    return Split(split.x[chosen], split.y[chosen])


def train_classifier(
    classifier: EncoderClassifier, train: Split, cfg: TrainConfig, what: str = "classifier"
) -> EncoderClassifier:
    """Minimise cross-entropy with the configured optimiser (Adam by default) for ``epochs``,
    with a progress bar (``what`` it trains) on an interactive terminal."""
    device = resolve_device(cfg.device)
    classifier.to(device)
    trainable = [p for p in classifier.parameters() if p.requires_grad]
    optimizer = make_optimizer(trainable, cfg, device)
    shuffle = torch.Generator().manual_seed(cfg.seed)
    assert train.y is not None and cfg.batch_size is not None, "labels, and a settled config"
    x, y = train.x.to(device), train.y.to(device)
    steps = cfg.epochs * math.ceil(len(x) / cfg.batch_size)
    with tqdm(total=steps, desc=what, unit="step", leave=False, disable=None) as bar:
        for _ in range(cfg.epochs):
            classifier.train()
            for idx in batch_indices(len(x), cfg.batch_size, shuffle):
                idx = idx.to(device)
                logits = classifier(x.index_select(0, idx))
                loss = F.cross_entropy(logits, y.index_select(0, idx))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                step_optimizer(optimizer)
                bar.update(1)
    return classifier.eval()


@torch.no_grad()
def accuracy(classifier: EncoderClassifier, split: Split, batch_size: int = 1000) -> float:
    device = next(classifier.parameters()).device
    correct = 0
    assert split.y is not None, "accuracy is measured on labelled data"
    for i in range(0, len(split), batch_size):
        idx = torch.arange(i, min(i + batch_size, len(split)))
        logits = classifier(split.batch(idx, device))
        correct += int((logits.argmax(1).cpu() == split.y[i : i + batch_size]).sum())
    return correct / len(split)


def epochs_for_steps(n: int, batch_size: int, steps: int = DEFAULT_STEPS) -> int:
    """Enough epochs over ``n`` examples for about ``steps`` optimisation steps.

    A fixed number of epochs would give 50 labels two Adam steps an epoch and 10,000 labels
    three hundred: far too few for the first, so every N gets the same number of steps.
    """
    return max(1, round(steps / math.ceil(n / batch_size)))


def finetune(
    model: Autoencoder,
    data: DataBundle,
    label_counts: list[int],
    cfg: TrainConfig,
    freeze: bool = False,
    epochs: int | None = None,
) -> list[FinetuneResult]:
    """For each N: test accuracy of the pre-trained-encoder classifier and of the same
    architecture trained from scratch, with the same N examples, seed and epochs
    (``epochs``, or by default :func:`epochs_for_steps` of N)."""
    if model.conditional:
        raise AekitError(
            f"model {model.name!r} is conditional: its encoder needs the very label "
            "a classifier has to predict; fine-tune an unconditional model"
        )
    if data.test.y is None or data.num_classes is None:
        raise AekitError(f"{data.name} has no labels; give a labelled data set with --dataset")
    assert cfg.batch_size is not None, "the caller sets the batch size"
    pretrained_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    results = []
    for n in label_counts:
        subset = labelled_subset(data.train, n, cfg.seed)
        n_cfg = replace(cfg, epochs=epochs or epochs_for_steps(n, cfg.batch_size))
        model.load_state_dict(pretrained_state)
        tuned = _classifier(model, data.num_classes, freeze, cfg.seed)
        scratch = _classifier(_fresh_copy(model), data.num_classes, False, cfg.seed)
        results.append(
            FinetuneResult(
                labels=n,
                pretrained_accuracy=accuracy(
                    train_classifier(tuned, subset, n_cfg, f"{n} labels, pre-trained"), data.test
                ),
                scratch_accuracy=accuracy(
                    train_classifier(scratch, subset, n_cfg, f"{n} labels, from scratch"),
                    data.test,
                ),
            )
        )
    model.load_state_dict(pretrained_state)
    model.requires_grad_(True)
    return results


def _classifier(model: Autoencoder, classes: int, freeze: bool, seed: int) -> EncoderClassifier:
    seed_everything(seed)  # the same head initialisation for both classifiers
    return EncoderClassifier(model, classes, freeze)


def _fresh_copy(model: Autoencoder) -> Autoencoder:
    """The same architecture, newly initialised (seeded by the caller's seed)."""
    fresh = type(model)(model.input_shape, num_classes=model.num_classes, **model.hparams)
    return fresh.to(next(model.parameters()).device)


def accuracy_figure(results: list[FinetuneResult], path: Path, freeze: bool) -> Path:
    """Test accuracy against the number of labels (log x axis), pre-trained vs from scratch."""
    counts = [r.labels for r in results]
    fig, ax = new_figure(figsize=(5, 3.6))
    pretrained = "pre-trained encoder" + (" (frozen)" if freeze else " (fine-tuned)")
    ax.plot(counts, [100 * r.pretrained_accuracy for r in results], "-o", label=pretrained)
    ax.plot(counts, [100 * r.scratch_accuracy for r in results], "-s", label="from scratch")
    ax.set_xscale("log")
    ax.set_xticks(counts, [str(c) for c in counts])
    ax.minorticks_off()
    ax.set_xlabel("labelled training examples")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Classifier accuracy against the number of labels")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    ax.set_xlim(min(counts) / math.sqrt(2), max(counts) * math.sqrt(2))
    fig.tight_layout()
    return save_figure(fig, path)
