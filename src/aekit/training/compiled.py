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

from contextlib import nullcontext

import torch
from torch import nn

from aekit.errors import AekitError

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
        model: nn.Module,
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
        device = self.params[0].device
        options = {"cpp_wrapper": True} if device.type == "cpu" else None
        # Static shapes: another model in the same process gets its own graph, not a slower
        # shape-generic one.
        self.step_fn = torch.compile(self._step, fullgraph=True, dynamic=False, options=options)
        self.compiled = False

    def __call__(
        self, x: torch.Tensor, target: torch.Tensor, y: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        weights = [p.detach() for p in self.params]
        # Looked up on every call: resuming (load_state_dict) replaces the state's tensors.
        states = [self._state(p) for p in self.params]
        try:
            with torch.no_grad():
                terms = self.step_fn(weights, states, x, target, y)
        except Exception as exc:  # on the first call, any compiler failure: fall back to eager
            if self.compiled:
                raise
            raise CompileFailed(f"torch.compile failed ({_reason(exc)})") from exc
        self.compiled = True
        return terms

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


def _reason(exc: BaseException) -> str:
    """The first line of the innermost cause: Dynamo wraps the informative error (e.g. "Dynamo
    recompile limit exceeded") in a generic one."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:200]
