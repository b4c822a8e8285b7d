"""scikit-learn estimators around aekit's models: the drop-in PCA replacement and its base.

The estimators follow scikit-learn's rules: hyper-parameters are stored by ``__init__`` as
given and only read in ``fit``, which builds a registered aekit model and trains it with the
one :class:`~aekit.training.Trainer`. So ``clone``, ``get_params`` / ``set_params``,
``Pipeline`` and grid searches work as with any scikit-learn estimator.

Inputs are 2-d arrays ``(n_samples, n_features)`` or images ``(n_samples, C, H, W)``; with
``input_shape`` set, flat rows are reshaped for the model (``(1, 28, 28)`` for a ``conv-ae`` on
flattened MNIST). Autoencoders here expect values in [0, 1] (sigmoid outputs, BCE losses), so
``scale="minmax"`` (the default) maps every feature to [0, 1] with the training minimum and
maximum and maps outputs back; pass ``scale=None`` for data already in [0, 1], such as images.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from aekit.config import TrainConfig
from aekit.data.splits import Split
from aekit.errors import AekitError
from aekit.models import MODELS, Autoencoder, build_model
from aekit.runs import inference
from aekit.training.trainer import Trainer, seed_everything

MONITOR_EXAMPLES = 1000  # validation loss per epoch is computed on this many training examples


class InvalidInput(AekitError, ValueError):
    """A bad parameter or input: an :class:`AekitError` for the CLI's one-line message, and a
    ``ValueError``, which is what scikit-learn's API promises to its callers."""


# sklearn ships no types: its classes are Any, which mypy will not let a class extend
class AutoencoderEstimator(BaseEstimator):  # type: ignore[misc]
    """Shared parameters, input checks, scaling and training of the aekit estimators.

    Parameters
    ----------
    model : registered model name (``aekit models``), e.g. ``"ae"``, ``"conv-ae"``, ``"vae"``.
    latent_dim : size of the code. Keep it well below the number of features: a code as wide
        as the input can copy it, outliers included (for anomaly detection on small tabular
        sets, benchmarks/RESULTS.md, "Anomaly detection against PyOD").
    hidden : hidden layer sizes for the MLP models; ``None`` keeps the model's default.
    model_params : any other model option, e.g. ``{"channels": [16, 32]}``.
    input_shape : shape of one example for the model; ``None`` uses ``X.shape[1:]``.
    scale : ``"minmax"`` (learn a per-feature [0, 1] scaling) or ``None`` (X is in [0, 1]).
    epochs, batch_size, lr : optimisation (Adam).
    device : ``"auto"``, ``"cpu"``, ``"cuda"``, ...
    random_state : seed of initialisation and shuffling (an int, ``None`` or a RandomState).
    verbose : print one line per epoch.
    """

    def __init__(
        self,
        model: str = "ae",
        latent_dim: int = 16,
        hidden: tuple[int, ...] | None = None,
        model_params: dict[str, Any] | None = None,
        input_shape: tuple[int, ...] | None = None,
        scale: str | None = "minmax",
        epochs: int = 20,
        batch_size: int = 128,
        lr: float = 1e-3,
        device: str = "auto",
        random_state: int | np.random.RandomState | None = 0,
        verbose: bool = False,
    ) -> None:
        self.model = model
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.model_params = model_params
        self.input_shape = input_shape
        self.scale = scale
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # -- fitting ------------------------------------------------------------------------
    def _fit_autoencoder(self, X: ArrayLike) -> torch.Tensor:
        """Validate ``X``, learn the scaling, build and train ``model_``; return the inputs."""
        array = validate_data(self, X, allow_nd=True, dtype=(np.float32, np.float64), reset=True)
        self.data_shape_ = tuple(array.shape[1:])
        self.input_shape_ = self._example_shape(array)
        self.scaler_ = self._fit_scaler(array)
        inputs = self._to_model(array)
        seed = self._seed()
        cfg = self._training(seed)
        self.model_ = self._build(inputs, seed)
        trainer = Trainer(self.model_, cfg, log=print if self.verbose else None)
        monitor = Split(inputs[:MONITOR_EXAMPLES], None)
        self.history_ = trainer.fit(Split(inputs, None), monitor)
        self.model_.eval()
        return inputs

    def _training(self, seed: int) -> TrainConfig:
        """The trainer's settings, each parameter checked by its own name."""
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise InvalidInput(f"{name} must be a whole number >= 1, got {value!r}")
        if (
            isinstance(self.lr, bool)
            or not isinstance(self.lr, (int, float))
            or not (0 < self.lr < math.inf)
        ):
            raise InvalidInput(f"lr must be a positive number, got {self.lr!r}")
        try:
            return TrainConfig(
                epochs=int(self.epochs),
                batch_size=int(self.batch_size),
                lr=float(self.lr),
                lr_schedule="constant",  # Adam at ``lr``, as documented, for every model
                device=self.device,
                seed=seed,
            )
        except AekitError as exc:
            raise InvalidInput(str(exc)) from None

    def _build(self, inputs: torch.Tensor, seed: int) -> Autoencoder:
        if self.model not in MODELS:
            names = ", ".join(sorted(MODELS))
            raise InvalidInput(f"unknown model {self.model!r}; choose one of: {names}")
        if MODELS[self.model].conditional:
            raise InvalidInput(
                f"model {self.model!r} is conditional: it needs labels, which fit(X) has not"
            )
        spec: dict[str, Any] = {"name": self.model, "latent_dim": self.latent_dim}
        if self.hidden is not None:
            spec["hidden"] = list(self.hidden)
        spec.update(self.model_params or {})
        seed_everything(seed)
        try:
            return build_model(spec, tuple(inputs.shape[1:]))
        except AekitError as exc:  # a model option: the message names it
            raise InvalidInput(str(exc)) from None

    def _seed(self) -> int:
        """One seed for initialisation and shuffling, from ``random_state``."""
        if isinstance(self.random_state, (int, np.integer)):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _example_shape(self, X: np.ndarray) -> tuple[int, ...]:
        if self.input_shape is None:
            return tuple(X.shape[1:])
        shape = tuple(int(s) for s in self.input_shape)
        if math.prod(shape) != math.prod(X.shape[1:]):
            raise InvalidInput(
                f"input_shape {shape} holds {math.prod(shape)} values but each example of X "
                f"has {math.prod(X.shape[1:])}"
            )
        return shape

    def _fit_scaler(self, X: np.ndarray) -> MinMaxScaler | None:
        if self.scale is None:
            return None
        if self.scale != "minmax":
            raise InvalidInput(f"bad scale {self.scale!r}; choose one of: minmax, None")
        return MinMaxScaler().fit(X.reshape(len(X), -1))

    # -- using --------------------------------------------------------------------------
    def _inputs(self, X: ArrayLike) -> torch.Tensor:
        """Check a fitted estimator's new input (same shape as in ``fit``) and convert it."""
        check_is_fitted(self, "model_")
        array = validate_data(self, X, allow_nd=True, dtype=(np.float32, np.float64), reset=False)
        if tuple(array.shape[1:]) != self.data_shape_:
            raise InvalidInput(
                f"X has examples shaped {tuple(array.shape[1:])} but this "
                f"{type(self).__name__} was fitted on examples shaped {self.data_shape_}"
            )
        return self._to_model(array)

    def _to_model(self, X: np.ndarray) -> torch.Tensor:
        """Scaled float32 tensor in the model's input shape (always a copy: X is not ours)."""
        flat = X.reshape(len(X), -1)
        if self.scaler_ is not None:
            flat = self.scaler_.transform(flat)
        return torch.tensor(flat, dtype=torch.float32).reshape(len(X), *self.input_shape_)

    def _from_model(self, outputs: torch.Tensor, n: int) -> np.ndarray:
        flat = outputs.reshape(n, -1).numpy()
        if self.scaler_ is not None:
            flat = self.scaler_.inverse_transform(flat).astype(np.float32)
        return flat.reshape(n, *self.data_shape_)


