"""Noise and binarization: the right statistics, reproducible streams, clean errors."""

from __future__ import annotations

import pytest
import torch

from aekit.config import DataConfig
from aekit.data.transforms import Noise, binarize_dynamic, binarize_static, parse_noise
from aekit.errors import AekitError


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_static_threshold_is_at_least_one_half():
    x = torch.tensor([0.0, 0.4999, 0.5, 0.5001, 1.0])
    assert binarize_static(x).tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]


def test_dynamic_is_bernoulli_with_the_pixel_as_mean():
    x = torch.tensor([0.0, 0.2, 0.7, 1.0]).repeat(20000, 1)
    draws = binarize_dynamic(x, generator())
    assert set(draws.unique().tolist()) <= {0.0, 1.0}
    means = draws.mean(0)
    assert means[0] == 0 and means[3] == 1
    assert means[1] == pytest.approx(0.2, abs=0.01) and means[2] == pytest.approx(0.7, abs=0.01)
    assert torch.equal(draws, binarize_dynamic(x, generator()))  # same seed, same draws
    assert not torch.equal(draws, binarize_dynamic(x, generator(1)))


def test_gaussian_noise_is_clipped_and_has_the_right_spread():
    x = torch.full((200, 100), 0.5)
    noisy = parse_noise("gaussian:0.1").apply(x, generator())
    assert noisy.std().item() == pytest.approx(0.1, rel=0.05)
    assert noisy.mean().item() == pytest.approx(0.5, abs=0.01)
    wide = Noise("gaussian", 2.0).apply(x, generator())
    assert wide.min() == 0 and wide.max() == 1  # clipped to [0, 1]
    assert torch.equal(noisy, parse_noise("gaussian:0.1").apply(x, generator()))
    assert torch.equal(x, torch.full((200, 100), 0.5))  # the input is not modified


def test_dropout_masks_at_rate_p_and_rescales_what_it_keeps():
    x = torch.full((400, 100), 0.5)
    out = parse_noise("dropout:0.3").apply(x, generator())
    dropped = (out == 0).float().mean().item()
    assert dropped == pytest.approx(0.3, abs=0.01)
    kept = out[out != 0]
    assert torch.allclose(kept, torch.full_like(kept, 0.5 / 0.7))


def test_only_gaussian_noise_corrupts_validation():
    assert parse_noise("gaussian:0.5").corrupts_validation
    assert not parse_noise("dropout:0.5").corrupts_validation


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("gaussian", "use gaussian:FACTOR"),
        ("salt:0.1", "use gaussian:FACTOR"),
        ("gaussian:abc", "'abc' is not a number"),
        ("gaussian:0", "positive number"),
        ("gaussian:-1", "positive number"),
        ("gaussian:nan", "positive number"),
        ("gaussian:inf", "positive number"),
        ("dropout:0", "in (0, 1)"),
        ("dropout:1", "in (0, 1)"),
        ("dropout:nan", "in (0, 1)"),
    ],
)
def test_bad_noise_specs(spec, message):
    with pytest.raises(AekitError) as caught:
        parse_noise(spec)
    assert message in str(caught.value) and spec in str(caught.value)
    with pytest.raises(AekitError):
        DataConfig(noise=spec)  # a config is checked when it is built, before any training


def test_bad_binarize_spec():
    with pytest.raises(AekitError, match="choose one of: static, dynamic"):
        DataConfig(binarize="otsu")
