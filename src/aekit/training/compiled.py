"""The whole training step (forward, backward and Adam) compiled into one graph: ``--compile``.

Why: on a CPU, the eager step of a small model such as S1's spends about as long on the
kernels around its matrix products (activations and their gradients, the loss, autocast's
casts, Adam's update) and on the Python that launches them as on the products themselves.
Inductor fuses such kernels into a few C++ loops, but only within one graph: compiling the
forward alone leaves the backward pass and the optimizer eager. Here the gradient comes from
``torch.func.grad`` over the model's own ``loss_terms`` and Adam's update is written out, so
forward, backward and update compile together.

How: the step is traced into one graph of ATen operations (``make_fx``), exported, and built
ahead of time by AOTInductor into a package (a shared library) in aekit's cache, keyed by
everything the graph depends on. A later run with the same model, hyper-parameters, batch
shape, aekit source and torch installation loads the package in milliseconds through
AOTInductor's C++ loader. Why not ``torch.compile``: it traces and compiles afresh in every
process (2.5 s per run with warm caches, of which importing Inductor alone is 0.8 s), which
over a 10-epoch S1 run costs more than compiling gains; its kernels were also slower here.

The update is PyTorch's Adam formula applied in place to the parameters and to the
``torch.optim.Adam`` instance's own state tensors (the package writes into its inputs), so
checkpoints, resuming and eager steps (the trainer takes the last, smaller batch of an epoch
eagerly rather than build a second package for its shape) all share one optimizer state.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import warnings
from contextlib import nullcontext
from functools import cache
from pathlib import Path

import torch
from torch import nn

import aekit
from aekit.errors import AekitError
from aekit.io import atomic_save, cache_root
from aekit.models.base import Autoencoder

CLIP_EPS = 1e-6  # what torch.nn.utils.clip_grad_norm_ adds to the norm
TORCH_INTERNAL_WARNINGS = (r"`isinstance\(treespec, LeafSpec\)` is deprecated", r"`torch\.jit\.")


class CompileFailed(AekitError):
    """The step could not be built or loaded (no C++ compiler, an unsupported operation...)."""


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
    the batch's loss terms. The first call loads the step's package from aekit's cache or
    builds it there; if that fails it raises :class:`CompileFailed` before any weight or
    optimizer average changed, so the caller can step eagerly instead.
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
        self.model = model
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
        self.runner = None
        self.term_names: list[str] = []
        self.batch_signature: tuple | None = None

    def __call__(
        self, x: torch.Tensor, target: torch.Tensor, y: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        signature = _signature(x, target, y)
        if self.batch_signature not in (None, signature):
            raise ValueError(f"compiled for batches {self.batch_signature}, not {signature}")
        inputs = self._inputs(x, target, y)
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
        return self.package_path(self._inputs(x, target, y)).is_file()

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
            "inputs": [
                [list(t.shape), list(t.stride()), str(t.dtype), t.device.type] for t in inputs
            ],
        }
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode())
        return cache_root() / "compile" / f"step-{digest.hexdigest()[:24]}.pt2"

    def _inputs(
        self, x: torch.Tensor, target: torch.Tensor, y: torch.Tensor | None
    ) -> list[torch.Tensor]:
        """The package's flat inputs. The state is looked up on every call: resuming
        (``load_state_dict``) replaces the optimizer's tensors."""
        states = [self._state(p) for p in self.params]
        flat = list(self.weights)
        for key in ("exp_avg", "exp_avg_sq", "step"):
            flat += [state[key] for state in states]
        return flat + [x, target] + ([] if y is None else [y])

    def _load_or_build(self, inputs: list[torch.Tensor]):
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
        """Trace the step into one functional graph, export it and build its package.

        Two warnings that torch 2.13 raises from its own code meanwhile (about its ``LeafSpec``
        and ``torch.jit.script_method``) are silenced: they are about torch's internals, and
        the user can do nothing about them."""
        with warnings.catch_warnings():
            for message in TORCH_INTERNAL_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
            self._trace_and_compile(inputs, path)

    def _trace_and_compile(self, inputs: list[torch.Tensor], path: Path) -> None:
        from torch.fx.experimental.proxy_tensor import make_fx

        term_names: list[str] = []

        def flat_step(*flat):
            n = len(self.weights)
            states = [
                {"exp_avg": a, "exp_avg_sq": s, "step": t}
                for a, s, t in zip(flat[n : 2 * n], flat[2 * n : 3 * n], flat[3 * n : 4 * n])
            ]
            x, target, *y = flat[4 * n :]
            terms = self._step(list(flat[:n]), states, x, target, y[0] if y else None)
            term_names[:] = terms
            return tuple(terms.values())

        graph = make_fx(torch.func.functionalize(flat_step), tracing_mode="fake")(*inputs)
        program = torch.export.export(graph, tuple(inputs), strict=False)
        options = {
            # Inductor would turn every graph with convolutions channels-last; in its own
            # layout conv-vae's step is faster (1.05x eager, against 0.85x).
            "layout_optimization": self.model.memory_format == torch.channels_last,
            "aot_inductor.metadata": {"terms": ",".join(term_names)},
        }
        # a crash or a concurrent build never leaves half a package under its name
        atomic_save(path, lambda partial: _compile_package(program, Path(partial), options))

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


def _compile_package(program, path: Path, options: dict) -> None:
    """AOTInductor: generate the C++ of ``program``, compile it and package it at ``path``."""
    import torch._inductor

    torch._inductor.aoti_compile_and_package(
        program, package_path=str(path), inductor_configs=options
    )


def _load(path: Path):
    """The package's runner and its loss terms' names. AOTInductor's C++ loader is called
    directly: ``torch._inductor.aoti_load_package`` wraps the same loader but first imports
    Inductor, 0.8 s that a run whose package is cached never needs."""
    runner = torch._C._aoti.AOTIModelPackageLoader(str(path), "model", False, 1, -1)
    return runner, runner.get_metadata()["terms"].split(",")


@cache
def _source_digest() -> str:
    """A digest of aekit's own source: the traced graph comes from its models and this file."""
    digest = hashlib.sha256()
    for file in sorted(Path(aekit.__file__).parent.rglob("*.py")):
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _signature(*tensors: torch.Tensor | None) -> tuple:
    """What the compiled graph assumes about its batch: shapes and dtypes (None stays None)."""
    return tuple(None if t is None else (tuple(t.shape), t.dtype) for t in tensors)


def _reason(exc: BaseException) -> str:
    """The first line of the innermost cause: tracers and compilers wrap the informative error
    (e.g. "no C++ compiler found") in a generic one."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:200]