# sklearn ships no types: its classes are Any, which mypy will not let a class extend
class AutoencoderTransformer(TransformerMixin, AutoencoderEstimator):  # type: ignore[misc]
    """An autoencoder as a scikit-learn transformer: a drop-in, non-linear replacement for PCA.

    ``transform`` returns the codes (``latent_dim`` columns; the posterior mean for VAEs),
    ``inverse_transform`` decodes codes back to the input space (undoing the scaling).

    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.linear_model import LogisticRegression
    >>> pipe = make_pipeline(AutoencoderTransformer(latent_dim=16), LogisticRegression())
    """

    def fit(self, X: ArrayLike, y: object = None) -> AutoencoderTransformer:
        """Train the autoencoder on ``X`` (``y`` is ignored: training is unsupervised)."""
        self._fit_autoencoder(X)
        return self

    def transform(self, X: ArrayLike) -> np.ndarray:
        """Codes of ``X``, float32, shaped ``(n_samples, latent_dim)``."""
        return inference.encode(self.model_, self._inputs(X)).numpy()

    def inverse_transform(self, X: ArrayLike) -> np.ndarray:
        """Decode codes back to data: float32 in the input's shape and scale."""
        check_is_fitted(self, "model_")
        codes = np.asarray(X, dtype=np.float32)
        if codes.ndim != 2 or codes.shape[1] != self.model_.code_dim:
            raise InvalidInput(
                f"codes must be shaped (n_samples, {self.model_.code_dim}); got {codes.shape}"
            )
        decoded = inference.decode(self.model_, torch.tensor(codes))
        return self._from_model(decoded, len(codes))

    def get_feature_names_out(self, input_features: ArrayLike | None = None) -> np.ndarray:
        """``autoencodertransformer0``, ``autoencodertransformer1``, ... (one per code unit)."""
        check_is_fitted(self, "model_")
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}{i}" for i in range(self.model_.code_dim)], dtype=object)

    def __sklearn_tags__(self) -> Any:  # sklearn.utils.Tags (untyped)
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
