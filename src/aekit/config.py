"""Run configuration: what to train, on which data, and how.

A run is fully described by one :class:`RunConfig`; ``RUN/config.yaml`` is its YAML form, so a
run directory alone is enough to rebuild the model, the data splits and the trainer.
Model hyper-parameters stay a plain mapping because each registered model declares its own
(the model class converts and checks them when it is built). Every value of the data and
train sections is converted to its field's type by :func:`aekit.values.convert`.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from aekit.errors import AekitError
from aekit.values import convert, field_hints

NOISE_KINDS = ("gaussian", "dropout")
LR_SCHEDULES = ("constant", "step", "cosine", "plateau")
# What a run trains with where neither the config nor the model (``train_defaults``) says.
TRAIN_FALLBACKS: dict[str, Any] = {"batch_size": 128, "lr": 1e-3, "lr_schedule": "constant"}
WEIGHT_SCHEDULE_KEYS = ("start", "end", "epochs", "delay")
MAX_SEED = 2**63 - 8  # torch's generators take 64-bit seeds; the trainer adds small offsets


def split_noise_spec(spec: str) -> tuple[str, float]:
    """``gaussian:FACTOR`` or ``dropout:P`` -> (kind, amount), checked."""
    kind, _, value = str(spec).partition(":")
    if kind not in NOISE_KINDS or not value:
        raise AekitError(f"bad --noise {spec!r}; use gaussian:FACTOR (e.g. 0.5) or dropout:P")
    try:
        amount = float(value)
    except ValueError:
        raise AekitError(f"bad --noise {spec!r}: {value!r} is not a number") from None
    if kind == "gaussian" and not (0 < amount < math.inf):
        raise AekitError(f"bad --noise {spec!r}: the Gaussian factor must be a positive number")
    if kind == "dropout" and not 0.0 < amount < 1.0:
        raise AekitError(f"bad --noise {spec!r}: the dropout probability must be in (0, 1)")
    return kind, amount


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
    # image folders: decode batches from the files as training goes (True), read them all
    # first (False), or stream those that would fill more than a quarter of memory (None)
    stream: bool | None = None
    workers: int | None = None  # streaming: image-decoding processes (None: cores - 1, >= 1)

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 0:
            raise AekitError(f"bad workers {self.workers}; it must be >= 0 (0: decode in-process)")
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
            split_noise_spec(self.noise)
        if self.noise_once and (self.noise is None or self.binarize == "dynamic"):
            raise AekitError(
                "noise_once needs --noise, and cannot be combined with --binarize dynamic "
                "(the inputs would be fixed while their targets change every batch)"
            )


@dataclass
class TrainConfig:
    """How the single trainer optimises any model.

    ``batch_size``, ``lr`` and ``lr_schedule`` left at None take the model's own training
    defaults where it has some (``linear-ae``), else :data:`TRAIN_FALLBACKS`; a run's
    ``config.yaml`` records the values it used.
    """

    epochs: int = 10
    batch_size: int | None = None
    optimizer: str = "adam"  # adam, adamw, sgd, rmsprop
    lr: float | None = None
    lr_schedule: str | None = None  # constant, step, cosine, plateau
    lr_step: int = 10  # step: epochs between decays
    lr_gamma: float = 0.1  # step, plateau: the factor of each decay
    lr_min: float = 0.0  # cosine: the last step's learning rate; plateau: the floor
    lr_patience: int = 2  # plateau: epochs without a better val_loss before a decay
    warmup_epochs: float = 0.0  # linear warm-up of the learning rate from 0, step by step
    # loss weights a model declares schedulable, over training: {kl_weight: {start: 0, epochs: 10}}
    weight_schedules: dict[str, Any] = field(default_factory=dict)
    weight_decay: float | None = None  # None: the optimizer's own default (0; AdamW's 0.01)
    momentum: float = 0.0  # sgd and rmsprop
    eps: float | None = None  # optimizer epsilon; None keeps PyTorch's default (Keras uses 1e-7)
    loss_reduction: str | None = None  # "per_element" or "per_example"; None: the model's default
    early_stopping: int | None = None  # patience in epochs on val_loss; None: off
    precision: str = "fp32"  # fp32, bf16 or fp16 (mixed precision autocast; fp16: CUDA only)
    compile: bool = False  # forward, backward and Adam compiled into one graph (AOTInductor)
    device: str = "auto"  # auto, cpu, cuda, cuda:N, mps
    seed: int = 0
    grad_clip: float | None = None
    greedy: bool = False  # layer-wise pre-training (S11): one shallow autoencoder per layer
    greedy_finetune_epochs: int = 0  # then train the whole stack end to end for this many
    dist_timeout: float = 300.0  # torchrun: seconds a process waits for the others, then fails

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise AekitError(f"bad --epochs {self.epochs}; it must be at least 1")
        if self.batch_size is not None and self.batch_size < 1:
            raise AekitError(f"bad --batch-size {self.batch_size}; it must be at least 1")
        if self.lr is not None and not (0 < self.lr < math.inf):
            raise AekitError(f"bad --lr {self.lr}; it must be a positive number")
        if self.optimizer not in ("adam", "adamw", "sgd", "rmsprop"):
            raise AekitError(
                f"unknown optimizer {self.optimizer!r}; choose one of: adam, adamw, rmsprop, sgd"
            )
        if self.lr_schedule not in (None, *LR_SCHEDULES):
            raise AekitError(
                f"unknown lr_schedule {self.lr_schedule!r}; choose one of: "
                + ", ".join(LR_SCHEDULES)
            )
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise AekitError(f"bad --precision {self.precision!r}; choose one of: bf16, fp16, fp32")
        if self.compile and self.optimizer not in ("adam", "adamw"):
            raise AekitError(
                f"--compile supports --optimizer adam and adamw only, not {self.optimizer!r}"
            )
        if self.loss_reduction not in (None, "per_element", "per_example"):
            raise AekitError(
                f"bad loss_reduction {self.loss_reduction!r}; "
                "choose one of: per_element, per_example"
            )
        if self.early_stopping is not None and self.early_stopping < 1:
            raise AekitError("early_stopping patience must be at least 1 epoch")
        if not 0 <= self.seed <= MAX_SEED:
            raise AekitError(f"bad seed {self.seed}; it must be between 0 and {MAX_SEED}")
        for key in ("weight_decay", "momentum", "lr_min", "warmup_epochs"):
            value = getattr(self, key)
            if value is not None and not value >= 0:
                raise AekitError(f"bad {key} {value}; it must be >= 0")
        for key in ("lr_step", "lr_patience"):
            if getattr(self, key) < 1:
                raise AekitError(f"bad {key} {getattr(self, key)}; it must be at least 1")
        if not 0 < self.lr_gamma < 1:
            raise AekitError(f"bad lr_gamma {self.lr_gamma}; it must be between 0 and 1")
        for key in ("eps", "grad_clip", "dist_timeout"):
            if getattr(self, key) is not None and getattr(self, key) <= 0:
                raise AekitError(f"bad {key} {getattr(self, key)}; it must be positive (or null)")
        if self.greedy_finetune_epochs < 0:
            raise AekitError(
                f"bad greedy_finetune_epochs {self.greedy_finetune_epochs}; it must be >= 0"
            )
        if self.greedy_finetune_epochs and not self.greedy:
            raise AekitError("greedy_finetune_epochs needs greedy layer-wise training (--greedy)")
        self.weight_schedules = {
            str(name): _weight_schedule(name, spec) for name, spec in self.weight_schedules.items()
        }

    def with_defaults(self, preferred: dict[str, Any]) -> TrainConfig:
        """This config with every unset value taken from ``preferred`` (a model's training
        defaults), else from :data:`TRAIN_FALLBACKS`."""
        unset = {key: value for key, value in TRAIN_FALLBACKS.items() if getattr(self, key) is None}
        chosen = {key: preferred.get(key, value) for key, value in unset.items()}
        return dataclasses.replace(self, **chosen)


def _weight_schedule(name: Any, spec: Any) -> dict[str, float]:
    """A loss weight's linear schedule: from ``start`` to ``end`` (default: the model's own
    value) over ``epochs``, after ``delay`` epochs at ``start``."""
    where = f"weight_schedules.{name}"
    if not isinstance(spec, dict) or "start" not in spec or "epochs" not in spec:
        raise AekitError(
            f"bad {where} {spec!r}; give a mapping with start and epochs "
            "(and optionally end, delay), e.g. {start: 0, epochs: 10}"
        )
    unknown = set(spec) - set(WEIGHT_SCHEDULE_KEYS)
    if unknown:
        raise AekitError(
            f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
            f"valid keys: {', '.join(WEIGHT_SCHEDULE_KEYS)}"
        )
    values = {key: convert(value, float, key, where) for key, value in spec.items()}
    if not values["epochs"] > 0 or not values.get("delay", 0.0) >= 0:
        raise AekitError(f"{where}: epochs must be > 0 and delay >= 0")
    if not all(math.isfinite(v) for v in values.values()):
        raise AekitError(f"{where}: every value must be a finite number")
    return values


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
                f"{source}: unknown section(s) {', '.join(sorted(map(str, unknown)))}; "
                "valid sections: article, data, description, model, train"
            )
        model = raw.get("model") or {}
        if not isinstance(model, dict):
            raise AekitError(f"{source}: the model section must be a mapping, not {model!r}")
        model = {"name": "ae", **model}
        if not isinstance(model["name"], str):
            raise AekitError(f"{source}: the model's name must be a word, not {model['name']!r}")
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
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise AekitError(f"{path}: not a text (UTF-8) YAML file") from None
        except yaml.YAMLError as exc:
            raise AekitError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
        except OSError as exc:
            raise AekitError(f"{path}: cannot read ({exc.strerror or exc})") from None
        return cls.from_dict(raw or {}, source=str(path))

    def with_overrides(self, overrides: dict[str, Any]) -> RunConfig:
        """Return a copy with dotted keys (``train.lr``, ``model.latent_dim``) replaced."""
        raw = self.to_dict()
        for dotted, value in overrides.items():
            section, _, key = dotted.partition(".")
            if section not in raw or not key:
                raise AekitError(
                    f"cannot override {dotted!r}: name a SECTION.KEY, the section one of "
                    f"{', '.join(raw)} (e.g. model.latent_dim)"
                )
            raw[section][key] = value
        return RunConfig.from_dict(raw, source="command line")


def _build(kind: type, values: dict[str, Any], where: str) -> Any:
    if not isinstance(values, dict):
        raise AekitError(f"{where}: expected a mapping of keys to values, not {values!r}")
    names = {f.name for f in dataclasses.fields(kind)}
    unknown = set(values) - names
    if unknown:
        raise AekitError(
            f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
            f"valid keys: {', '.join(sorted(names))}"
        )
    hints = field_hints(kind)
    return kind(**{key: convert(value, hints[key], key, where) for key, value in values.items()})
