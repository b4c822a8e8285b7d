"""The independent feature classifier behind the Frechet distance and label accuracy.

Sample quality needs a judge that is not the model itself: a small CNN (two 3x3 convolution +
max-pool stages, a 128-unit dense feature layer, a linear read-out; an MLP for non-image data)
trained on the data set's training split. It is trained once per data set, shape and recipe
and cached as safetensors (never pickle) in ``<cache>/classifiers/<dataset>-<hash>.safetensors``,
where ``<cache>`` is ``$AEKIT_CACHE_DIR`` or the per-user cache directory.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from aekit.data.batches import iterate, map_batches
from aekit.data.splits import Split
from aekit.io import atomic_save, cache_root
from aekit.training.internals import step_optimizer

FEATURES = 128
ARCHITECTURE_VERSION = 1  # bump when the network changes, so old cache entries are not reused


@dataclass(frozen=True)
class ClassifierRecipe:
    """Everything the cached weights depend on (hashed into the cache file name)."""

    dataset: str
    shape: tuple[int, ...]
    num_classes: int
    train_examples: int
    fingerprint: str  # of the training data, so a changed data file retrains
    epochs: int = 2
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    version: int = ARCHITECTURE_VERSION

    def cache_path(self) -> Path:
        digest = hashlib.sha256(json.dumps(asdict(self)).encode()).hexdigest()[:12]
        safe_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(self.dataset).name) or "data"
        return cache_root() / "classifiers" / f"{safe_name}-{digest}.safetensors"


class FeatureClassifier(nn.Module):
    """Penultimate-layer ``features`` for the Frechet distance, ``logits`` for accuracy."""

    def __init__(self, shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        if len(shape) == 3:
            channels, height, width = shape
            flat = 64 * math.ceil(math.ceil(height / 2) / 2) * math.ceil(math.ceil(width / 2) / 2)
            trunk: list[nn.Module] = [
                nn.Conv2d(channels, 32, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2, ceil_mode=True),
                nn.Conv2d(32, 64, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2, ceil_mode=True),
                nn.Flatten(),
                nn.Linear(flat, FEATURES),
            ]
        else:
            trunk = [nn.Flatten(), nn.Linear(math.prod(shape), 256), nn.ReLU()]
            trunk += [nn.Linear(256, FEATURES)]
        self.features = nn.Sequential(*trunk, nn.ReLU())
        self.head = nn.Linear(FEATURES, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(self.features(x))
        return logits


def load_or_train(
    recipe: ClassifierRecipe, train: Split, log: Callable[[str], None] | None = None
) -> FeatureClassifier:
    """The cached classifier for ``recipe``, trained on ``train`` and cached if missing."""
    path = recipe.cache_path()
    if path.is_file():
        try:
            model = _initial(recipe)
            model.load_state_dict(load_file(str(path)))
            return model.eval()
        except (SafetensorError, OSError, RuntimeError):
            pass  # a damaged cache entry is simply retrained and replaced
    model = _initial(recipe)
    if log is not None:
        log(f"training the feature classifier on {len(train)} examples (once; cached as {path})")
    fit(model, train, recipe)
    _save(model, path)
    return model.eval()


def _initial(recipe: ClassifierRecipe) -> FeatureClassifier:
    """The recipe's fixed initialisation, leaving the caller's random stream alone."""
    with torch.random.fork_rng():
        torch.manual_seed(recipe.seed)
        return FeatureClassifier(recipe.shape, recipe.num_classes)


def fit(model: FeatureClassifier, train: Split, recipe: ClassifierRecipe) -> None:
    """Adam on cross-entropy, shuffled mini-batches from aekit's own batching."""
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    generator = torch.Generator().manual_seed(recipe.seed)
    model.train()
    for _ in range(recipe.epochs):
        for xb, yb in iterate((train.x, train.y), recipe.batch_size, generator, shuffle=True):
            assert yb is not None, "a classifier trains on labelled data"
            loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            step_optimizer(optimizer)
    model.eval()


def _save(model: FeatureClassifier, path: Path) -> None:
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    atomic_save(path, lambda tmp: save_file(tensors, tmp))


def features(model: FeatureClassifier, x: torch.Tensor) -> torch.Tensor:
    return map_batches(model.features, x)


def predict(model: FeatureClassifier, x: torch.Tensor) -> torch.Tensor:
    return map_batches(lambda xb: model(xb).argmax(1), x)


def accuracy(model: FeatureClassifier, split: Split) -> float:
    assert split.y is not None, "accuracy is measured on labelled data"
    return (predict(model, split.x) == split.y).double().mean().item()
