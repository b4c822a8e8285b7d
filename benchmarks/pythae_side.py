"""What the benchmarks that put aekit beside pythae share: the arrays both libraries train on
(MNIST binarized once at 0.5, aekit's 54,000 / 6,000 split), whole processes timed from start
to exit (``aekit train`` as a user types it; pythae's ``TrainingPipeline`` in a process of its
own), and pythae's pipeline run with the trainer each of its models requires.

Used by ``zoo_likelihood.py``, ``zoo_representation.py`` and ``vs_pythae.py``; run them with
an interpreter that has both pythae and aekit (a venv made with ``pip install torch==2.13.0
pythae`` and ``pip install -e .``), the aekit processes with ``--aekit`` 's interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from fixed_cost import timed

# pythae models trained by a trainer other than its BaseTrainer (its TrainingPipeline refuses
# them otherwise): two optimizers for PIWAE's two objectives and for RAE-L2's decoder weight
# decay, an autoencoder and a discriminator for the adversarial ones.
COUPLED = ("PIWAE", "RAE_L2")
ADVERSARIAL = ("FactorVAE", "Adversarial_AE")


def add_run_options(parser: argparse.ArgumentParser, epochs: int) -> None:
    """The options of every part that trains on the shared arrays (pythae's process too)."""
    parser.add_argument("--data-dir", default=os.environ.get("AEKIT_DATA_DIR"))
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--limit", type=int, help="train on the first N digits (a smoke test)")
    parser.add_argument("--seed", type=int, default=0, help="training seed (both libraries)")


def add_pythae_process(subparsers, models: list[str], epochs: int) -> None:
    """The ``pythae-train`` part: the process :func:`pythae_process` starts."""
    part = subparsers.add_parser("pythae-train")
    add_run_options(part, epochs)
    part.add_argument("--model", required=True, choices=sorted(models))
    part.add_argument("--weights", type=Path, required=True)


def pythae_process(script: str, name: str, weights: Path, args: argparse.Namespace) -> float:
    """Train pythae's ``name`` in a process of its own (``script pythae-train``), its weights
    to ``weights``; whole-process seconds."""
    command = [sys.executable, script, "pythae-train", "--model", name, "--weights", str(weights)]
    command += [*data_options(args.data_dir, args.limit)]
    command += ["--epochs", str(args.epochs), "--seed", str(args.seed)]
    return timed(command, quiet=False)


def train_pythae_process(build: Callable[[str], torch.nn.Module], args: argparse.Namespace) -> None:
    """The body of that process: pythae's model ``build(args.model)`` from seeded starting
    weights, trained on the same arrays aekit trains on, its weights written out."""
    torch.manual_seed(args.seed)
    model = build(args.model)
    pythae_train(model, args.data_dir, args.limit, args.epochs, args.seed)
    save_weights(model, args.weights)


def data_config(data_dir: str | None, limit: int | None):
    from aekit.config import DataConfig

    return DataConfig(dataset="mnist", data_dir=data_dir, binarize="static", limit=limit)


def data_options(data_dir: str | None, limit: int | None) -> list[str]:
    """The command-line options that name the data (the same for both processes)."""
    return [
        *(["--data-dir", data_dir] if data_dir else []),
        *(["--limit", str(limit)] if limit else []),
    ]


def aekit_train(
    python: str, spec: dict, out: Path, data: list[str], epochs: int, seed: int
) -> float:
    """``aekit train`` of the model ``spec`` (name and options) as a user would run it, batch
    100, Adam 1e-3; whole-process seconds."""
    command = [python, "-m", "aekit", "train", "--model", spec["name"], "--dataset", "mnist"]
    command += ["--out", str(out), *data, "--binarize", "static", "--epochs", str(epochs)]
    command += ["--batch-size", "100", "--lr", "1e-3", "--seed", str(seed), "--quiet"]
    command += ["--no-progress-gif"]
    for key, value in spec.items():
        if key != "name":
            command += ["--set", f"model.{key}={json.dumps(value)}"]
    return timed(command, quiet=False)


def pythae_train(model, data_dir: str | None, limit: int | None, epochs: int, seed: int) -> None:
    """Train the pythae ``model`` in place with its ``TrainingPipeline`` on the same arrays,
    Adam 1e-3 for every player, batch 100."""
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import (
        AdversarialTrainerConfig,
        BaseTrainerConfig,
        CoupledOptimizerTrainerConfig,
    )

    from aekit.data.splits import prepare_data

    data = prepare_data(data_config(data_dir, limit))
    common = {
        "num_epochs": epochs,
        "per_device_train_batch_size": 100,
        "per_device_eval_batch_size": 100,
        "seed": seed,
        "no_cuda": True,
    }
    with tempfile.TemporaryDirectory() as tmp:
        if model.model_name in COUPLED:
            config = CoupledOptimizerTrainerConfig(
                output_dir=tmp, encoder_learning_rate=1e-3, decoder_learning_rate=1e-3, **common
            )
        elif model.model_name in ADVERSARIAL:
            config = AdversarialTrainerConfig(
                output_dir=tmp,
                autoencoder_learning_rate=1e-3,
                discriminator_learning_rate=1e-3,
                **common,
            )
        else:
            config = BaseTrainerConfig(output_dir=tmp, learning_rate=1e-3, **common)
        TrainingPipeline(model=model, training_config=config)(
            train_data=data.train.x.numpy(), eval_data=data.val.x.numpy()
        )


def save_weights(model: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)
