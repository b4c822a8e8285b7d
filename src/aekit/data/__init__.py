"""Data in: named data sets and user files, splits, binarization, noise and batching."""

from aekit.data.splits import DataBundle, Split, prepare_data

__all__ = ["DataBundle", "Split", "prepare_data"]
