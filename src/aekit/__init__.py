"""aekit: autoencoders for learning, research and real work.

``import aekit`` stays light (no torch, no scikit-learn): the names below are imported the
first time they are used, so ``aekit --help`` and ``from aekit import train`` start fast.

- :class:`AutoencoderTransformer`: scikit-learn transformer, a drop-in replacement for PCA;
- :class:`AutoencoderAnomalyDetector`: scikit-learn outlier detector by reconstruction error;
- :func:`train`, :func:`resume`: train a run end to end (data, model, run directory, figures);
- :func:`inpaint`, :func:`make_mask`: fill hidden pixels with a trained model;
- :class:`Run`, :func:`open_run`, :func:`load_model`: open trained runs and models (in a
  notebook a ``Run`` shows its numbers, reconstructions and config);
- :func:`evaluate`: the numbers ``aekit evaluate`` reports, as a dict;
- :func:`plot`: any figure of ``aekit plot`` as a matplotlib figure (shown inline in Jupyter).
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {  # public name -> module (which defines it under that name, or as _RENAMED says)
    "AutoencoderTransformer": "aekit.apps.estimators",
    "AutoencoderAnomalyDetector": "aekit.apps.anomaly",
    "RunConfig": "aekit.config",
    "inpaint": "aekit.apps.inpaint",
    "make_mask": "aekit.apps.inpaint",
    "Run": "aekit.runs",
    "train": "aekit.workflow",
    "resume": "aekit.workflow",
    "load_model": "aekit.runs.checkpoint",
    "open_run": "aekit.runs",
    "plot": "aekit.figures.kinds",
    "evaluate": "aekit.evaluation.report",
}
_RENAMED = {"plot": "figure"}  # figures.kinds.plot writes files; aekit.plot returns a figure

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'aekit' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), _RENAMED.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
