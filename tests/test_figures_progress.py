"""The progress GIF (one frame per epoch plus the untrained model, complete across a resume)
and the TensorBoard logger (read back from its event file)."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import pytest
from click.testing import CliRunner

from aekit.cli import cli
from aekit.figures.progress import ProgressGif
from aekit.workflow import resume, train
from tests.conftest import quick_config


def gif_frames(path: Path) -> int:
    return iio.imread(path, index=None).shape[0]


def vae_config(epochs: int):
    return quick_config(
        model={"name": "vae", "latent_dim": 2, "hidden": [32]},
        data={"limit": 200},
        train={"epochs": epochs},
    )


def test_gif_has_the_untrained_model_and_one_frame_per_epoch(tmp_path):
    run = train(vae_config(3), tmp_path / "run", callbacks=[ProgressGif()])
    frames = sorted(p.name for p in (run.figures / "progress").iterdir())
    assert frames == [f"epoch-000{i}.png" for i in range(4)]
    assert gif_frames(run.figures / "progress.gif") == 4


def test_gif_survives_resume(tmp_path):
    """Frames of the interrupted session stay; stale frames after the checkpoint go."""
    run = train(vae_config(2), tmp_path / "run", callbacks=[ProgressGif()])
    (run.figures / "progress" / "epoch-0009.png").write_bytes(b"stale")  # a later, lost epoch
    resume(run.path, epochs=4, callbacks=[ProgressGif()])
    frames = sorted(p.name for p in (run.figures / "progress").iterdir())
    assert frames == [f"epoch-000{i}.png" for i in range(5)]
    assert gif_frames(run.figures / "progress.gif") == 5


def test_cli_default_draws_the_gif_for_generative_models_only(tmp_path):
    common = ["--limit", "200", "--epochs", "1", "--hidden", "32", "--quiet"]
    runner = CliRunner()
    vae = runner.invoke(cli, ["train", "--model", "vae", "--out", str(tmp_path / "v"), *common])
    ae = runner.invoke(cli, ["train", "--model", "ae", "--out", str(tmp_path / "a"), *common])
    forced = runner.invoke(cli, ["train", "--out", str(tmp_path / "f"), "--progress-gif", *common])
    assert vae.exit_code == ae.exit_code == forced.exit_code == 0
    assert gif_frames(tmp_path / "v" / "figures" / "progress.gif") == 2
    assert not (tmp_path / "a" / "figures" / "progress.gif").exists()
    # plain AEs show reconstructions of fixed test inputs (their code space moves)
    assert gif_frames(tmp_path / "f" / "figures" / "progress.gif") == 2
    replot = runner.invoke(
        cli, ["plot", str(tmp_path / "v"), "progress", "--out", str(tmp_path / "p.gif")]
    )
    assert replot.exit_code == 0 and gif_frames(tmp_path / "p.gif") == 2


def test_tensorboard_logs_every_metric_and_image_grids(tmp_path):
    pytest.importorskip("tensorboard", reason="the optional tensorboard extra is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    args = "train --model vae --latent-dim 2 --hidden 32 --limit 200 --epochs 2 --tensorboard"
    args += " --no-progress-gif --quiet --out"
    result = CliRunner().invoke(cli, [*args.split(), str(tmp_path / "run")])
    assert result.exit_code == 0, repr(result.exception)
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    tags = events.Tags()
    assert {"loss/train", "loss/val", "kl/train", "elbo/val", "seconds"} <= set(tags["scalars"])
    assert [e.step for e in events.Scalars("loss/val")] == [1, 2]
    assert {"reconstructions", "samples"} <= set(tags["images"])
    image = events.Images("reconstructions")[-1]
    assert image.width > 100 and image.height > 100


def test_missing_tensorboard_says_how_to_install_it(monkeypatch):
    import sys

    from aekit.errors import AekitError
    from aekit.figures.tensorboard import TensorBoardLogger

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import -> ImportError
    with pytest.raises(AekitError, match=r"pip install 'aekit\[tensorboard\]'"):
        TensorBoardLogger()
