"""Saving and loading models and training state as safetensors: no pickle anywhere.

``model.safetensors`` holds the weights and, in its metadata, the model's name and
hyper-parameters (so the file alone rebuilds the model) and the epoch they are from.
``checkpoint.safetensors`` adds the optimizer state, the random-number-generator states and
the trainer's state, which includes every epoch's metrics row and the epoch whose weights
``model.safetensors`` should hold: the checkpoint is the one file an epoch commits, and the
others can be rebuilt from it (:meth:`aekit.runs.directory.Run.repair`). Both are written
atomically.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from aekit.errors import AekitError
from aekit.io import atomic_save, to_json
from aekit.models.base import Autoencoder, build_model

MODEL_KEY = "aekit_model"
EPOCH_KEY = "aekit_epoch"
STATE_KEY = "aekit_state"


def save_model(model: Autoencoder, path: str | os.PathLike[str], epoch: int | None = None) -> None:
    """Write the weights with the model's description (and their epoch) in the metadata."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    metadata = {MODEL_KEY: to_json(model.describe())}
    if epoch is not None:
        metadata[EPOCH_KEY] = str(epoch)
    write_tensors(path, tensors, metadata)


def write_tensors(
    path: str | os.PathLike[str], tensors: dict[str, torch.Tensor], metadata: dict[str, str]
) -> None:
    """safetensors' ``save_file``, atomically; its I/O errors (a full disk) are
    :class:`WriteFailed`, as any other write's."""

    def save(tmp: str) -> None:
        try:
            save_file(tensors, tmp, metadata=metadata)
        except SafetensorError as exc:
            code = re.search(r"os error (\d+)", str(exc))
            if code is None:
                raise
            raise OSError(int(code[1]), os.strerror(int(code[1]))) from None

    atomic_save(path, save)


def _metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """A safetensors file's metadata, without reading its tensors."""
    path = Path(path)
    if not path.is_file():
        raise AekitError(f"{path}: file not found")
    try:
        with safe_open(str(path), framework="pt") as handle:
            return handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise AekitError(f"{path}: not a readable safetensors file ({exc})") from None


def _read(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    metadata = _metadata(path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise AekitError(f"{path}: not a readable safetensors file ({exc})") from None
    return tensors, metadata


def _json(metadata: dict[str, str], key: str, path: str | os.PathLike[str], what: str) -> Any:
    try:
        return json.loads(metadata[key])
    except KeyError:
        raise AekitError(f"{path}: not an aekit {what} (no {key} in its metadata)") from None
    except json.JSONDecodeError:
        raise AekitError(f"{path}: its {key} metadata is not valid JSON") from None


def model_epoch(path: str | os.PathLike[str]) -> int | None:
    """The epoch whose weights a model file holds (None: not recorded)."""
    value = _metadata(path).get(EPOCH_KEY)
    return int(value) if value is not None and value.isdigit() else None


def load_model(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> Autoencoder:
    """Rebuild a model from ``model.safetensors`` (or a checkpoint) and load its weights.

    The description is checked against the file's tensors before the model is allocated (a
    description claiming a 10^7-d code fails here, not after a 10 GiB allocation), and weights
    that are not finite numbers are refused: they are the remains of a diverged run."""
    tensors, metadata = _read(path)
    description = _json(metadata, MODEL_KEY, path, "model file")
    weights = {
        k.removeprefix("model/"): v
        for k, v in tensors.items()
        if not k.startswith(("optim/", "rng/"))
    }
    try:
        with torch.device("meta"):
            skeleton = _build_from_description(description)
        expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
        found = {k: tuple(v.shape) for k, v in weights.items()}
        if expected != found:
            raise AekitError(f"{path}: the weights do not fit the model it describes")
        with torch.random.fork_rng(devices=[]):  # its starting weights are overwritten:
            model = _build_from_description(description)  # the caller's RNG stays as it was
    except (KeyError, TypeError, ValueError) as exc:
        raise AekitError(f"{path}: its model description is not valid ({exc})") from None
    bad = [k for k, v in weights.items() if v.is_floating_point() and not v.isfinite().all()]
    if bad:
        raise AekitError(
            f"{path}: weights {bad[0]} hold NaN or infinite values (the run diverged); "
            "train again with a lower --lr"
        )
    model.load_state_dict(weights)
    return model.to(device).eval()


def _build_from_description(desc: dict[str, Any]) -> Autoencoder:
    if not isinstance(desc, dict) or not isinstance(desc.get("params"), dict):
        raise ValueError("expected name, params, input_shape and num_classes")
    return build_model(
        {"name": desc["name"], **desc["params"]},
        tuple(desc["input_shape"]),
        desc.get("num_classes"),
    )


def save_checkpoint(
    path: str | os.PathLike[str],
    model: Autoencoder,
    optimizer: torch.optim.Optimizer,
    rng: dict[str, torch.Tensor],
    state: dict[str, Any],
) -> None:
    """Everything needed to resume: weights, optimizer, RNG states and the trainer's state."""
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
        MODEL_KEY: to_json(model.describe()),
        STATE_KEY: to_json(
            {"trainer": state, "param_groups": opt["param_groups"], "optim_scalars": scalars}
        ),
    }
    write_tensors(path, tensors, metadata)


def checkpoint_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The trainer's state in a checkpoint (epoch, counters, metrics rows), read from its
    metadata alone."""
    state = _json(_metadata(path), STATE_KEY, path, "training checkpoint")
    trainer: dict[str, Any] = state["trainer"]
    return trainer


def load_checkpoint(
    path: str | os.PathLike[str], model: Autoencoder, optimizer: torch.optim.Optimizer
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Restore weights and optimizer in place; return the RNG states and trainer counters."""
    tensors, metadata = _read(path)
    meta = _json(metadata, STATE_KEY, path, "training checkpoint")
    weights = {k[6:]: v for k, v in tensors.items() if k.startswith("model/")}
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise AekitError(
            f"{path}: the checkpoint does not fit the model the run's config.yaml describes "
            f"({str(exc).splitlines()[-1].strip()}); was the config edited?"
        ) from None
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim/"):
            _, index, name = key.split("/", 2)
            state.setdefault(int(index), {})[name] = value
    for index, entries in meta["optim_scalars"].items():
        state.setdefault(int(index), {}).update(entries)
    if [set(g) for g in meta["param_groups"]] != [set(g) for g in optimizer.param_groups]:
        raise AekitError(
            f"{path}: the checkpoint's optimizer is not the one the run's config.yaml names; "
            "was the config edited?"
        )
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
