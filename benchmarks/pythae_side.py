"""What the benchmarks that put aekit beside pythae share: the arrays both libraries train on
(MNIST binarized once at 0.5, aekit's 54,000 / 6,000 split), whole processes timed from start
to exit (``aekit train`` as a user types it; pythae's ``TrainingPipeline`` in a process of its
own), and pythae's pipeline run with the trainer each of its models requires.

Used by ``zoo_likelihood.py`` and ``zoo_representation.py``; run those with an interpreter
that has both pythae and aekit (a venv made with ``pip install torch==2.13.0 pythae`` and
``pip install -e .``), the aekit processes with ``--aekit`` 's interpreter.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path

import torch

# pythae models trained by a trainer other than its BaseTrainer (its TrainingPipeline refuses
# them otherwise): two optimizers for PIWAE's two objectives and for RAE-L2's decoder weight
# decay, an autoencoder and a discriminator for the adversarial ones.
COUPLED = ("PIWAE", "RAE_L2")
ADVERSARIAL = ("FactorVAE", "Adversarial_AE")


def data_config(data_dir: str | None, limit: int | None):
    from aekit.config import DataConfig

    return DataConfig(dataset="mnist", data_dir=data_dir, binarize="static", limit=limit)


def data_options(data_dir: str | None, limit: int | None) -> list[str]:
    """The command-line options that name the data (the same for both processes)."""
    return [
        *(["--data-dir", data_dir] if data_dir else []),
        *(["--limit", str(limit)] if limit else []),
    ]


def timed(command: list[str]) -> float:
    """Whole-process seconds of ``command``, from start to exit."""
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


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
    return timed(command)


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
