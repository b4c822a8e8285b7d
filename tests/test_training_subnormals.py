"""Subnormal floats are flushed to zero on every thread while training, and only then."""

import numpy as np
import torch

from aekit.training.subnormals import flushing_now, subnormals_flushed


def test_subnormal_results_become_zero_on_every_openmp_thread_inside_the_block():
    torch.set_num_threads(2)  # the suite runs on one thread; this is about the others
    before = flushing_now()
    with subnormals_flushed() as supported:
        assert supported
        # Large enough that PyTorch splits the multiplication over all its OpenMP threads;
        # every product (1e-40) is subnormal in float32, so each thread must have flushed its
        # share.
        tiny = torch.full((1 << 22,), 1e-20) * torch.full((1 << 22,), 1e-20)
        assert torch.count_nonzero(tiny) == 0
    assert flushing_now() == before
    again = torch.full((1 << 22,), 1e-20) * torch.full((1 << 22,), 1e-20)
    assert torch.count_nonzero(again) == (0 if before else 1 << 22)
    assert np.float32(1e-20) * np.float32(1e-20) != 0  # numpy's arithmetic is the user's again
