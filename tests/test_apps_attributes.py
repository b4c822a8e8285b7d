"""Attribute directions: the slope they are, the errors, and moving a 1 towards a 7."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from aekit.data.splits import Split
from aekit.errors import AekitError
from aekit.evaluation import classifier
from aekit.runs import open_run
from aekit.runs.attributes import attribute_direction, load_direction, parse_attribute
from aekit.workflow import train

from .conftest import quick_config
from .test_apps_cli import run_cli


def test_a_binary_direction_is_the_difference_of_mean_codes():
    codes = torch.tensor([[0.0, 1.0], [2.0, 1.0], [4.0, 3.0], [6.0, 5.0]])
    split = Split(torch.zeros(4, 1, 2, 2), torch.tensor([1, 1, 7, 7]))
    direction = attribute_direction(codes, parse_attribute("label:1:7", split))
    assert torch.allclose(direction.vector, torch.tensor([4.0, 3.0]))
    assert direction.name == "label-1-to-7" and direction.examples == 4


def test_a_numeric_direction_is_the_code_change_per_unit():
    generator = torch.Generator().manual_seed(0)
    thickness = torch.rand(500, generator=generator, dtype=torch.float64) * 3
    step = torch.tensor([0.5, -2.0, 0.0])
    codes = thickness[:, None].float() * step + 0.01 * torch.randn(500, 3, generator=generator)
    values = thickness.numpy().copy()
    values[:10] = np.nan  # left out
    attribute = parse_attribute("label:0", Split(torch.zeros(500, 1), torch.zeros(500).long()))
    attribute.values = values
    direction = attribute_direction(codes, attribute)
    assert direction.examples == 490
    assert torch.allclose(direction.vector, step, atol=0.01)


def test_label_directions_start_from_the_inputs_without_the_attribute():
    split = Split(torch.zeros(4, 1, 2, 2), torch.tensor([1, 3, 7, 1]))
    from_one = attribute_direction(torch.rand(4, 2), parse_attribute("label:1:7", split))
    assert from_one.starts(split.y).tolist() == [True, False, False, True]
    against_rest = attribute_direction(torch.rand(4, 2), parse_attribute("label:7", split))
    assert against_rest.starts(split.y).tolist() == [True, True, False, True]


@pytest.mark.parametrize(
    ("spec", "labels", "message"),
    [
        ("label:1:1", [1, 2], "J != K"),
        ("label:x", [1, 2], "use label:K or label:J:K"),
        ("label:5", [1, 2], "no example of label 5"),
        ("label:1", None, "have no labels"),
        ("colour", [1, 2], "use label:K, label:J:K or FILE.npy"),
    ],
)
def test_bad_attributes_are_one_line_errors(spec, labels, message):
    split = Split(torch.zeros(2, 1, 2, 2), None if labels is None else torch.tensor(labels))
    with pytest.raises(AekitError, match=message):
        parse_attribute(spec, split)


def test_attribute_files_must_fit_the_data(tmp_path):
    split = Split(torch.zeros(3, 1, 2, 2), None)
    np.save(tmp_path / "short.npy", np.ones(2))
    np.save(tmp_path / "same.npy", np.ones(3))
    np.save(tmp_path / "words.npy", np.array(["a", "b", "c"]))
    with pytest.raises(AekitError, match="2 values for 3 examples"):
        parse_attribute(str(tmp_path / "short.npy"), split)
    with pytest.raises(AekitError, match="holds numbers"):
        parse_attribute(str(tmp_path / "words.npy"), split)
    with pytest.raises(AekitError, match="the same for every example"):
        attribute_direction(torch.rand(3, 2), parse_attribute(str(tmp_path / "same.npy"), split))


@pytest.fixture(scope="module")
def ae_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("attribute") / "ae"
    config = quick_config(
        model={"latent_dim": 16, "hidden": [256]},
        data={"limit": 3000},
        train={"epochs": 8, "batch_size": 64},
    )
    train(config, out, figures=False)
    return out


def _judge(run) -> classifier.FeatureClassifier:
    """The evaluation module's classifier (its MLP form, fast here), on the run's data."""
    data = run.data.train
    flat = Split(data.x.flatten(1), data.y)
    recipe = classifier.ClassifierRecipe("attribute-test", (784,), 10, len(flat), "t", epochs=3)
    model = classifier._initial(recipe)
    classifier.fit(model, flat, recipe)
    return model.eval()


def test_moving_a_one_along_one_to_seven_makes_sevens(ae_run, capsys):
    code, out, _ = run_cli(["attribute", ae_run, "--attribute", "label:1:7", "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    assert report["name"] == "label-1-to-7" and report["code_dim"] == 16
    run = open_run(ae_run)
    direction = load_direction(run, None)
    test = run.data.test
    ones = test.y == 1
    codes = run.encode(Split(test.x[ones], test.y[ones]))
    judge = _judge(run)
    sevens = {}
    for amount in (0.0, 1.0):
        moved = run.decode(codes + amount * direction.vector)
        sevens[amount] = (classifier.predict(judge, moved.flatten(1)) == 7).float().mean().item()
    assert sevens[0.0] < 0.1 and sevens[1.0] > 0.5, sevens

    code, out, _ = run_cli(["plot", ae_run, "edit"], capsys)
    assert code == 0 and (ae_run / "figures" / "edit.png").stat().st_size > 1000


def test_a_numeric_attribute_file_and_its_mistakes(ae_run, capsys, tmp_path):
    run = open_run(ae_run)
    ink = run.inputs("mnist-5k").x.flatten(1).sum(1).numpy()  # stroke thickness, roughly
    np.save(tmp_path / "ink.npy", ink)
    np.save(tmp_path / "short.npy", ink[:10])
    code, out, _ = run_cli(
        ["attribute", ae_run, "--attribute", tmp_path / "ink.npy", "--input", "mnist-5k"], capsys
    )
    assert code == 0 and "direction 'ink' from 5000 examples" in out
    for argv, message in [
        (["--attribute", tmp_path / "short.npy", "--input", "mnist-5k"], "10 values for 5000"),
        (["--attribute", tmp_path / "ink.npy"], "name them with --input"),
    ]:
        code, _, err = run_cli(["attribute", ae_run, *argv], capsys)
        assert code == 1 and message in err and len(err.strip().splitlines()) == 1
    assert not (ae_run / "attributes" / "short.safetensors").exists()


def test_a_direction_of_other_weights_is_refused(ae_run, capsys, tmp_path):
    run_cli(["attribute", ae_run, "--attribute", "label:3"], capsys)
    copy = tmp_path / "copy"
    shutil.copytree(ae_run, copy)
    run = open_run(copy)
    with torch.no_grad():
        for p in run.model.parameters():
            p.mul_(1.01)
    run.save_model()
    code, _, err = run_cli(["plot", copy, "edit", "--attribute", "label-3"], capsys)
    assert code == 1 and "computed from other weights" in err
    code, _, err = run_cli(["plot", copy, "edit", "--attribute", "label-9"], capsys)
    assert code == 1 and "no attribute direction called 'label-9'" in err
