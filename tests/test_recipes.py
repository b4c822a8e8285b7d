"""Recipes (issue 6): every recipe is a valid config that builds its model, the CLI lists them,
and benchmarks/reproduce.py runs one end to end and writes the comparison table."""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys

import pytest
import yaml

from aekit.cli import main
from aekit.config import RunConfig
from aekit.errors import AekitError
from aekit.models.base import build_model
from aekit.recipes import all_recipes, select_recipes

from .conftest import REPO

RECIPES = sorted((REPO / "recipes").glob("*.yaml"))
ALL_IDS = {f"S{i}" for i in range(1, 22)} - {"S6"}  # S6 needs 3-d toy data: tests cover it


def weight_count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_recipes_cover_the_article_systems():
    covered = {i for recipe in all_recipes(REPO / "recipes") for i in recipe.ids}
    assert covered >= ALL_IDS, f"systems without a recipe: {sorted(ALL_IDS - covered)}"


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_recipe_loads_and_builds_its_model(path):
    raw = yaml.safe_load(path.read_text())
    ids = raw["article"]["ids"]
    assert re.match(r"# (S\d+)", path.read_text()), "the first line names the S-IDs"
    assert all(f"S{int(i[1:])}" in path.read_text().splitlines()[0] for i in ids)
    config = RunConfig.load(path)
    assert config.data.data_dir is None, "recipes must not hard-code a data directory"
    assert config.data.dataset in ("mnist", "fashion-mnist")
    model = build_model(config.model, (1, 28, 28), num_classes=10)
    assert weight_count(model) > 0


def test_keras_recipes_use_keras_defaults():
    for name in ("keras-simple-ae", "keras-conv-ae", "keras-denoising-conv-ae"):
        config = select_recipes([name], REPO / "recipes")[0].config()
        assert config.model["init"] == "glorot"
        assert config.train.eps == pytest.approx(1e-7)
        assert config.train.loss_reduction == "per_element"
        assert config.data.validation == "test"


def test_s20_has_the_articles_parameter_count():
    config = select_recipes(["keras-conv-ae"], REPO / "recipes")[0].config()
    assert weight_count(build_model(config.model, (1, 28, 28), 10)) == 10_756


def test_unknown_recipe_names_the_choices():
    with pytest.raises(AekitError, match=r"unknown recipe.*keras-simple-ae"):
        select_recipes(["nope"], REPO / "recipes")


