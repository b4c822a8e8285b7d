"""Attribute directions: where in code space an attribute lies, kept with the run.

The direction of an attribute with per-example values a is the least-squares slope of the
codes on a, d = cov(z, a) / var(a). For a 0/1 attribute that is the mean code of the examples
with it less the mean code of those without (the "attribute vectors" of Larsen et al. 2016
and White 2016, "Sampling generative networks"): adding d to the code of an example without
the attribute moves it to where the average example with it lies. For a numeric attribute
(stroke thickness, say) it is the change of the code per unit of the attribute.

Attributes come from the labels (``label:K``: class K against every other; ``label:J:K``:
from class J to class K, other classes left out) or from a ``.npy`` file of one value per
example of the data the codes are taken from (NaN leaves an example out). A direction is
kept as ``RUN/attributes/NAME.safetensors`` with the digest of the weights it was computed
from, so a retrained model does not edit along a stale one; ``aekit plot RUN edit`` draws
inputs moved along it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from aekit.errors import AekitError

if TYPE_CHECKING:
    from aekit.data.splits import Split
    from aekit.runs.directory import Run


@dataclass
class Attribute:
    """Per-example values of an attribute (NaN: left out) and where they came from."""

    name: str
    spec: str
    values: np.ndarray
    from_label: int | None = None  # label:J:K -> J
    to_label: int | None = None  # label:K and label:J:K -> K


@dataclass
class Direction:
    """A direction in code space: add ``amount * vector`` to a code to move along it."""

    name: str
    spec: str
    vector: torch.Tensor
    examples: int  # how many examples it was computed from
    from_label: int | None = None
    to_label: int | None = None

    def starts(self, labels: torch.Tensor | None) -> torch.Tensor | None:
        """Which examples to move along it: those of the class it starts from (``label:J:K``),
        those without the class it leads to (``label:K``); None: any."""
        if labels is None or self.to_label is None:
            return None
        if self.from_label is not None:
            return labels == self.from_label
        return labels != self.to_label


def parse_attribute(spec: str, split: Split) -> Attribute:
    """The values of ``spec`` for every example of ``split``."""
    if spec.startswith("label:"):
        return _label_attribute(spec, split)
    if spec.endswith(".npy"):
        return _file_attribute(Path(spec), len(split))
    raise AekitError(f"bad --attribute {spec!r}: use label:K, label:J:K or FILE.npy")


def _label_attribute(spec: str, split: Split) -> Attribute:
    if split.y is None:
        raise AekitError(f"--attribute {spec}: these data have no labels; give a FILE.npy")
    try:
        classes = [int(part) for part in spec.split(":")[1:]]
    except ValueError:
        classes = []
    if len(classes) not in (1, 2) or len(set(classes)) != len(classes):
        raise AekitError(f"bad --attribute {spec!r}: use label:K or label:J:K with J != K")
    labels = split.y.numpy()
    missing = [k for k in classes if not (labels == k).any()]
    if missing:
        raise AekitError(f"--attribute {spec}: the data have no example of label {missing[0]}")
    to_label = classes[-1]
    values = (labels == to_label).astype(np.float64)
    if len(classes) == 2:
        values[(labels != classes[0]) & (labels != to_label)] = np.nan
        name = f"label-{classes[0]}-to-{to_label}"
        return Attribute(name, spec, values, classes[0], to_label)
    return Attribute(f"label-{to_label}", spec, values, None, to_label)


def _file_attribute(path: Path, examples: int) -> Attribute:
    try:
        values = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise AekitError(f"cannot read the attribute file {path}: {err}") from None
    if values.dtype.kind not in "biuf":
        raise AekitError(f"{path}: an attribute holds numbers (0/1, or any numeric value)")
    values = values.astype(np.float64).reshape(-1)
    if len(values) != examples:
        raise AekitError(
            f"{path}: {values.size} values for {examples} examples; give one value per "
            "example of the data the codes are taken from (--input)"
        )
    return Attribute(re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem), str(path), values)


def attribute_direction(codes: torch.Tensor, attribute: Attribute) -> Direction:
    """The least-squares slope of ``codes`` on the attribute's values (see the module)."""
    used = np.isfinite(attribute.values)
    values = torch.from_numpy(attribute.values[used])
    if len(values) < 2 or float(values.var()) == 0:
        raise AekitError(
            f"--attribute {attribute.spec}: its value is the same for every example used, "
            "so no direction separates them"
        )
    z = codes[torch.from_numpy(used)].double()
    centred = values - values.mean()
    slope = centred @ (z - z.mean(0)) / centred.square().sum()
    return Direction(
        attribute.name,
        attribute.spec,
        slope.float(),
        int(used.sum()),
        attribute.from_label,
        attribute.to_label,
    )


def save_direction(run: Run, direction: Direction) -> Path:
    """Keep ``direction`` with the run, tied to the weights it was computed from."""
    from aekit.runs.checkpoint import write_tensors

    path = run.attributes / f"{direction.name}.safetensors"
    about = {
        "spec": direction.spec,
        "examples": direction.examples,
        "from_label": direction.from_label,
        "to_label": direction.to_label,
    }
    metadata = {"model": run.weights_digest(), "attribute": json.dumps(about)}
    write_tensors(path, {"direction": direction.vector.contiguous()}, metadata)
    return path


def saved_directions(run: Run) -> list[str]:
    return sorted(path.stem for path in run.attributes.glob("*.safetensors"))


def load_direction(run: Run, name: str | None) -> Direction:
    """The direction called ``name`` (the newest kept, if None), refusing a stale one."""
    from safetensors import SafetensorError, safe_open

    kept = saved_directions(run)
    if name is None and kept:
        name = max(kept, key=lambda n: (run.attributes / f"{n}.safetensors").stat().st_mtime)
    if name not in kept:
        asked = f" called {name!r}" if name else ""
        raise AekitError(f"{run.name} has no attribute direction{asked}. {_which(run, kept)}")
    path = run.attributes / f"{name}.safetensors"
    try:
        with safe_open(str(path), "pt") as handle:
            metadata, vector = handle.metadata() or {}, handle.get_tensor("direction")
        about = json.loads(metadata["attribute"])
    except (OSError, SafetensorError, KeyError, ValueError):
        raise AekitError(f"{path} is damaged; compute it again with `aekit attribute`") from None
    if metadata.get("model") != run.weights_digest():
        raise AekitError(
            f"the direction {name!r} was computed from other weights than {run.name}'s; "
            f"compute it again: aekit attribute {run.path} --attribute {about['spec']}"
        )
    return Direction(
        name, about["spec"], vector, about["examples"], about["from_label"], about["to_label"]
    )


def _which(run: Run, kept: list[str]) -> str:
    if not kept:
        return f"Compute one first: aekit attribute {run.path} --attribute label:K"
    return f"It has {', '.join(kept)}."
