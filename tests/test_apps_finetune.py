"""The pieces of ``aekit finetune``: stratified labelled subsets and the step budget."""

from __future__ import annotations

import pytest
import torch

from aekit.apps.finetune import EncoderClassifier, epochs_for_steps, labelled_subset
from aekit.data.splits import Split
from aekit.errors import AekitError
from aekit.models import build_model


def ten_classes(n: int = 1000) -> Split:
    return Split(torch.rand(n, 1, 4, 4), torch.arange(n) % 10)


def test_labelled_subset_is_stratified_and_seeded():
    split = ten_classes()
    subset = labelled_subset(split, 100, seed=3)
    assert len(subset) == 100
    assert torch.bincount(subset.y, minlength=10).tolist() == [10] * 10
    again = labelled_subset(split, 100, seed=3)
    assert torch.equal(subset.x, again.x)
    assert not torch.equal(subset.x, labelled_subset(split, 100, seed=4).x)


def test_labelled_subset_errors():
    with pytest.raises(AekitError, match="has no labels"):
        labelled_subset(Split(torch.rand(20, 3), None), 10, seed=0)
    with pytest.raises(AekitError, match="more than the 1000 training examples"):
        labelled_subset(ten_classes(), 1001, seed=0)


def test_every_label_count_gets_about_the_same_number_of_steps():
    assert epochs_for_steps(50, 32) == 500  # 2 batches an epoch
    assert epochs_for_steps(10_000, 32) == 3  # 313 batches an epoch
    assert epochs_for_steps(10**6, 32) == 1


def test_freezing_trains_only_the_head():
    model = build_model({"name": "ae", "latent_dim": 4, "hidden": [8]}, (1, 4, 4))
    frozen = EncoderClassifier(model, 10, freeze=True)
    trainable = {name for name, p in frozen.named_parameters() if p.requires_grad}
    assert trainable and all(name.startswith("head.") for name in trainable)
    assert frozen(torch.rand(5, 1, 4, 4)).shape == (5, 10)
