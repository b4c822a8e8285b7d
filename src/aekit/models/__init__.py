"""The autoencoder family. Importing this package registers every built-in model.

The IDs in the model docstrings (S1..S21) are the systems of the articles aekit reproduces:
docs/articles.md says what each one is and which recipe trains it.
"""

# Registration side effects: each module registers its models.
from aekit.models import (  # noqa: F401
    adversarial,
    conv,
    conv_vae,
    disentangle,
    flows,
    hierarchical,
    iwae,
    mlp,
    multinomial,
    recurrent,
    regularised,
    sparse,
    tied,
    vae,
    vamp,
    vq,
)
from aekit.models.base import MODELS, Autoencoder, build_model, model_params, register_model

__all__ = ["MODELS", "Autoencoder", "build_model", "model_params", "register_model"]
