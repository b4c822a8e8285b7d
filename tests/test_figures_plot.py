"""``aekit plot RUN KIND``: every kind draws a real figure; bad requests fail clearly."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from aekit.cli import cli
from aekit.errors import AekitError
from aekit.figures.kinds import KINDS
from aekit.workflow import train
from tests.conftest import REPO, quick_config


def _train(root: Path, name: str, model: dict, **data) -> Path:
    config = quick_config(model=model, data={"limit": 300, **data}, train={"epochs": 2})
    return train(config, root / name).path


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Three tiny trained runs: a 2-d VAE, an 8-d denoising AE, a conditional VAE."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("runs")
    return {
        "vae": _train(root, "vae", {"name": "vae", "latent_dim": 2, "hidden": [64]}),
        "ae": _train(
            root, "ae", {"name": "ae", "latent_dim": 8, "hidden": [64]}, noise="gaussian:0.3"
        ),
        "cvae": _train(root, "cvae", {"name": "cvae", "latent_dim": 2, "hidden": [64]}),
    }


def plot(*args: str):
    return CliRunner().invoke(cli, ["plot", *map(str, args)])


def assert_real_png(path: Path, min_side: int = 150, max_side: int = 3000) -> None:
    """A PNG of a sensible size that is not one flat colour."""
    assert path.is_file(), path
    with Image.open(path) as image:
        assert image.format == "PNG"
        width, height = image.size
        pixels = np.asarray(image.convert("L"), dtype=np.float32) / 255
    assert min_side <= width <= max_side and min_side <= height <= max_side, (width, height)
    assert pixels.std() > 0.05, "the figure is blank"
    assert path.stat().st_size < 400 * 1024


@pytest.mark.parametrize(
    ("run", "kind", "extra"),
    [
        ("vae", "latent", []),
        ("ae", "latent", ["--method", "pca"]),
        ("ae", "latent", ["--method", "tsne", "--points", "120"]),
        ("vae", "samples", []),
        ("ae", "samples", ["-n", "9"]),
        ("cvae", "samples", ["--labels", "3,5", "-n", "6"]),
        ("vae", "traverse", []),
        ("ae", "traverse", ["--dims", "0,3", "--steps", "5"]),
        ("ae", "interpolate", ["--pair", "0,1", "--pair", "2,3"]),
        ("vae", "manifold", ["--steps", "8"]),
        ("ae", "denoise", []),
        ("vae", "denoise", ["--noise", "dropout:0.5"]),
        ("ae", "activations", []),
        ("vae", "curves", []),
        ("cvae", "reconstructions", []),
    ],
)
def test_each_kind_writes_a_real_png(runs, tmp_path, run, kind, extra):
    out = tmp_path / f"{kind}.png"
    result = plot(runs[run], kind, "--out", out, *extra)
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert f"wrote {out}" in result.output
    assert_real_png(out)


def test_compare_puts_two_runs_side_by_side(runs, tmp_path):
    out = tmp_path / "compare.png"
    result = plot(runs["ae"], "compare", "--other", runs["vae"], "--out", out)
    assert result.exit_code == 0, repr(result.exception)
    assert_real_png(out)
    with Image.open(out) as image:
        assert image.size[0] > 1.8 * image.size[1]  # two panels side by side


def test_default_output_is_the_runs_figures_folder(runs):
    result = plot(runs["ae"], "activations")
    assert result.exit_code == 0
    assert_real_png(runs["ae"] / "figures" / "activations.png")


def test_training_writes_the_article_figures(runs):
    vae = {p.name for p in (runs["vae"] / "figures").glob("*.png")}
    assert {"reconstructions.png", "curves.png", "samples.png", "latent.png", "manifold.png"} <= vae
    assert "denoise.png" in {p.name for p in (runs["ae"] / "figures").glob("*.png")}


@pytest.mark.parametrize(
    ("run", "args", "message"),
    [
        ("ae", ["manifold"], "manifold needs a 2-d code"),
        ("vae", ["compare"], "--other RUN2"),
        ("vae", ["traverse", "--dims", "0,2"], "--dims 2 is out of range: the code has 2"),
        ("vae", ["bogus"], "choose one of: activations, compare, curves, denoise"),
        ("vae", ["denoise"], "trained without noise"),
        ("ae", ["latent", "--method", "codes"], "use --method pca"),
        ("cvae", ["samples", "--labels", "12"], "--labels 12 is out of range"),
        ("vae", ["samples", "--labels", "1"], "not conditional"),
        ("vae", ["interpolate", "--pair", "0,99999"], "out of range"),
        ("vae", ["traverse", "--code", "1,2,3"], "--code has 3 values"),
        ("ae", ["progress"], "no progress frames"),
        ("vae", ["latent", "--out", "x.jpg"], "written as .png"),
    ],
)
def test_bad_requests_fail_with_a_clear_message(runs, run, args, message):
    result = plot(runs[run], *args)
    assert isinstance(result.exception, AekitError), result.output
    assert message in str(result.exception)


def test_every_kind_is_listed_in_the_help():
    result = CliRunner().invoke(cli, ["plot", "--help"])
    assert result.exit_code == 0
    for kind in KINDS:
        assert kind in result.output


def test_sequences_reconstruct_as_line_plots(tmp_path):
    """Data without an image form (T x F sequences) is drawn input against reconstruction."""
    from aekit.figures.examples import reconstruction_figure
    from aekit.figures.plotting import save_figure

    t = torch.linspace(0, 6.28, 50)
    x = torch.stack([torch.stack([t.sin() + k, t.cos()], -1) for k in range(4)])
    path = save_figure(reconstruction_figure(x, 0.9 * x), tmp_path / "seq.png")
    assert_real_png(path)


def test_every_kind_draws_sequence_data_as_line_plots(tmp_path):
    """Models of (T, F) sequences get the same figures, drawn as lines instead of pictures."""
    from aekit.config import DataConfig, RunConfig
    from aekit.data.splits import DataBundle, Split
    from aekit.figures.kinds import applicable
    from aekit.figures.kinds import plot as draw
    from aekit.figures.options import PlotOptions
    from aekit.models.base import build_model
    from aekit.runs import Run

    generator = torch.Generator().manual_seed(0)
    t = torch.linspace(0, 6.28, 20)
    phase = torch.rand(60, 1, 1, generator=generator) * 6.28
    x = torch.cat([(t[None, :, None] + phase).sin(), (t[None, :, None] + phase).cos()], -1)
    x = (x + 1) / 2
    split = Split(x, torch.arange(60) % 3)
    model = build_model({"name": "ae", "latent_dim": 2, "hidden": [16]}, (20, 2), 3)
    run = Run(
        tmp_path / "seq", RunConfig(data=DataConfig(dataset="waves", noise="gaussian:0.1")),
        model=model, data=DataBundle("waves", split, split, split, 3),
        history=[{"epoch": 1, "train_loss": 1.0, "val_loss": 1.1}],
    )  # fmt: skip
    kinds = applicable(run)
    assert {"samples", "traverse", "interpolate", "manifold", "denoise", "latent"} <= set(kinds)
    for kind in kinds:
        assert_real_png(draw(run, kind, PlotOptions(points=60)), min_side=100)


def test_gallery_captions_fit_the_figures():
    """benchmarks/gallery.py writes docs/gallery/gallery.md: the cvae conditions encoder and
    decoder on the label, and S8 (t-SNE of the codes) is the t-SNE plot's, not the manifold's."""
    spec = importlib.util.spec_from_file_location("gallery", REPO / "benchmarks" / "gallery.py")
    gallery = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gallery)
    written = {stem: caption for stem, _run, _kind, _options, caption in gallery.FIGURES}
    markdown = (REPO / "docs" / "gallery" / "gallery.md").read_text()
    shown = dict(re.findall(r"!\[([\w-]+)\.\w+\]\([^)]*\)<br>([^<]*)<br>", markdown))
    assert set(shown) == set(written)
    for captions in (written, shown):
        assert "(S8)" in captions["latent-tsne"] and "(S8)" not in captions["manifold"]
        assert "ignores the label" not in captions["samples-cvae"]
    assert "encoder and decoder both see the label" in written["samples-cvae"]


def test_curves_of_a_greedy_run_are_split_by_stage(tmp_path):
    """Each greedy stage optimises its own loss: no line joins two stages, a marker divides them."""
    from aekit.figures import curves

    names = ["layer1", "layer1", "layer2", "layer2", "finetune"]
    history = [
        {"stage": s, "epoch": i + 1, "train_loss": 1.0 / (i + 1), "val_loss": 1.1 / (i + 1)}
        for i, s in enumerate(names)
    ]
    assert curves._stages(history) == [("layer1", 0, 2), ("layer2", 2, 4), ("finetune", 4, 5)]
    ax = curves.curves_figure(history).axes[0]
    segments = [line for line in ax.get_lines() if line.get_marker() in ("o", "s")]
    assert sorted(len(line.get_xdata()) for line in segments) == [1, 1, 2, 2, 2, 2]
    dividers = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert [line.get_xdata()[0] for line in dividers] == [2.5, 4.5]
    assert [text.get_text() for text in ax.texts] == ["layer1", "layer2", "finetune"]


def test_aekit_plot_returns_the_figure_the_command_writes_and_leaves_matplotlib_alone(runs):
    """In a fresh interpreter with a backend of the user's choice: aekit.plot gives a
    matplotlib figure that draws itself as a PNG, never imports pyplot and keeps the
    backend."""
    script = f"""
