"""The whole training step (forward, backward and Adam) compiled into one graph: ``--compile``.

Why: on a CPU, the eager step of a small model such as S1's spends about as long on the
kernels around its matrix products (activations and their gradients, the loss, autocast's
casts, Adam's update) and on the Python that launches them as on the products themselves.
``torch.compile`` fuses such kernels into a few C++ loops, but only within one graph:
compiling the forward alone leaves the backward pass and the optimizer eager. Here the gradient
comes from ``torch.func.grad`` over the model's own ``loss_terms`` and Adam's update is written
out, so forward, backward and update compile together.

The update is PyTorch's Adam formula applied in place to the parameters and to the
``torch.optim.Adam`` instance's own state tensors, so checkpoints, resuming and eager steps
(the trainer takes the last, smaller batch of an epoch eagerly rather than compile a second
graph for its shape) all share one optimizer state.
"""

from __future__ import annotations

import hashlib
import os
import platform
import types
from contextlib import nullcontext
from pathlib import Path

import torch
from torch import nn

from aekit.errors import AekitError
from aekit.models.base import Autoencoder

CLIP_EPS = 1e-6  # what torch.nn.utils.clip_grad_norm_ adds to the norm


class CompileFailed(AekitError):
    """torch.compile could not build the step (no C++ compiler, an unsupported operation...)."""


