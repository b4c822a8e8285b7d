"""--precision bf16 on a CPU that only emulates bf16 says so."""

from __future__ import annotations

import platform
import warnings
from pathlib import Path

import pytest

from aekit.config import TrainConfig
from aekit.errors import AekitWarning
from aekit.models import build_model
from aekit.training import internals
from aekit.training.trainer import Trainer


def small():
    return build_model({"name": "ae", "latent_dim": 4, "hidden": [8]}, (1, 8, 8))


def test_bf16_without_native_support_warns_and_with_it_does_not(monkeypatch):
    monkeypatch.setattr(internals, "cpu_has_native_bf16", lambda: False)
    with pytest.warns(AekitWarning, match="no native bf16"):
        Trainer(small(), TrainConfig(precision="bf16", device="cpu"))
    for answer in (True, None):  # native, or not known: nothing to say
        monkeypatch.setattr(internals, "cpu_has_native_bf16", lambda answer=answer: answer)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            Trainer(small(), TrainConfig(precision="bf16", device="cpu"))


@pytest.mark.skipif(
    platform.machine() != "x86_64" or not Path("/proc/cpuinfo").is_file(),
    reason="compares with Linux's x86 CPU flags",
)
def test_the_bf16_probe_agrees_with_the_cpu_flags():
    flags = set(Path("/proc/cpuinfo").read_text().split())
    assert internals.cpu_has_native_bf16() == bool({"avx512_bf16", "amx_tile"} & flags)