import io, sys, matplotlib
matplotlib.use("svg")
import aekit
from PIL import Image
fig = aekit.plot({str(runs["vae"])!r}, "latent", points=300)
png = fig._repr_png_()
assert Image.open(io.BytesIO(png)).size[0] > 300
assert "matplotlib.pyplot" not in sys.modules and matplotlib.get_backend() == "svg"
print(type(fig).__mro__[1].__module__)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "matplotlib.figure"


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("latent", {"colour": "red"}, "unknown option of the latent figure 'colour'"),
        ("latent", {"points": "many"}, "bad points 'many'; expected int"),
        ("progress", {}, "has no progress frames"),
        ("compare", {}, "compare needs a second run"),
    ],
)
def test_aekit_plot_refuses_in_one_line(runs, kind, options, message):
    import aekit

    with pytest.raises(AekitError, match=re.escape(message)):
        aekit.plot(runs["vae"], kind, **options)


def test_a_run_shows_itself_as_html_and_says_what_it_cannot_show(runs, tmp_path):
    from aekit.runs import Run, open_run

    html = open_run(runs["cvae"])._repr_html_()
    assert "cvae" in html and "metric (last epoch)" in html and "val_loss" not in html
    assert html.count("data:image/png;base64,") == 1 and "<details>" in html
    untrained = Run(tmp_path / "new", quick_config())._repr_html_()
    assert "has no trained model yet" in untrained and "mnist-5k" in untrained
    nowhere = Run(None, quick_config())._repr_html_()  # no folder, no model: still shown
    assert "aekit run" in nowhere and "not shown" in nowhere
