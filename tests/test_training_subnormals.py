"""Subnormal floats are flushed to zero on every thread that computes, once a trainer exists."""

import torch

from aekit.training.subnormals import flush_subnormals_to_zero


def test_subnormal_results_become_zero_on_every_openmp_thread():
    assert flush_subnormals_to_zero()
    # Large enough that PyTorch splits the multiplication over all its OpenMP threads; every
    # product (1e-40) is subnormal in float32, so each thread must have flushed its share.
    tiny = torch.full((1 << 22,), 1e-20) * torch.full((1 << 22,), 1e-20)
    assert torch.count_nonzero(tiny) == 0
