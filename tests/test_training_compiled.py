"""``--compile``: forward, backward and Adam in one compiled graph, sharing the eager state."""

from __future__ import annotations

import warnings

import pytest
import torch
from safetensors.torch import load_file

import aekit.training.internals as internals
from aekit.config import RunConfig
from aekit.data import prepare_data
from aekit.errors import AekitError
from aekit.io import CACHE_ENV
from aekit.training import build_trainer
from aekit.workflow import resume, train
from tests.conftest import quick_config

# quick_config's 540 training examples in batches of 64: eight compiled steps and a last batch
# of 28 that steps eagerly, every epoch.


SLOW = pytest.mark.slow  # builds a step of its own (about 16 s here)


@pytest.fixture(autouse=True, scope="module")
def _own_cache_dir(tmp_path_factory):
    """aekit's cache (where built steps are kept) in a temporary folder shared by this module's
    tests, not the user's: each different step is built once here, and later tests load it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("cache")))
        yield


def _fit(config: RunConfig, messages: list[str] | None = None):
    """Train without a run directory; return the trainer (to look at its compiled step)."""
    data = prepare_data(config.data)
    log = None if messages is None else messages.append
    trainer = build_trainer(config, data, run=None, log=log)
    trainer.fit(data.train, data.val)
    return trainer


def _assert_weights_close(a: torch.nn.Module, b: torch.nn.Module, **tolerance) -> None:
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(y, x, msg=name, **tolerance)


@pytest.mark.parametrize(
    ("options", "tested"),
    [
        pytest.param({}, None, id="adam"),
        # each build takes about 16 s on the 2-core CI machine: the variants run with -m slow
        pytest.param({"weight_decay": 0.01}, "weight_decay", id="weight-decay", marks=SLOW),
        # eps 1 makes Adam's steps scale with the gradient, so clipping it shows in the weights
        pytest.param({"grad_clip": 0.001, "eps": 1.0}, "grad_clip", id="clipping", marks=SLOW),
    ],
)
def test_compiled_step_follows_the_eager_step(options, tested):
    """Each case builds its own package: the hyper-parameters are constants in its graph, so a
    cache key that missed one would give the later cases the first one's math."""
    eager = _fit(quick_config(train=options))
    compiled = _fit(quick_config(train={**options, "compile": True}))
    assert compiled.compiled_step is not None and compiled.compiled_step.compiled
    _assert_weights_close(eager.model, compiled.model, rtol=1e-4, atol=1e-5)
    eager_state = eager.optimizer.state_dict()["state"]
    compiled_state = compiled.optimizer.state_dict()["state"]
    assert [s["step"].item() for s in compiled_state.values()] == [
        s["step"].item() for s in eager_state.values()
    ]
    if tested:  # the option changes the weights, so agreeing above tested its code path
        without = _fit(quick_config(train={k: v for k, v in options.items() if k != tested}))
        with pytest.raises(AssertionError):
            _assert_weights_close(without.model, eager.model, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "sections",
    [
        pytest.param({}, id="ae"),
        pytest.param(  # random numbers drawn inside the compiled graph, plus the trainer's own
            {
                "model": {"name": "vae", "latent_dim": 4, "hidden": [32]},
                "data": {"binarize": "dynamic", "noise": "gaussian:0.3"},
            },
            id="vae-dynamic-noise",
            marks=SLOW,
        ),
    ],
)
def test_compiled_resume_equals_uninterrupted(tmp_path, sections):
    def config(epochs: int) -> RunConfig:
        return quick_config(**sections, train={"epochs": epochs, "compile": True})

    full = train(config(3), tmp_path / "full")
    cut = train(config(1), tmp_path / "cut")
    resumed = resume(cut.path, epochs=3)
    final_full = load_file(str(full.model_file))
    final_resumed = load_file(str(resumed.model_file))
    for key in final_full:
        assert torch.equal(final_full[key], final_resumed[key]), key
    assert resumed.history[-1]["val_loss"] == full.history[-1]["val_loss"]


def test_a_conditional_model_compiles_and_follows_the_eager_step():
    """The labels' one-hot rows are traced too (F.one_hot's range check needs values that a
    traced graph does not have)."""
    model = {"name": "cvae", "latent_dim": 2, "hidden": [32]}
    eager = _fit(quick_config(model=model))
    compiled = _fit(quick_config(model=model, train={"compile": True}))
    assert compiled.compiled_step is not None and compiled.compiled_step.compiled
    # random numbers drawn inside the graph differ from eager's: close, not equal
    assert compiled.history[-1]["val_loss"] == pytest.approx(
        eager.history[-1]["val_loss"], rel=0.02
    )


