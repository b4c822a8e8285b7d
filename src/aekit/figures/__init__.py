"""Figures: what a model learned, as PNG files (matplotlib, Agg backend, no display needed)."""
