"""Run configuration: what to train, on which data, and how.

A run is fully described by one :class:`RunConfig`; ``RUN/config.yaml`` is its YAML form, so a
run directory alone is enough to rebuild the model, the data splits and the trainer.
Model hyper-parameters stay a plain mapping because each registered model declares its own
(they are checked against the model's constructor when it is built).
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from aekit.errors import AekitError


@dataclass
class DataConfig:
    """Which data, how it is split, and how inputs are corrupted or binarized."""

    dataset: str = "mnist-5k"
    data_dir: str | None = None
    binarize: str | None = None  # None, "static" (>= 0.5, as S17) or "dynamic" (Bernoulli)
    noise: str | None = None  # None, "gaussian:FACTOR" (S21) or "dropout:P" (S14)
    noise_once: bool = False  # corrupt the training set once (S21's x_train_noisy), not per batch
    val_fraction: float = 0.1
    test_fraction: float = 0.1  # used only when the data set has no official test split
    validation: str = "split"  # "split": hold out val_fraction of train; "test": use the test split
    limit: int | None = None  # keep only the first N training examples (quick experiments)
    split_seed: int = 0

    def __post_init__(self) -> None:
        if self.data_dir is not None:
            # Absolute, so the run's config still finds the data from another working directory.
            self.data_dir = os.path.abspath(os.path.expanduser(self.data_dir))
        if self.binarize not in (None, "static", "dynamic"):
            raise AekitError(f"bad --binarize {self.binarize!r}; choose one of: static, dynamic")
        if self.validation not in ("split", "test"):
            raise AekitError(f"bad validation {self.validation!r}; choose one of: split, test")
        if not 0.0 <= self.val_fraction < 1.0 or not 0.0 <= self.test_fraction < 1.0:
            raise AekitError("val_fraction and test_fraction must be in [0, 1)")
        if self.split_seed < 0:
            raise AekitError(f"bad split_seed {self.split_seed}; it must be >= 0")
        if self.limit is not None and self.limit < 1:
            raise AekitError(f"bad limit {self.limit}; it must be a positive number of examples")
        if self.noise is not None:
            from aekit.data.transforms import parse_noise

            parse_noise(self.noise)
        if self.noise_once and (self.noise is None or self.binarize == "dynamic"):
            raise AekitError(
                "noise_once needs --noise, and cannot be combined with --binarize dynamic "
                "(the inputs would be fixed while their targets change every batch)"
            )


@dataclass
class TrainConfig:
    """How the single trainer optimises any model."""

    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "adam"  # adam, sgd, rmsprop
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.0  # sgd and rmsprop
    eps: float | None = None  # optimizer epsilon; None keeps PyTorch's default (Keras uses 1e-7)
    loss_reduction: str | None = None  # "per_element" or "per_example"; None: the model's default
    early_stopping: int | None = None  # patience in epochs on val_loss; None: off
    precision: str = "fp32"  # fp32 or bf16 (mixed precision autocast)
    compile: bool = False  # forward, backward and Adam compiled into one graph (AOTInductor)
    device: str = "auto"  # auto, cpu, cuda, cuda:N, mps
    seed: int = 0
    grad_clip: float | None = None
    greedy: bool = False  # layer-wise pre-training (S11): one shallow autoencoder per layer
    greedy_finetune_epochs: int = 0  # then train the whole stack end to end for this many

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise AekitError(f"bad --epochs {self.epochs}; it must be at least 1")
        if self.batch_size < 1:
            raise AekitError(f"bad --batch-size {self.batch_size}; it must be at least 1")
        if self.lr <= 0:
            raise AekitError(f"bad --lr {self.lr}; it must be positive")
        if self.optimizer not in ("adam", "sgd", "rmsprop"):
            raise AekitError(
                f"unknown optimizer {self.optimizer!r}; choose one of: adam, rmsprop, sgd"
            )
        if self.precision not in ("fp32", "bf16"):
            raise AekitError(f"bad --precision {self.precision!r}; choose one of: bf16, fp32")
        if self.compile and self.optimizer != "adam":
            raise AekitError(f"--compile supports --optimizer adam only, not {self.optimizer!r}")
        if self.loss_reduction not in (None, "per_element", "per_example"):
            raise AekitError(
                f"bad loss_reduction {self.loss_reduction!r}; "
                "choose one of: per_element, per_example"
            )
        if self.early_stopping is not None and self.early_stopping < 1:
            raise AekitError("early_stopping patience must be at least 1 epoch")
        for key in ("weight_decay", "momentum", "seed"):
            if getattr(self, key) < 0:
                raise AekitError(f"bad {key} {getattr(self, key)}; it must be >= 0")
        for key in ("eps", "grad_clip"):
            if getattr(self, key) is not None and getattr(self, key) <= 0:
                raise AekitError(f"bad {key} {getattr(self, key)}; it must be positive (or null)")
        if self.greedy_finetune_epochs < 0:
            raise AekitError(
                f"bad greedy_finetune_epochs {self.greedy_finetune_epochs}; it must be >= 0"
            )
        if self.greedy_finetune_epochs and not self.greedy:
            raise AekitError("greedy_finetune_epochs needs greedy layer-wise training (--greedy)")


@dataclass
class RunConfig:
    """Everything that defines a run; saved as ``RUN/config.yaml``."""

    model: dict[str, Any] = field(default_factory=lambda: {"name": "ae"})
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": dict(self.model),
            "data": dataclasses.asdict(self.data),
            "train": dataclasses.asdict(self.train),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config") -> RunConfig:
        """Build from a mapping, naming any unknown section or key."""
        if not isinstance(raw, dict):
            raise AekitError(f"{source}: expected a mapping with model/data/train sections")
        # ``description`` and ``article`` (a recipe's printed result) are documentation only.
        unknown = set(raw) - {"model", "data", "train", "description", "article"}
        if unknown:
            raise AekitError(
                f"{source}: unknown section(s) {', '.join(sorted(unknown))}; "
                "valid sections: article, data, description, model, train"
            )
        model = dict(raw.get("model") or {})
        model.setdefault("name", "ae")
        return cls(
            model=model,
            data=_build(DataConfig, raw.get("data") or {}, f"{source}: data"),
            train=_build(TrainConfig, raw.get("train") or {}, f"{source}: train"),
        )

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        """Read a YAML config file (a recipe or a run's ``config.yaml``)."""
        path = Path(path)
        if not path.is_file():
            raise AekitError(f"config file not found: {path}")
        try:
            raw = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise AekitError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
        return cls.from_dict(raw or {}, source=str(path))

    def with_overrides(self, overrides: dict[str, Any]) -> RunConfig:
        """Return a copy with dotted keys (``train.lr``, ``model.latent_dim``) replaced."""
        raw = self.to_dict()
        for dotted, value in overrides.items():
            section, key = dotted.split(".", 1)
            raw[section][key] = value
        return RunConfig.from_dict(raw, source="command line")


def _build(kind: type, values: dict[str, Any], where: str) -> Any:
    names = {f.name for f in dataclasses.fields(kind)}
    unknown = set(values) - names
    if unknown:
        raise AekitError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}; "
            f"valid keys: {', '.join(sorted(names))}"
        )
    hints = typing.get_type_hints(kind)
    coerced = {key: _coerce(value, hints[key], f"{where}.{key}") for key, value in values.items()}
    return kind(**coerced)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Turn YAML/CLI scalars into the field's type (YAML reads ``1e-3`` as a string)."""
    if value is None:
        return None
    wanted = [t for t in typing.get_args(hint) if t is not type(None)] or [hint]
    is_bool = isinstance(value, bool)  # a bool is an int to Python, but never a number here
    if isinstance(value, tuple(wanted)) and (bool in wanted or not is_bool):
        return value
    for kind in [] if is_bool else wanted:
        if kind in (int, float):
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            if kind is int and not number.is_integer():
                continue
            return kind(number)
        if kind is str and isinstance(value, (str, int, float)):
            return str(value)
    names = " or ".join(getattr(t, "__name__", str(t)) for t in wanted)
    raise AekitError(f"{where}: expected {names}, got {value!r}")