@SLOW
def test_bf16_compiled_step_trains_like_fp32():
    fp32 = _fit(quick_config(train={"compile": True, "epochs": 3}))
    bf16 = _fit(quick_config(train={"compile": True, "epochs": 3, "precision": "bf16"}))
    assert bf16.compiled_step.compiled
    first, last = bf16.history[0]["val_loss"], bf16.history[-1]["val_loss"]
    assert last < first
    assert last == pytest.approx(fp32.history[-1]["val_loss"], rel=0.02)


def test_a_failing_compiler_falls_back_to_eager_steps(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))

    def no_compiler(program, path, options):
        path.write_bytes(b"half a package")  # what a build that dies midway leaves behind
        raise RuntimeError("no C++ compiler found\nlong details")

    monkeypatch.setattr(internals, "compile_package", no_compiler)
    messages: list[str] = []
    fallen_back = _fit(quick_config(train={"compile": True}), messages)
    assert fallen_back.compiled_step is None
    assert (
        "compiling the step failed (no C++ compiler found); training without --compile" in messages
    )
    assert not list((tmp_path / "compile").iterdir())  # no partial package kept
    _assert_weights_close(_fit(quick_config()).model, fallen_back.model, rtol=0, atol=0)


def test_a_built_step_is_loaded_by_later_runs_not_built_again(monkeypatch):
    config = quick_config(train={"compile": True, "epochs": 1})
    messages: list[str] = []
    first = _fit(config, messages)
    assert first.compiled_step.compiled

    def no_compiler(*_args):
        raise AssertionError("built again")

    monkeypatch.setattr(internals, "compile_package", no_compiler)
    again: list[str] = []
    second = _fit(config, again)
    assert second.compiled_step.compiled
    assert not any(m.startswith("compiling the training step") for m in again)
    _assert_weights_close(first.model, second.model, rtol=0, atol=0)


@SLOW
def test_an_unreadable_cached_step_is_built_again(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    config = quick_config(train={"compile": True, "epochs": 1})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = _fit(config)
    # building says nothing of torch's internal deprecations (LeafSpec, torch.jit) to the user
    assert not [w for w in caught if issubclass(w.category, (FutureWarning, DeprecationWarning))]
    package = first.compiled_step.package_path(
        first.compiled_step._inputs(*_batch(first), 1e-3, {})
    )
    package.write_bytes(b"not a package")
    rebuilt = _fit(config)
    assert rebuilt.compiled_step.compiled
    _assert_weights_close(first.model, rebuilt.model, rtol=0, atol=0)


def _batch(trainer) -> tuple[torch.Tensor, torch.Tensor, None]:
    """A batch of the shape the trainer's compiled step was built for."""
    shape, _dtype = trainer.compiled_step.batch_signature[0]
    x = torch.zeros(shape)
    return x, x, None


def test_a_batch_of_another_shape_is_refused():
    step = _fit(quick_config(train={"compile": True, "epochs": 1})).compiled_step
    other = torch.rand(32, 1, 28, 28)
    with pytest.raises(ValueError, match=r"compiled for batches .*\(64, 1, 28, 28\)"):
        step(other, other, None, 1e-3)


def test_compile_needs_adam():
    with pytest.raises(
        AekitError, match="--compile supports --optimizer adam and adamw only, not 'sgd'"
    ):
        quick_config(train={"compile": True, "optimizer": "sgd"})


def test_an_untested_torch_trains_eagerly_and_says_so(monkeypatch):
    """The compiled step calls torch internals, which change between versions: on a torch
    outside the tested range --compile is skipped with one line, and the run is the eager one."""
    monkeypatch.setattr(internals, "torch_version", lambda: "2.99.0")

    def must_not_build(*_args):
        raise AssertionError("built on an untested torch")

    monkeypatch.setattr(internals, "compile_package", must_not_build)
    messages: list[str] = []
    fallen_back = _fit(quick_config(train={"compile": True}), messages)
    assert fallen_back.compiled_step is None
    assert messages[0] == (
        "--compile is tested with torch >=2.13,<2.14, and this is torch 2.99.0; "
        "training without --compile"
    )
    _assert_weights_close(_fit(quick_config()).model, fallen_back.model, rtol=0, atol=0)


def test_the_tested_torch_range_is_the_one_pyproject_declares():
    import tomllib

    from tests.conftest import REPO

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["aekit"]
    assert declared["tested-torch"] == internals.TESTED_TORCH
    assert internals.compile_unavailable() is None  # the torch these tests run on is in it
