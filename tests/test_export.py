"""``aekit export``: ONNX files run in onnxruntime and TorchScript files in a fresh process
give aekit's own outputs, at another batch size than the one traced."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnxruntime
import pytest
import torch

from aekit.errors import AekitError
from aekit.models.base import MODELS, build_model
from aekit.runs.export import PARTS, ExportedPart, example_inputs, export_model

SHAPE = (1, 28, 28)


def built(name: str):
    torch.manual_seed(0)
    return build_model({"name": name}, SHAPE, num_classes=10).eval()


def expected_and_inputs(model, part: str, n: int = 5):
    inputs = example_inputs(model, part, n)
    with torch.no_grad():
        return ExportedPart(model, part)(*inputs), inputs


def run_onnx(path, inputs) -> torch.Tensor:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    feed = {name: t.numpy() for name, t in zip(names, inputs, strict=True)}
    return torch.from_numpy(session.run(None, feed)[0])


def run_torchscript_elsewhere(path, inputs, tmp_path) -> torch.Tensor:
    """Load and run the file in a fresh interpreter that never imports aekit."""
    for i, t in enumerate(inputs):
        np.save(tmp_path / f"in{i}.npy", t.numpy())
    script = (
        "import sys, numpy as np, torch\n"
        "m, folder, count = torch.jit.load(sys.argv[1]), sys.argv[2], int(sys.argv[3])\n"
        "ins = [torch.from_numpy(np.load(f'{folder}/in{i}.npy')) for i in range(count)]\n"
        "np.save(f'{folder}/out.npy', m(*ins).numpy())\n"
        "assert 'aekit' not in sys.modules\n"
    )
    command = [sys.executable, "-c", script, str(path), str(tmp_path), str(len(inputs))]
    subprocess.run(command, check=True)
    return torch.from_numpy(np.load(tmp_path / "out.npy"))


def check_part(name: str, part: str, form: str, tmp_path) -> None:
    model = built(name)
    suffix = ".onnx" if form == "onnx" else ".pt"
    done = export_model(model, part, form, tmp_path / f"{part}{suffix}")
    expected, inputs = expected_and_inputs(model, part)
    if form == "onnx":
        got = run_onnx(done.path, inputs)
    else:
        got = run_torchscript_elsewhere(done.path, inputs, tmp_path)
    assert done.max_difference is not None and done.max_difference <= 1e-5
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("form", ["onnx", "torchscript"])
@pytest.mark.parametrize("name", ["vae", "cvae"])  # every model: the slow test below
def test_the_exported_parts_give_aekits_outputs(name, form, tmp_path):
    for part in PARTS:
        check_part(name, part, form, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("form", ["onnx", "torchscript"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_registered_model_exports(name, form, tmp_path):
    for part in PARTS:
        check_part(name, part, form, tmp_path)


def test_the_command_writes_checks_and_describes_the_file(tmp_path):
    from click.testing import CliRunner

    from aekit.cli import cli
    from aekit.runs import open_run
    from aekit.workflow import train
    from tests.conftest import quick_config

    config = quick_config(
        model={"name": "cvae", "latent_dim": 2, "hidden": [16]},
        data={"dataset": "digits", "limit": 200},
        train={"epochs": 1},
    )
    train(config, tmp_path / "run", figures=False)
    result = CliRunner().invoke(cli, ["export", str(tmp_path / "run"), "--part", "decoder"])
    assert result.exit_code == 0, result.output
    path = tmp_path / "run" / "exported" / "decoder.onnx"
    assert f"wrote {path} (checked against aekit's outputs" in result.output
    assert "codes float32 [N, 2], labels int64 [N] in 0..9 (samples: draw codes from N(0, I))" in (
        result.output
    )
    model = open_run(tmp_path / "run").model.eval()
    codes, labels = torch.randn(7, 2), torch.arange(7)
    with torch.no_grad():
        expected = model.to_data(model.decode(codes, labels))
    torch.testing.assert_close(run_onnx(path, (codes, labels)), expected, atol=1e-5, rtol=0)


def test_export_leaves_the_callers_model_as_it_was(tmp_path):
    model = built("vae").train()
    export_model(model, "both", "torchscript", tmp_path / "m.pt")
    assert model.training and all(p.requires_grad for p in model.parameters())


def test_a_file_that_would_not_give_aekits_outputs_is_not_kept(tmp_path, monkeypatch):
    from aekit.runs import export

    monkeypatch.setattr(export, "TOLERANCE", -1.0)  # no file can pass
    with pytest.raises(AekitError, match="differ from aekit's"):
        export_model(built("ae"), "encoder", "torchscript", tmp_path / "e.pt")
    assert not list(tmp_path.iterdir())  # neither the file nor a temporary one is left


def test_onnx_without_its_packages_says_what_to_install(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_onnxscript(name, *args, **kwargs):
        if name == "onnxscript":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnxscript)
    with pytest.raises(AekitError, match=r"pip install 'aekit\[export\]'"):
        export_model(built("ae"), "encoder", "onnx", tmp_path / "e.onnx")
