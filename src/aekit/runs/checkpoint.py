"""Saving and loading models and training state as safetensors: no pickle anywhere.

``model.safetensors`` holds the weights and, in its metadata, the model's name and
hyper-parameters, so the file alone rebuilds the model. ``checkpoint.safetensors`` adds the
optimizer state and random-number-generator states that make a resumed run continue exactly
where the interrupted one stopped. Both are written atomically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from aekit.errors import AekitError
from aekit.io import atomic_save
from aekit.models.base import Autoencoder, build_model

MODEL_KEY = "aekit_model"
STATE_KEY = "aekit_state"


def save_model(model: Autoencoder, path: str | os.PathLike) -> None:
    """Write the weights with the model's description in the metadata."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    metadata = {MODEL_KEY: json.dumps(model.describe())}
    atomic_save(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def _read(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    path = Path(path)
    if not path.is_file():
        raise AekitError(f"{path}: file not found")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise AekitError(f"{path}: not a readable safetensors file ({exc})") from None
    return tensors, metadata


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> Autoencoder:
    """Rebuild a model from ``model.safetensors`` (or a checkpoint) and load its weights."""
    tensors, metadata = _read(path)
    if MODEL_KEY not in metadata:
        raise AekitError(f"{path}: not an aekit model file (no model description in it)")
    model = _build_from_description(json.loads(metadata[MODEL_KEY]))
    weights = {
        k.removeprefix("model/"): v
        for k, v in tensors.items()
        if not k.startswith(("optim/", "rng/"))
    }
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise AekitError(
            f"{path}: weights do not fit the model ({str(exc).splitlines()[0]})"
        ) from None
    return model.to(device).eval()


def _build_from_description(desc: dict[str, Any]) -> Autoencoder:
    return build_model(
        {"name": desc["name"], **desc["params"]},
        tuple(desc["input_shape"]),
        desc.get("num_classes"),
    )


def save_checkpoint(
    path: str | os.PathLike,
    model: Autoencoder,
    optimizer: torch.optim.Optimizer,
    rng: dict[str, torch.Tensor],
    state: dict[str, Any],
) -> None:
    """Everything needed to resume: weights, optimizer, RNG states and the trainer's counters."""
    tensors = {f"model/{k}": v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for index, entry in opt["state"].items():
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"optim/{index}/{key}"] = value.detach().contiguous().cpu()
            else:
                scalars.setdefault(str(index), {})[key] = value
    tensors.update({f"rng/{k}": v.contiguous().cpu() for k, v in rng.items()})
    metadata = {
        MODEL_KEY: json.dumps(model.describe()),
        STATE_KEY: json.dumps(
            {"trainer": state, "param_groups": opt["param_groups"], "optim_scalars": scalars}
        ),
    }
    atomic_save(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def load_checkpoint(
    path: str | os.PathLike, model: Autoencoder, optimizer: torch.optim.Optimizer
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Restore weights and optimizer in place; return the RNG states and trainer counters."""
    tensors, metadata = _read(path)
    if STATE_KEY not in metadata:
        raise AekitError(f"{path}: not an aekit training checkpoint")
    meta = json.loads(metadata[STATE_KEY])
    weights = {k[6:]: v for k, v in tensors.items() if k.startswith("model/")}
    model.load_state_dict(weights)
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim/"):
            _, index, name = key.split("/", 2)
            state.setdefault(int(index), {})[name] = value
    for index, entries in meta["optim_scalars"].items():
        state.setdefault(int(index), {}).update(entries)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    _match_parameter_layouts(optimizer)
    rng = {k[4:]: v for k, v in tensors.items() if k.startswith("rng/")}
    return rng, meta["trainer"]


def _match_parameter_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give each loaded state tensor its parameter's memory layout (channels-last weights).

    Why: the file holds contiguous tensors, and fused Adam walks a parameter and its averages
    as flat memory, so averages in another layout than the weights update the wrong elements,
    silently.
    """
    for group in optimizer.param_groups:
        for param in group["params"]:
            entry = optimizer.state.get(param, {})
            for key, value in entry.items():
                if torch.is_tensor(value) and value.shape == param.shape:
                    entry[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)