class _LossTerms(nn.Module):
    """``loss_terms`` as a module's forward, which is what ``functional_call`` calls."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x, target, y):
        return self.model.loss_terms(x, target, y)


class CompiledAdamStep:
    """One compiled optimiser step of ``model`` under ``optimizer`` (a ``torch.optim.Adam``).

    Calling it with a batch updates the weights and the optimizer's state in place and returns
    the batch's loss terms. The first call compiles; if that fails it raises
    :class:`CompileFailed` before any weight or optimizer average changed, so the caller can
    step eagerly instead.
    """

    def __init__(
        self,
        model: Autoencoder,
        optimizer: torch.optim.Optimizer,
        *,
        scale: float,
        autocast_dtype: torch.dtype | None,
        grad_clip: float | None,
    ) -> None:
        group = optimizer.param_groups[0]  # aekit's Adam: one group, no amsgrad, no maximize
        self.optimizer = optimizer
        self.params = list(group["params"])
        name_of = {id(p): name for name, p in model.named_parameters()}
        self.names = ["model." + name_of[id(p)] for p in self.params]
        self.loss_module = _LossTerms(model)
        self.hyper = {
            "lr": float(group["lr"]),
            "betas": tuple(float(b) for b in group["betas"]),
            "eps": float(group["eps"]),
            "weight_decay": float(group["weight_decay"]),
            "scale": scale,
            "grad_clip": grad_clip,
            "autocast_dtype": autocast_dtype,
        }
        # Detached once: loading a checkpoint copies into the same tensors.
        self.weights = [p.detach() for p in self.params]
        on_cpu = self.params[0].device.type == "cpu"
        options = _compile_options(on_cpu, model.memory_format == torch.channels_last)
        # Without the marker, the first successful compile ran the probe: remember it then.
        self.probe_unremembered = on_cpu and "cpp.vec_isa_ok" not in options
        # Static shapes: a graph for this batch shape, not a slower shape-generic one.
        self.step_fn = torch.compile(
            _own_code(self._step), fullgraph=True, dynamic=False, options=options
        )
        self.batch_signature: tuple | None = None

    def __call__(
        self, x: torch.Tensor, target: torch.Tensor, y: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        signature = _signature(x, target, y)
        if self.batch_signature not in (None, signature):
            raise ValueError(f"compiled for batches {self.batch_signature}, not {signature}")
        # Looked up on every call: resuming (load_state_dict) replaces the state's tensors.
        states = [self._state(p) for p in self.params]
        try:
            with torch.no_grad():
                terms = self.step_fn(self.weights, states, x, target, y)
        except Exception as exc:  # on the first call, any compiler failure: fall back to eager
            if self.compiled:
                raise
            raise CompileFailed(f"torch.compile failed ({_reason(exc)})") from exc
        if self.probe_unremembered:
            _remember_isa_probe_passed()
            self.probe_unremembered = False
        self.batch_signature = signature
        return terms

    @property
    def compiled(self) -> bool:
        """Whether the first call has compiled the step."""
        return self.batch_signature is not None

    def _state(self, p: torch.Tensor) -> dict[str, torch.Tensor]:
        """The optimizer's state for ``p``, created the way fused Adam creates it."""
        state = self.optimizer.state[p]
        if not state:
            state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state

    def _loss(self, weights, x, target, y):
        dtype = self.hyper["autocast_dtype"]
        cast = nullcontext() if dtype is None else torch.autocast(x.device.type, dtype=dtype)
        with cast:
            terms = torch.func.functional_call(
                self.loss_module, dict(zip(self.names, weights)), (x, target, y)
            )
        return terms["loss"] * self.hyper["scale"], terms

    def _step(self, weights, states, x, target, y):
        grads, (_, terms) = torch.func.grad_and_value(self._loss, has_aux=True)(
            weights, x, target, y
        )
        grads = self._clip(grads)
        for p, g, state in zip(weights, grads, states):
            self._adam(p, g, state)
        return terms

    def _clip(self, grads):
        """``clip_grad_norm_``'s rule: scale all gradients by max_norm / total 2-norm if above."""
        max_norm = self.hyper["grad_clip"]
        if not max_norm:
            return grads
        total = torch.stack([g.float().square().sum() for g in grads]).sum().sqrt()
        factor = (max_norm / (total + CLIP_EPS)).clamp(max=1.0)
        return [g * factor for g in grads]

    def _adam(self, p, g, state) -> None:
        """PyTorch's Adam update (``torch.optim.adam``), in place."""
        lr, (beta1, beta2), eps = self.hyper["lr"], self.hyper["betas"], self.hyper["eps"]
        if self.hyper["weight_decay"]:
            g = g + self.hyper["weight_decay"] * p
        step = state["step"]
        step.add_(1)
        state["exp_avg"].lerp_(g, 1 - beta1)
        state["exp_avg_sq"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
        step_size = lr / (1 - beta1**step)
        denom = state["exp_avg_sq"].sqrt() / (1 - beta2**step).sqrt() + eps
        p.sub_(step_size * state["exp_avg"] / denom)


def _compile_options(on_cpu: bool, channels_last: bool) -> dict:
    """Inductor options that make the compiled step cheaper to call and to build, and that
    keep the model's own memory layout.

    Guards: before each call Dynamo checks ~100 guards (every module's hooks, every tensor's
    shape), ~5% of a bf16 S1 step. None can change between one CompiledAdamStep's calls: the
    graph is its own (``_own_code``), its hyper-parameters are fixed, the trainer steps in
    train mode under no_grad, and ``__call__`` checks the batch. On the CPU, the C++ wrapper
    calls the kernels without Python in between, and Inductor's probe of which vector
    instructions the C++ compiler can build (~1 s per process) is skipped once it has passed
    with this torch installation and compiler on this machine.

    Layout: Inductor turns every graph with convolutions channels-last. That made conv-vae's
    step slower than eager (0.85x); compiled in its own layout it is faster (1.05x).
    """
    options: dict = {"layout_optimization": channels_last}
    skip_guards = getattr(torch.compiler, "skip_all_guards_unsafe", None)  # torch >= 2.8
    if skip_guards is not None:
        options["guard_filter_fn"] = skip_guards
    if on_cpu:
        options["cpp_wrapper"] = True
        if _isa_probe_marker().is_file():
            options["cpp.vec_isa_ok"] = True
    return options


def _isa_probe_marker() -> Path:
    """An empty file in aekit's cache whose presence says Inductor's vector-instruction probe
    passed here before (keyed by what the probe depends on)."""
    import platformdirs

    toolchain = [torch.__version__, torch.__file__, platform.node(), os.environ.get("CXX", "")]
    toolchain.append(torch.backends.cpu.get_cpu_capability())
    digest = hashlib.sha256("|".join(toolchain).encode()).hexdigest()[:16]
    return Path(platformdirs.user_cache_dir("aekit")) / "compile" / f"isa-probe-{digest}.ok"


def _remember_isa_probe_passed() -> None:
    """Create the marker after a compile succeeded (which ran the probe or trusted it)."""
    marker = _isa_probe_marker()
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:  # a read-only cache only costs the next run the probe
        pass


def _own_code(method):
    """``method`` bound to a copy of its function with a code object of its own.

    Why: Dynamo caches compiled graphs per code object. With the guards skipped, a second
    CompiledAdamStep in the same process would otherwise run the first one's graph, and
    several would share Dynamo's limit of 8 graphs per code object.
    """
    func = method.__func__
    own = types.FunctionType(
        func.__code__.replace(), func.__globals__, func.__name__, func.__defaults__
    )
    return types.MethodType(own, method.__self__)


def _signature(*tensors: torch.Tensor | None) -> tuple:
    """What the compiled graph assumes about its batch: shapes and dtypes (None stays None)."""
    return tuple(None if t is None else (tuple(t.shape), t.dtype) for t in tensors)


def _reason(exc: BaseException) -> str:
    """The first line of the innermost cause: Dynamo wraps the informative error (e.g.
    "Attempted to wrap RNN, GRU, or LSTM") in a generic one."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:200]
