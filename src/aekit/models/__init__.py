"""The autoencoder family. Importing this package registers every built-in model."""

from aekit.models import conv, conv_vae, mlp, vae  # noqa: F401  (registration side effects)
from aekit.models.base import MODELS, Autoencoder, build_model, model_params, register_model

__all__ = ["MODELS", "Autoencoder", "build_model", "model_params", "register_model"]
