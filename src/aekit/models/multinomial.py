"""Autoencoders for collaborative filtering: ``mult-vae`` and ``mult-dae``.

Liang, Krishnan, Hoffman & Jebara 2018, "Variational Autoencoders for Collaborative
Filtering" (WWW). A user is the 0/1 vector of the items they interacted with; the decoder
gives a softmax over all items, and the likelihood of the user's items is multinomial, which
puts the items in competition for a fixed budget of probability (their argument against the
Gaussian and logistic likelihoods for ranking). The encoder sees the user's vector scaled to
unit length with dropout (rate 0.5) while training; the architecture is I-600-200-600-I with
tanh. Mult-VAE's ELBO weighs the KL by beta, which the paper anneals from 0 and caps at 0.2:
here ``kl_weight`` defaults to 0.2 and the trainer's weight schedule anneals it
(``--set train.weight_schedules='{kl_weight: {start: 0, epochs: 20}}'``).

Where aekit differs: the paper anneals over 200,000 updates and picks the epoch with the best
validation NDCG@100; aekit anneals over epochs and keeps the last epoch (or early-stops on the
validation loss). Mult-DAE's L2 penalty (lambda 0.01 on the weights) is the trainer's
``weight_decay`` here, off unless set.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from aekit.errors import AekitError
from aekit.models.base import AutoencoderMixin, register_model
from aekit.models.mlp import MLPAutoencoder
from aekit.models.vae import MLPVAE

PAPER_NETWORK: dict[str, Any] = {"hidden": (600,), "latent_dim": 200, "activation": "tanh"}
PAPER_TRAINING: dict[str, Any] = {"batch_size": 500, "lr": 1e-3}


class UserInput(AutoencoderMixin):
    """What the paper's encoders see: the user's vector at unit length, with dropout while
    training (the denoising that both models rely on)."""

    def __init__(
        self, input_shape: tuple[int, ...], *, input_dropout: float = 0.5, **options: Any
    ) -> None:
        if not 0 <= input_dropout < 1:
            raise AekitError(f"bad input_dropout {input_dropout}; it must be in [0, 1)")
        super().__init__(input_shape, **options)
        self.input_dropout = input_dropout

    def user_input(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(F.normalize(x.flatten(1), dim=1), self.input_dropout, self.training)


@register_model("mult-vae")
class MultVAE(UserInput, MLPVAE):
    """Mult-VAE (Liang et al. 2018): a VAE with a multinomial likelihood over the items."""

    fixed: ClassVar[dict[str, Any]] = {"recon_loss": "multinomial", "output": "linear"}
    defaults: ClassVar[dict[str, Any]] = {**PAPER_NETWORK, "kl_weight": 0.2}
    train_defaults: ClassVar[dict[str, Any]] = PAPER_TRAINING

    def encode_dist(
        self, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return super().encode_dist(self.user_input(x), y)


@register_model("mult-dae")
class MultDAE(UserInput, MLPAutoencoder):
    """Mult-DAE (Liang et al. 2018): the denoising autoencoder with the same likelihood."""

    fixed: ClassVar[dict[str, Any]] = {"recon_loss": "multinomial", "output": "linear"}
    defaults: ClassVar[dict[str, Any]] = {**PAPER_NETWORK, "code_activation": "tanh"}
    greedy_refusal: ClassVar[str] = "its input is normalised, with dropout, before the first layer"
    train_defaults: ClassVar[dict[str, Any]] = PAPER_TRAINING

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return super().encode(self.user_input(x), y)
