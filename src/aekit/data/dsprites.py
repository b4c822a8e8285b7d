"""``dsprites``: 64x64 binary images of one sprite, rendered from the factors of Matthey et
al.'s dSprites (2017): 3 shapes (square, ellipse, heart), 6 scales, 40 orientations and 32 x 32
positions, every factor independent. Any combination of factors can be drawn exactly, which is
what the disentanglement metrics need (fix one factor, vary the rest), and nothing is
downloaded.

Where it differs from the original: the sprites are drawn here (inside-outside tests at pixel
centres), so the pixels are not DeepMind's, and the named data set is a seeded random
selection of 50,000 training and 10,000 test combinations from the 737,280 (the whole grid as
float32 would take 12 GB); ``render`` draws any others.
"""

from __future__ import annotations

import math

import numpy as np

from aekit.data.raw import RawData

FACTORS = ("shape", "scale", "orientation", "x", "y")
SIZES = (3, 6, 40, 32, 32)
SIDE = 64
TRAIN, TEST = 50_000, 10_000
SPRITE_RADIUS = 0.14  # half-size of a scale-1 sprite, as a fraction of the image side


def sample_factors(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` combinations of factor indices (n, 5), each factor uniform and independent."""
    return np.stack([rng.integers(size, size=n) for size in SIZES], axis=1)


def render(factors: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Images (n, 1, 64, 64) float32 in {0, 1} of the sprites with these factor indices."""
    out = np.empty((len(factors), 1, SIDE, SIDE), dtype=np.float32)
    for start in range(0, len(factors), chunk):
        part = factors[start : start + chunk]
        out[start : start + len(part), 0] = _inside(part)
    return out


def _inside(factors: np.ndarray) -> np.ndarray:
    """Which pixel centres lie inside each sprite, in the sprite's own rotated, scaled frame."""
    shape, scale, orientation, x, y = (factors[:, i] for i in range(5))
    size = ((0.5 + 0.5 * scale / (SIZES[1] - 1)) * SPRITE_RADIUS).astype(np.float32)
    angle = (2 * math.pi * orientation / SIZES[2]).astype(np.float32)
    centre_x = (0.2 + 0.6 * x / (SIZES[3] - 1)).astype(np.float32)
    centre_y = (0.2 + 0.6 * y / (SIZES[4] - 1)).astype(np.float32)
    pixels = ((np.arange(SIDE) + 0.5) / SIDE).astype(np.float32)
    dx = pixels[None, None, :] - centre_x[:, None, None]
    dy = pixels[None, :, None] - centre_y[:, None, None]
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    u = (cos * dx + sin * dy) / size[:, None, None]
    v = (-sin * dx + cos * dy) / size[:, None, None]
    inside = np.empty(u.shape, dtype=bool)
    for kind, test in enumerate((_square, _ellipse, _heart)):
        rows = shape == kind
        inside[rows] = test(u[rows], v[rows])
    return inside


def _square(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    inside: np.ndarray = np.maximum(np.abs(u), np.abs(v)) <= 0.8
    return inside


def _ellipse(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return u**2 + (v / 0.5) ** 2 <= 1.0


def _heart(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The heart curve (x^2 + y^2 - 1)^3 <= x^2 y^3, point down in image coordinates."""
    x, y = 1.1 * u, 0.1 - 1.1 * v
    return (x**2 + y**2 - 1) ** 3 - x**2 * y**3 <= 0


def load_dsprites(_data_dir: str | None) -> RawData:
    """The named data set: seeded combinations, labelled by shape."""
    rng = np.random.default_rng(0)
    train, test = sample_factors(TRAIN, rng), sample_factors(TEST, rng)
    return RawData("dsprites", render(train), train[:, 0].copy(), render(test), test[:, 0].copy())
