"""The autoencoder family. Importing this package registers every built-in model."""

# Registration side effects: each module registers its models.
from aekit.models import conv, conv_vae, mlp, recurrent, sparse, tied, vae  # noqa: F401
from aekit.models.base import MODELS, Autoencoder, build_model, model_params, register_model

__all__ = ["MODELS", "Autoencoder", "build_model", "model_params", "register_model"]
