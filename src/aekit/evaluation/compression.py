"""An autoencoder as a lossy compressor: how many times smaller the code is, at what cost.

``compression_ratio`` = input bytes / code bytes, with the input counted as 8-bit pixels (one
byte per value, how MNIST-like images are stored) and the code as float32 (4 bytes per value);
``float16_compression_ratio`` is the same with 2-byte codes, as ``aekit encode --float16``
writes them. ``float16_recon_mse`` is the per-element reconstruction MSE after rounding the
codes to float16, beside the float32 ``recon_mse``: the distortion the halving costs.
Conditional models also need the label to decode; its few bits are not counted.
"""

from __future__ import annotations

from typing import Any

import torch

from aekit.data.splits import Split
from aekit.models.base import Autoencoder
from aekit.runs import inference

INPUT_BYTES_PER_VALUE = 1  # 8-bit pixels


def compression_metrics(model: Autoencoder, split: Split, codes: torch.Tensor) -> dict[str, Any]:
    """Compression ratios of float32 and float16 codes, and the MSE of float16 codes."""
    input_bytes = model.input_dim * INPUT_BYTES_PER_VALUE
    code_values = codes.shape[1]
    recon = inference.decode(model, codes.half().float(), split.y).clamp(0.0, 1.0)
    return {
        "compression_ratio": input_bytes / (code_values * 4),
        "float16_compression_ratio": input_bytes / (code_values * 2),
        "float16_recon_mse": (recon - split.x).square().mean().item(),
    }