def test_recipes_command_lists_names_and_ids(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    with pytest.raises(SystemExit) as exit_info:
        main(["recipes"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert re.search(r"keras-simple-ae\s+S19\s+S19 Keras simple AE", out)
    assert len(out.splitlines()) == len(RECIPES)


def _reproduce_module(monkeypatch):
    spec = importlib.util.spec_from_file_location("reproduce", REPO / "benchmarks" / "reproduce.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "reproduce", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_reproduce_smoke_writes_the_table(tmp_path, mnist_dir, monkeypatch):
    report = tmp_path / "REPRODUCTION.md"
    _reproduce_module(monkeypatch).main(
        [
            "--only",
            "keras-simple-ae",
            "--data-dir",
            str(mnist_dir),
            "--epochs",
            "1",
            "--limit",
            "300",
            "--runs",
            str(tmp_path / "runs"),
            "--output",
            str(report),
            "--preamble",
            "",
            "--gallery",
            str(tmp_path / "gallery"),
            "--records",
            str(tmp_path / "records"),
        ]
    )
    text = report.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `keras-simple-ae`"))
    assert "val_loss 0.1328 after 15 epochs" in row  # the article's number
    assert re.search(r"val_loss 0\.\d{4} after 1 epochs", row)  # aekit's own
    assert "--epochs 1 --limit 300" in row
    assert "PCA at the same code size" in row and "linear probe on the codes" in row
    assert "| 1 | 0.2263 |" in text  # epoch table against the article's curve
    assert (tmp_path / "runs" / "keras-simple-ae" / "model.safetensors").is_file()
    gallery = sorted(path.name for path in (tmp_path / "gallery").glob("*.png"))
    assert "keras-simple-ae-reconstructions.png" in gallery
    assert not (tmp_path / "records").exists()  # a smoke row is not a result to keep


def test_reproduce_smoke_leaves_the_real_results_alone(tmp_path, mnist_dir, monkeypatch):
    """With default paths, a smoke run writes beside the real runs, table and records."""
    module = _reproduce_module(monkeypatch)
    monkeypatch.chdir(tmp_path)
    real = {
        "runs/reproduce/keras-simple-ae/config.yaml": "a finished full run\n",
        "benchmarks/REPRODUCTION.md": "the real table\n",
        "benchmarks/reproduction/keras-simple-ae.json": "{}\n",
    }
    for path, text in real.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    smoke = ["--only", "keras-simple-ae", "--data-dir", str(mnist_dir), "--epochs", "1"]
    module.main([*smoke, "--limit", "200", "--preamble", ""])
    assert {path: (tmp_path / path).read_text() for path in real} == real
    assert (tmp_path / "runs/reproduce-smoke/keras-simple-ae/model.safetensors").is_file()
    assert "| `keras-simple-ae`" in (tmp_path / "reproduce-smoke.md").read_text()
    assert not (tmp_path / "benchmarks/gallery").exists()


def test_reproduce_report_keeps_recorded_rows_when_runs_are_gone(tmp_path, mnist_dir, monkeypatch):
    """Run directories are not versioned: the committed record still gives the row."""
    module = _reproduce_module(monkeypatch)
    recipe = yaml.safe_load((REPO / "recipes" / "keras-simple-ae.yaml").read_text())
    recipe["train"]["epochs"], recipe["data"]["limit"] = 1, 200  # a quick recipe, run as written
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "keras-simple-ae.yaml").write_text(yaml.safe_dump(recipe))
    common = ["--runs", str(tmp_path / "runs"), "--records", str(tmp_path / "records")]
    common += ["--preamble", "", "--gallery", "", "--recipes-dir", str(tmp_path / "recipes")]
    train = ["--only", "keras-simple-ae", "--data-dir", str(mnist_dir)]
    module.main([*train, *common, "--output", str(tmp_path / "first.md")])
    shutil.rmtree(tmp_path / "runs")
    module.main(["--report-only", *common, "--output", str(tmp_path / "second.md")])

    def row(name: str) -> str:
        lines = (tmp_path / name).read_text().splitlines()
        return next(line for line in lines if line.startswith("| `keras-simple-ae`"))

    assert "not run yet" not in row("second.md")
    assert row("second.md") == row("first.md")


def test_reproduce_subset_keeps_every_recipe_in_the_report(tmp_path, monkeypatch):
    """--only picks what to train; the report (by default benchmarks/REPRODUCTION.md) keeps
    a row for every recipe, read from the runs present, instead of only the subset's."""
    module = _reproduce_module(monkeypatch)
    trained = []
    monkeypatch.setattr(module, "run_recipe", lambda recipe, *_args: trained.append(recipe.name))
    report = tmp_path / "REPRODUCTION.md"
    args = ["--only", "keras-simple-ae", "--runs", str(tmp_path / "runs")]
    args += ["--records", str(tmp_path / "records")]
    module.main([*args, "--output", str(report), "--preamble", "", "--gallery", ""])
    assert trained == ["keras-simple-ae"]
    rows = [line for line in report.read_text().splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == [path.stem for path in RECIPES]
    assert all("not run yet" in row for row in rows)  # no run under tmp_path/runs


def test_train_accepts_a_recipe_name(monkeypatch, tmp_path):
    from aekit.recipes import config_path

    monkeypatch.chdir(tmp_path)  # no recipes/ here: the ones aekit ships are found
    shipped = (REPO / "recipes" / "keras-simple-ae.yaml").resolve()
    assert config_path("keras-simple-ae").resolve() == shipped
    assert config_path("my.yaml") == tmp_path.joinpath("my.yaml").relative_to(tmp_path)
    with pytest.raises(AekitError, match=r"no config file or recipe named 'nope'.*keras-conv-ae"):
        config_path("nope")
