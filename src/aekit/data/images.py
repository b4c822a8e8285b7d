"""The picture form of examples (what figures, the report and notebooks show), and grids."""

from __future__ import annotations

import math

import numpy as np
import torch


def as_images(x: torch.Tensor | np.ndarray) -> np.ndarray | None:
    """(N, *shape) -> (N, H, W) or (N, H, W, 3) floats in [0, 1], or None if not image-like.

    Single-channel images and flat vectors of a square length (784 -> 28x28) are shown grey;
    3-channel images in colour. Sequences (N, T, F) and other vectors have no natural picture
    (figures draw them as lines); MNIST read row by row stays (N, 1, 28, 28), an image.
    """
    arr: np.ndarray = (
        x.detach().float().cpu().numpy() if torch.is_tensor(x) else np.asarray(x, np.float32)
    )
    arr = np.clip(arr, 0.0, 1.0)
    if arr.ndim == 4 and arr.shape[1] == 1:
        grey: np.ndarray = arr[:, 0]
        return grey
    if arr.ndim == 4 and arr.shape[1] == 3:
        colour: np.ndarray = arr.transpose(0, 2, 3, 1)
        return colour
    if arr.ndim == 2:
        side = math.isqrt(arr.shape[1])
        if side * side == arr.shape[1]:
            return arr.reshape(-1, side, side)
    return None


def tile(images: np.ndarray, rows: int, cols: int, pad: int = 1) -> np.ndarray:
    """Arrange ``rows * cols`` images (missing ones blank) into one array with white gaps."""
    n, h, w = images.shape[:3]
    extra = images.shape[3:]
    canvas = np.ones((rows * (h + pad) - pad, cols * (w + pad) - pad, *extra), np.float32)
    for i in range(min(n, rows * cols)):
        r, c = divmod(i, cols)
        canvas[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = images[i]
    return canvas
