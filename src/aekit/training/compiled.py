"""The whole training step (forward, backward and Adam) compiled into one graph: ``--compile``.

Why: on a CPU, the eager step of a small model such as S1's spends about as long on the
kernels around its matrix products (activations and their gradients, the loss, autocast's
casts, Adam's update) and on the Python that launches them as on the products themselves.
Inductor fuses such kernels into a few C++ loops, but only within one graph: compiling the
forward alone leaves the backward pass and the optimizer eager. Here the gradient comes from
``torch.func.grad`` over the model's own ``loss_terms`` and Adam's update is written out, so
forward, backward and update compile together.

How: the step is traced, exported and built ahead of time by AOTInductor into a package (a
shared library) in aekit's cache, keyed by everything the graph depends on; a later run with
the same model, hyper-parameters, batch shape, aekit source and torch installation loads it
in milliseconds. Every call into torch's internals for this is in
:mod:`aekit.training.internals`. Why not ``torch.compile``: it traces and compiles afresh in
every process, which over a short run costs more than compiling gains (benchmarks/RESULTS.md).

The update is PyTorch's Adam (or AdamW) formula applied in place to the parameters and to the
optimizer instance's own state tensors (the package writes into its inputs), so checkpoints,
resuming and eager steps (the trainer takes the last, smaller batch of an epoch eagerly rather
than build a second package for its shape) all share one optimizer state. The learning rate
and any scheduled loss weight are inputs of the graph, so schedules need no rebuild.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

import aekit
from aekit.errors import AekitError
from aekit.io import atomic_save, cache_root
from aekit.models.base import Autoencoder
from aekit.training import internals

CLIP_EPS = 1e-6  # what torch.nn.utils.clip_grad_norm_ adds to the norm


class CompileFailed(AekitError):
    """The step cannot be built or loaded (an untested torch, no C++ compiler, an unsupported
    operation...): the trainer steps eagerly instead."""


class _LossTerms(nn.Module):
    """``loss_terms`` as a module's forward, which is what ``functional_call`` calls."""

    def __init__(self, model: Autoencoder) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, x: torch.Tensor, target: torch.Tensor, y: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        return self.model.loss_terms(x, target, y)


@contextlib.contextmanager
def _attributes(model: nn.Module, values: dict[str, Any]) -> Iterator[None]:
    """Give ``model`` these attribute values (traced inputs) inside the block only."""
    before = {name: getattr(model, name) for name in values}
    for name, value in values.items():
        setattr(model, name, value)
    try:
        yield
    finally:
        for name, value in before.items():
            setattr(model, name, value)


