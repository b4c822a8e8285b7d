"""The optimizer step without TorchDynamo's import: the same update, hooks still honoured, and
the import really spared (it is most of a short run's fixed cost)."""

import subprocess
import sys

import pytest
import torch

from aekit.training.internals import step_optimizer


def _trained(kind, steps: int, stepper) -> list[torch.Tensor]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    optimizer = kind(model.parameters())
    x, y = torch.randn(32, 6), torch.randn(32, 2)
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        stepper(optimizer)
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize(
    "kind",
    [
        lambda p: torch.optim.Adam(p, lr=1e-2, fused=True),
        lambda p: torch.optim.AdamW(p, lr=1e-2),
        lambda p: torch.optim.SGD(p, lr=1e-2, momentum=0.9),
        lambda p: torch.optim.RMSprop(p, lr=1e-2, alpha=0.9),
    ],
    ids=["adam-fused", "adamw", "sgd", "rmsprop"],
)
def test_the_step_is_the_public_step(kind):
    public = _trained(kind, 5, lambda optimizer: optimizer.step())
    ours = _trained(kind, 5, step_optimizer)
    assert all(torch.equal(a, b) for a, b in zip(public, ours, strict=True))


def test_a_closure_is_evaluated_with_gradients():
    w = torch.zeros(3, requires_grad=True)
    optimizer = torch.optim.LBFGS([w], line_search_fn="strong_wolfe")

    def loss():
        w.grad = None
        value = (w - torch.tensor([1.0, -2.0, 3.0])).square().sum()
        value.backward()
        return value

    step_optimizer(optimizer, loss)
    assert torch.allclose(w, torch.tensor([1.0, -2.0, 3.0]), atol=1e-5)


def test_registered_step_hooks_are_still_called():
    w = torch.zeros(2, requires_grad=True)
    optimizer = torch.optim.SGD([w], lr=1.0)
    calls = []
    optimizer.register_step_post_hook(lambda *_: calls.append("post"))
    w.grad = torch.ones(2)
    step_optimizer(optimizer)
    assert calls == ["post"] and torch.equal(w.detach(), -torch.ones(2))


def _modules_after(code: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('torch._dynamo' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def test_aekit_train_never_imports_dynamo(tmp_path):
    code = (
        "from aekit.cli import main\n"
        "try:\n"
        f"    main(['train', '--epochs', '1', '--quiet', '--out', r'{tmp_path / 'run'}'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0\n"
    )
    assert _modules_after(code)[-1] == "False"
    assert (tmp_path / "run" / "model.safetensors").is_file()


def test_the_library_leaves_torchs_optimizer_as_it_found_it():
    """Only the ``aekit`` command marks torch's optimizer methods as needing no Dynamo: a
    user's own program that trains through the library keeps torch's behaviour."""
    code = (
        "import numpy as np, torch\n"
        "from aekit import AutoencoderTransformer\n"
        "AutoencoderTransformer(latent_dim=2, hidden=(8,), epochs=1).fit(np.random.rand(40, 6))\n"
        "method = torch.optim.Optimizer.add_param_group.__wrapped__\n"
        "print(getattr(method, '__dynamo_disable', None) is method)\n"
    )
    assert _modules_after(code)[0] == "False"
