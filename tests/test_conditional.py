"""Conditional models generate the class they are asked for."""

from __future__ import annotations

import pytest
import torch
from sklearn.linear_model import LogisticRegression

from aekit.config import RunConfig
from aekit.errors import AekitError
from aekit.models import build_model
from aekit.workflow import train


def _label_accuracy(conditioning: str) -> float:
    config = RunConfig.from_dict(
        {
            "model": {
                "name": "cvae",  # with the default code size (2-d), which this test is about
                "hidden": [256],
                "conditioning": conditioning,
            },
            "data": {"dataset": "mnist-5k"},
            "train": {"epochs": 10},
        }
    )
    result = train(config, None)
    judge = LogisticRegression(max_iter=300).fit(
        result.data.train.x.flatten(1).numpy(), result.data.train.y.numpy()
    )
    wanted = torch.arange(10).repeat_interleave(30)
    samples = result.model.sample(len(wanted), wanted, generator=torch.Generator().manual_seed(0))
    return float((judge.predict(samples.flatten(1).numpy()) == wanted.numpy()).mean())


def test_cvae_samples_are_of_the_requested_label():
    assert _label_accuracy("concat") > 0.7


@pytest.mark.slow
def test_s5_additive_conditioning_is_ignored_by_a_small_decoder():
    """Documents why ``concat`` is the default: S5's additive form stays near chance."""
    assert _label_accuracy("add") < 0.3


def test_bad_conditioning_is_a_clean_error():
    with pytest.raises(AekitError, match="unknown conditioning 'sum'; choose one of: add, concat"):
        build_model({"name": "cvae", "conditioning": "sum"}, (1, 28, 28), num_classes=10)