class CompiledAdamStep:
    """One compiled optimiser step of ``model`` under ``optimizer`` (Adam or AdamW).

    Calling it with a batch, the step's learning rate and the values of the ``scheduled``
    loss weights updates the weights and the optimizer's state in place and returns the
    batch's loss terms. The first call loads the step's package from aekit's cache or builds
    it there; if that fails it raises :class:`CompileFailed` before any weight or optimizer
    average changed, so the caller can step eagerly instead.
    """

    def __init__(
        self,
        model: Autoencoder,
        optimizer: torch.optim.Optimizer,
        *,
        scale: float,
        autocast_dtype: torch.dtype | None,
        grad_clip: float | None,
        scheduled: Sequence[str] = (),
    ) -> None:
        group = optimizer.param_groups[0]  # aekit's optimizer: one group, no amsgrad/maximize
        self.model = model
        self.optimizer = optimizer
        self.params = list(group["params"])
        name_of = {id(p): name for name, p in model.named_parameters()}
        self.names = ["model." + name_of[id(p)] for p in self.params]
        self.loss_module = _LossTerms(model)
        self.scheduled = list(scheduled)
        self.hyper: dict[str, Any] = {
            "betas": tuple(float(b) for b in group["betas"]),
            "eps": float(group["eps"]),
            "weight_decay": float(group["weight_decay"]),
            "decoupled": isinstance(optimizer, torch.optim.AdamW),
            "scale": scale,
            "grad_clip": grad_clip,
            "autocast_dtype": autocast_dtype,
        }
        # Detached once: loading a checkpoint copies into the same tensors.
        self.weights = [p.detach() for p in self.params]
        self.runner: Any = None  # AOTInductor's loader (a C++ object without annotations)
        self.term_names: list[str] = []
        self.batch_signature: Signature | None = None

    def __call__(
        self,
        x: torch.Tensor,
        target: torch.Tensor,
        y: torch.Tensor | None,
        lr: float,
        weights: dict[str, float] | None = None,
    ) -> dict[str, torch.Tensor]:
        signature = _signature(x, target, y)
        if self.batch_signature not in (None, signature):
            raise ValueError(f"compiled for batches {self.batch_signature}, not {signature}")
        inputs = self._inputs(x, target, y, lr, weights or {})
        if self.runner is None:
            try:
                self.runner, self.term_names = self._load_or_build(inputs)
            except Exception as exc:  # any compiler failure: the caller falls back to eager
                raise CompileFailed(f"compiling the step failed ({_reason(exc)})") from exc
            self.batch_signature = signature
        return dict(zip(self.term_names, self.runner.run(inputs), strict=True))

    @property
    def compiled(self) -> bool:
        """Whether the step is loaded (the first call loads or builds it)."""
        return self.runner is not None

    def is_built_for(self, x: torch.Tensor, target: torch.Tensor, y: torch.Tensor | None) -> bool:
        """Whether aekit's cache already holds the package for such a batch (so the first call
        loads it in milliseconds instead of building it)."""
        weights = {name: 0.0 for name in self.scheduled}
        return self.package_path(self._inputs(x, target, y, 0.0, weights)).is_file()

    def package_path(self, inputs: list[torch.Tensor]) -> Path:
        """Where the package for these inputs lives: named by a digest of everything its graph
        depends on, so a change to any of it builds a new package instead of loading a stale
        one."""
        key = {
            "aekit": _source_digest(),
            "torch": [torch.__version__, torch.__file__, torch.backends.cpu.get_cpu_capability()],
            # the kernels use this CPU's instructions (AMX...): a cache shared between
            # machines, e.g. a home folder on a cluster, must not hand them to another CPU
            "machine": [os.environ.get("CXX", ""), platform.machine(), platform.node()],
            "matmul_precision": torch.get_float32_matmul_precision(),
            "model": [type(self.model).__qualname__, self.model.describe(), self.model.training],
            "layout": str(self.model.memory_format),
            "hyper": {name: str(value) for name, value in self.hyper.items()},
            "scheduled": self.scheduled,
            "inputs": [
                [list(t.shape), list(t.stride()), str(t.dtype), t.device.type] for t in inputs
            ],
        }
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode())
        return cache_root() / "compile" / f"step-{digest.hexdigest()[:24]}.pt2"

    def _inputs(
        self,
        x: torch.Tensor,
        target: torch.Tensor,
        y: torch.Tensor | None,
        lr: float,
        weights: dict[str, float],
    ) -> list[torch.Tensor]:
        """The package's flat inputs. The state is looked up on every call: resuming
        (``load_state_dict``) replaces the optimizer's tensors."""
        states = [self._state(p) for p in self.params]
        flat = list(self.weights)
        for key in ("exp_avg", "exp_avg_sq", "step"):
            flat += [state[key] for state in states]
        scalars = [lr, *(weights[name] for name in self.scheduled)]
        flat += [torch.tensor(value, dtype=torch.float32, device=x.device) for value in scalars]
        return flat + [x, target] + ([] if y is None else [y])

    def _load_or_build(self, inputs: list[torch.Tensor]) -> tuple[Any, list[str]]:
        """The loaded package and its loss terms' names; built first if the cache lacks it
        or holds an unreadable one."""
        path = self.package_path(inputs)
        if path.is_file():
            try:
                return _load(path)
            except Exception:  # a truncated or foreign file: build it again
                pass
        self._build(inputs, path)
        return _load(path)

    def _build(self, inputs: list[torch.Tensor], path: Path) -> None:
        """Trace the step into one functional graph and build its package."""
        term_names: list[str] = []
        n, k = len(self.weights), len(self.scheduled)

        def flat_step(*flat: torch.Tensor) -> tuple[torch.Tensor, ...]:
            states = [
                {"exp_avg": a, "exp_avg_sq": s, "step": t}
                for a, s, t in zip(flat[n : 2 * n], flat[2 * n : 3 * n], flat[3 * n : 4 * n])
            ]
            lr, scheduled = flat[4 * n], flat[4 * n + 1 : 4 * n + 1 + k]
            x, target, *y = flat[4 * n + 1 + k :]
            with _attributes(self.model, dict(zip(self.scheduled, scheduled))):
                terms = self._step(list(flat[:n]), states, lr, x, target, y[0] if y else None)
            term_names[:] = terms
            return tuple(terms.values())

        program = internals.export_step(flat_step, inputs)
        options = {
            # Inductor would turn every graph with convolutions channels-last; in its own
            # layout conv-vae's step is faster (benchmarks/RESULTS.md, "Training throughput").
            "layout_optimization": self.model.memory_format == torch.channels_last,
            "aot_inductor.metadata": {"terms": ",".join(term_names)},
        }
        # a crash or a concurrent build never leaves half a package under its name
        atomic_save(
            path, lambda partial: internals.compile_package(program, Path(partial), options)
        )

    def _state(self, p: torch.Tensor) -> dict[str, torch.Tensor]:
        """The optimizer's state for ``p``, created the way fused Adam creates it."""
        state: dict[str, torch.Tensor] = self.optimizer.state[p]
        if not state:
            state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state

    def _loss(
        self,
        weights: list[torch.Tensor],
        x: torch.Tensor,
        target: torch.Tensor,
        y: torch.Tensor | None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        dtype = self.hyper["autocast_dtype"]
        cast = nullcontext() if dtype is None else torch.autocast(x.device.type, dtype=dtype)
        with cast:
            terms = torch.func.functional_call(
                self.loss_module, dict(zip(self.names, weights)), (x, target, y)
            )
        return terms["loss"] * self.hyper["scale"], terms

    def _step(
        self,
        weights: list[torch.Tensor],
        states: list[dict[str, torch.Tensor]],
        lr: torch.Tensor,
        x: torch.Tensor,
        target: torch.Tensor,
        y: torch.Tensor | None,
    ) -> dict[str, torch.Tensor]:
        terms: dict[str, torch.Tensor]
        grads, (_, terms) = torch.func.grad_and_value(self._loss, has_aux=True)(
            weights, x, target, y
        )
        grads = self._clip(grads)
        for p, g, state in zip(weights, grads, states):
            self._adam(p, g, state, lr)
        return terms

    def _clip(self, grads: list[torch.Tensor]) -> list[torch.Tensor]:
        """``clip_grad_norm_``'s rule: scale all gradients by max_norm / total 2-norm if above."""
        max_norm = self.hyper["grad_clip"]
        if not max_norm:
            return grads
        total = torch.stack([g.float().square().sum() for g in grads]).sum().sqrt()
        factor = (max_norm / (total + CLIP_EPS)).clamp(max=1.0)
        return [g * factor for g in grads]

    def _adam(
        self, p: torch.Tensor, g: torch.Tensor, state: dict[str, torch.Tensor], lr: torch.Tensor
    ) -> None:
        """PyTorch's Adam update (``torch.optim.adam``), or AdamW's, in place."""
        (beta1, beta2), eps = self.hyper["betas"], self.hyper["eps"]
        decay = self.hyper["weight_decay"]
        if decay and self.hyper["decoupled"]:
            p.mul_(1 - lr * decay)
        elif decay:
            g = g + decay * p
        step = state["step"]
        step.add_(1)
        state["exp_avg"].lerp_(g, 1 - beta1)
        state["exp_avg_sq"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
        step_size = lr / (1 - beta1**step)
        denom = state["exp_avg_sq"].sqrt() / (1 - beta2**step).sqrt() + eps
        p.sub_(step_size * state["exp_avg"] / denom)


def _load(path: Path) -> tuple[Any, list[str]]:
    """The package's runner and its loss terms' names."""
    runner, metadata = internals.load_package(path)
    return runner, metadata["terms"].split(",")


@cache
def _source_digest() -> str:
    """A digest of aekit's own source: the traced graph comes from its models and this file."""
    digest = hashlib.sha256()
    for file in sorted(Path(aekit.__file__).parent.rglob("*.py")):
        digest.update(file.read_bytes())
    return digest.hexdigest()


# A batch's shapes and dtypes (None for a missing tensor)
Signature = tuple[tuple[tuple[int, ...], torch.dtype] | None, ...]


def _signature(*tensors: torch.Tensor | None) -> Signature:
    """What the compiled graph assumes about its batch: shapes and dtypes (None stays None)."""
    return tuple(None if t is None else (tuple(t.shape), t.dtype) for t in tensors)


def _reason(exc: BaseException) -> str:
    """The first line of the innermost cause: tracers and compilers wrap the informative error
    (e.g. "no C++ compiler found") in a generic one."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:200]
