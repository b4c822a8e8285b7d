"""``sparse-ae`` (S15): a sigmoid code layer pushed towards few active units."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from aekit.errors import AekitError, unknown_choice
from aekit.models.base import register_model
from aekit.models.mlp import MLPAutoencoder

_EPS = 1e-7  # Keras' epsilon: its kl_divergence clips probabilities to [eps, 1]


def bernoulli_kl(target: float, mean: torch.Tensor) -> torch.Tensor:
    """KL(target || mean) + KL(1 - target || 1 - mean), summed over units (S15's regulariser)."""
    mean = mean.clamp(_EPS, 1 - _EPS)
    return (
        target * torch.log(target / mean) + (1 - target) * torch.log((1 - target) / (1 - mean))
    ).sum()


@register_model("sparse-ae")
class SparseAutoencoder(MLPAutoencoder):
    """Dense autoencoder with a sigmoid code and a sparsity penalty on it (S15).

    The default layout is the article's: encoder 784-100 (SELU)-300 (sigmoid), decoder
    300-100 (SELU)-784. ``encode`` returns the sigmoid activations, so a code near 0 is an
    inactive unit. ``sparsity`` picks the penalty:

    - ``"l1"`` (S15a, Keras' ``ActivityRegularization(l1=1e-3)``): ``l1_weight`` times the sum
      of the activations of an example, averaged over the batch;
    - ``"kl"`` (S15b, ``KLDivergenceRegularizer(weight=0.05, target=0.1)``):
      ``sparsity_weight`` times KL(target || q) + KL(1 - target || 1 - q), summed over units,
      where ``q`` is each unit's mean activation over the batch.

    Units: Keras adds these penalties to the *per-pixel mean* BCE. aekit's ``loss_terms``
    are per-example sums, which the trainer divides by the input size for the default
    ``per_element`` reduction, so the penalty is multiplied by ``input_dim`` here: the
    optimised loss is then exactly Keras' ``mean BCE + penalty``, and with ``per_example``
    the recon/penalty balance (hence the optimum) is unchanged.

    One more Keras detail: the book passes the KL regulariser as ``activity_regularizer``,
    and Keras divides every activity penalty by the batch size (meant for per-example sums).
    For a penalty on batch *means* that shrinks the book's effective weight to 0.05 / 32 at
    its batch size of 32. aekit applies the weight as the formula states, independent of the
    batch size; ``sparsity_weight=0.0016`` reproduces the book's effective objective.
    """

    fixed: ClassVar[dict[str, Any]] = {"code_activation": "sigmoid"}
    defaults: ClassVar[dict[str, Any]] = {"latent_dim": 300, "hidden": (100,), "activation": "selu"}
    greedy_refusal: ClassVar[str] = "its sparsity penalty belongs to the final code only"

    def __init__(
        self,
        input_shape: tuple[int, ...],
        *,
        sparsity: str = "kl",
        sparsity_target: float = 0.1,
        sparsity_weight: float = 0.05,
        l1_weight: float = 1e-3,
        **rest: Any,
    ) -> None:
        if sparsity not in ("kl", "l1"):
            raise unknown_choice("sparsity penalty", sparsity, ["kl", "l1"])
        if not 0.0 < sparsity_target < 1.0:
            raise AekitError(
                f"bad sparsity_target {sparsity_target}; it is a mean activation, "
                "strictly between 0 and 1 (the article uses 0.1)"
            )
        if sparsity_weight < 0 or l1_weight < 0:
            raise AekitError("sparsity_weight and l1_weight must be >= 0")
        super().__init__(input_shape, **rest)
        self.sparsity = sparsity
        self.sparsity_target = sparsity_target
        self.sparsity_weight = sparsity_weight
        self.l1_weight = l1_weight

    def code_penalty(self, code: torch.Tensor) -> torch.Tensor:
        """The article's penalty, in per-example units (see the class docstring)."""
        if self.sparsity == "l1":
            penalty = self.l1_weight * code.abs().sum(1).mean()
        else:
            penalty = self.sparsity_weight * bernoulli_kl(self.sparsity_target, code.mean(0))
        return self.input_dim * penalty
