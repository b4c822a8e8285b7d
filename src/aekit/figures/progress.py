"""The progress GIF (S17): the same 16 codes decoded after every epoch, one frame each.

Generative models decode 16 draws from their prior made from the same random numbers every
epoch, so every frame shows the same points of the code space (the same codes, for a fixed
prior such as N(0, I); a learned prior, such as the VampPrior, maps them through its current
state). A plain autoencoder's code space has no fixed distribution: it moves
and rescales while training, so fixed code vectors would land somewhere different every epoch.
For those models the frames show the reconstructions of 16 fixed test inputs instead, which
shows the same thing the article's GIF shows: the decoder sharpening, epoch by epoch.

Frames are small PNGs in ``RUN/figures/progress/epoch-NNNN.png`` (frame 0 is before the first
epoch), so a resumed run adds to the frames of the interrupted one and its GIF is complete.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from aekit.errors import AekitError
from aekit.figures.kinds import PROGRESS_FRAMES
from aekit.figures.options import PlotOptions
from aekit.figures.plotting import example_grid, save_figure
from aekit.io import atomic_save
from aekit.runs import inference
from aekit.runs.directory import Run

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from aekit.models.base import Autoencoder
    from aekit.training.trainer import Trainer

FRAMES = 16
FRAME_INCHES = (4.0, 4.4)
_FRAME = re.compile(r"epoch-(\d+)\.png")


def write_gif(run: Run, options: PlotOptions, path: Path) -> Path:
    """The ``progress`` figure kind: the run's frames joined into a GIF."""
    return assemble_gif(run.figures / PROGRESS_FRAMES, path)


class ProgressGif:
    """Trainer callback: one frame per epoch, the GIF when training ends.

    ``enabled=None`` (the CLI default) draws it for generative models only, as S17 does
    (not for recommendation data, whose examples are item vectors with no picture).
    """

    def __init__(self, enabled: bool | None = None, seed: int = 0) -> None:
        self.enabled = enabled
        self.seed = seed
        self.prior = False  # decode prior draws (generative models), else reconstructions
        self.inputs: tuple[torch.Tensor, torch.Tensor | None] | None = None

    def on_train_begin(self, trainer: Trainer) -> None:
        model = trainer.model
        if self.enabled is None:
            run = trainer.run
            self.enabled = model.generative and not (run is not None and run.data.interactions)
        if not self.enabled:
            return
        if trainer.run is None or trainer.run.path is None:
            raise AekitError("the progress GIF needs a run directory (--out)")
        self.folder = trainer.run.figures / PROGRESS_FRAMES
        for stale in self._frames():
            if _epoch_of(stale) > trainer.epoch:  # after the checkpoint, or an overwritten run
                stale.unlink()
        self._fix_points(trainer)
        self._draw(trainer, trainer.epoch)  # frame 0, or the checkpoint's (may be missing)

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, Any]) -> None:
        if self.enabled:
            self._draw(trainer, metrics["epoch"])

    def on_train_end(self, trainer: Trainer) -> None:
        if self.enabled:
            assert trainer.run is not None, "on_train_begin() refused a run without a folder"
            assemble_gif(self.folder, trainer.run.figures / "progress.gif")

    # -- internals ----------------------------------------------------------------------
    def _fix_points(self, trainer: Trainer) -> None:
        model = trainer.model
        if model.generative:
            self.prior = True
            return
        assert trainer.run is not None, "on_train_begin() refused a run without a folder"
        test = trainer.run.data.test.subset(FRAMES)
        self.inputs = (test.x, test.y)

    def _decoded(self, model: Autoencoder) -> torch.Tensor:
        if self.prior:
            with torch.no_grad():
                codes = model.eval().draw_prior(FRAMES, torch.Generator().manual_seed(self.seed))
            classes = model.num_classes if model.conditional else None
            labels = None if classes is None else torch.arange(FRAMES) % classes
            return inference.decode(model, codes, labels)
        assert self.inputs is not None, "_fix_points() chose them"
        return inference.reconstruct(model, *self.inputs)

    def _draw(self, trainer: Trainer, epoch: int) -> None:
        what = "16 fixed prior draws" if self.prior else "16 test reconstructions"
        fig = example_grid(
            self._decoded(trainer.model),
            4,
            4,
            title=f"epoch {epoch}: {what}",
            figsize=FRAME_INCHES,
        )
        save_figure(fig, self._frame_path(epoch))  # assemble_gif evens out the sizes

    def _frame_path(self, epoch: int) -> Path:
        return self.folder / f"epoch-{epoch:04d}.png"

    def _frames(self) -> list[Path]:
        return sorted(self.folder.glob("epoch-*.png"), key=_epoch_of)


def _epoch_of(path: Path) -> int:
    match = _FRAME.fullmatch(path.name)
    return int(match.group(1)) if match else -1


def assemble_gif(folder: Path, path: Path, seconds_per_frame: float = 0.4) -> Path:
    """Join the frames in ``folder`` (in epoch order) into an endlessly looping GIF."""
    import imageio.v2 as imageio

    frames = sorted(folder.glob("epoch-*.png"), key=_epoch_of)
    if not frames:
        raise AekitError(f"no progress frames in {folder}")
    images = [imageio.imread(frame)[..., :3] for frame in frames]
    height = max(image.shape[0] for image in images)
    width = max(image.shape[1] for image in images)
    padded: list[ArrayLike] = [_pad(image, height, width) for image in images]
    atomic_save(
        path,
        lambda tmp: imageio.mimsave(
            tmp, padded, format="GIF", duration=seconds_per_frame * 1000, loop=0
        ),
    )
    return path


def _pad(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Frames of one size: white margins where a frame came out smaller."""
    out = np.full((height, width, 3), 255, np.uint8)
    out[: image.shape[0], : image.shape[1]] = image
    return out
