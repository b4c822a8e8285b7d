"""HTML for a run shown in a notebook (``Run._repr_html_``) and in ``aekit report``: the
last epoch's numbers, and test inputs above their reconstructions.

It sits with the runs, below the figures, so it draws pictures with PIL alone: showing a
run never imports matplotlib or touches the notebook's plotting backend.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import torch
from PIL import Image

from aekit.data.images import as_images, tile
from aekit.markup import embedded_image, escape, table

ZOOM = 2  # 28 x 28 digits are too small to read at a notebook's scale


def epoch_table(final: dict[str, Any], unit: str) -> str:
    """The last epoch's train and validation numbers side by side, the loss per ``unit``."""
    names = sorted(
        {k.split("_", 1)[1] for k in final if k.startswith(("train_", "val_"))},
        key=lambda k: (k != "loss", k),
    )
    rows = [
        [f"loss (per {unit})" if n == "loss" else n, final.get(f"train_{n}"), final.get(f"val_{n}")]
        for n in names
    ]
    return table(["metric (last epoch)", "train", "validation"], rows)


def picture_rows(top: torch.Tensor, bottom: torch.Tensor) -> bytes | None:
    """Examples above their counterparts (inputs above reconstructions) as a PNG; None for
    data without a picture form (sequences, item vectors)."""
    upper, lower = as_images(top), as_images(bottom)
    if upper is None or lower is None:
        return None
    grid = tile(np.concatenate([upper, lower]), 2, len(upper), pad=2)
    image = Image.fromarray((grid * 255).round().astype(np.uint8))
    image = image.resize((image.width * ZOOM, image.height * ZOOM), Image.Resampling.NEAREST)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def summary_html(
    title: str, facts: dict[str, Any], numbers: str, strip: bytes | None, config: str
) -> str:
    """The parts of a run's summary, in the order a reader wants them."""
    parts = [
        f"<h3>{escape(title)}</h3>",
        table(["", ""], [[k, v] for k, v in facts.items()], show_header=False),
        numbers,
    ]
    if strip is not None:
        caption = "Test inputs (top) and their reconstructions (bottom)"
        image = embedded_image(strip, caption)
        parts.append(f"<figure>{image}<figcaption>{caption}</figcaption></figure>")
    parts.append(f"<details><summary>config</summary><pre>{escape(config)}</pre></details>")
    return "\n".join(parts)
