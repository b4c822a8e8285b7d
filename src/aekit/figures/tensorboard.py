"""``--tensorboard``: every logged metric and an image grid per epoch, in ``RUN/tensorboard/``.

View with ``tensorboard --logdir RUN/tensorboard``. Needs the optional ``tensorboard``
package (``pip install aekit[tensorboard]``); aekit itself does not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from aekit.data.images import as_images, tile
from aekit.errors import AekitError
from aekit.runs import inference

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

    from aekit.models.base import Autoencoder
    from aekit.training.trainer import Trainer

IMAGES = 16


def _summary_writer_class() -> type[SummaryWriter]:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise AekitError(
            "--tensorboard needs the tensorboard package: pip install 'aekit[tensorboard]'"
        ) from None
    return SummaryWriter


class TensorBoardLogger:
    """Trainer callback writing scalars (every metric of every epoch) and, for image data,
    a grid of 16 test reconstructions (and 16 prior samples for generative models)."""

    def __init__(self) -> None:
        self.writer_class = _summary_writer_class()  # fail before training, not after it
        self.writer: SummaryWriter | None = None
        self.inputs: tuple[torch.Tensor, torch.Tensor | None] | None = None
        self.labels: torch.Tensor | None = None  # conditional models: the samples' classes

    def on_train_begin(self, trainer: Trainer) -> None:
        if trainer.run is None or trainer.run.path is None:
            raise AekitError("--tensorboard needs a run directory (--out)")
        # A resumed run drops the events logged after its checkpoint.
        self.writer = self.writer_class(
            str(trainer.run.path / "tensorboard"), purge_step=trainer.epoch + 1
        )
        test = trainer.run.data.test.subset(IMAGES)
        self.inputs = (test.x, test.y)
        classes = trainer.model.num_classes if trainer.model.conditional else None
        self.labels = None if classes is None else torch.arange(IMAGES) % classes

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, Any]) -> None:
        assert self.writer is not None, "on_train_begin() made it"
        epoch = metrics["epoch"]
        for key, value in metrics.items():
            if key != "epoch" and isinstance(value, (int, float)):
                self.writer.add_scalar(_tag(key), value, epoch)
        for tag, batch in self._image_batches(trainer.model).items():
            pictures = as_images(batch)
            if pictures is not None:
                grid = tile(pictures, 4, 4)
                self.writer.add_image(tag, grid, epoch, dataformats=_formats(grid))
        self.writer.flush()

    def on_train_end(self, trainer: Trainer) -> None:
        if self.writer is not None:
            self.writer.close()

    def _image_batches(self, model: Autoencoder) -> dict[str, torch.Tensor]:
        assert self.inputs is not None, "on_train_begin() chose them"
        x, y = self.inputs
        batches = {"reconstructions": inference.reconstruct(model, x, y)}
        if model.generative:
            generator = torch.Generator().manual_seed(0)
            batches["samples"] = inference.sample(model, IMAGES, self.labels, generator)
        return batches


def _tag(key: str) -> str:
    """``train_loss`` -> ``loss/train``: TensorBoard then plots train and val together."""
    split, _, metric = key.partition("_")
    return f"{metric}/{split}" if split in ("train", "val") and metric else key


def _formats(grid: np.ndarray) -> str:
    return "HWC" if grid.ndim == 3 else "HW"
