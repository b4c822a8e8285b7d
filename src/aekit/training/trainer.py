"""One trainer for every model: it only calls ``model.loss_terms``.

Per epoch it shuffles with its own generator, corrupts / binarizes batches on the device,
optimises ``loss_terms(...)["loss"]``, validates, writes an atomic checkpoint and appends a
line to ``metrics.jsonl``. Same seed, same data, same device -> same numbers, and a run resumed
from its checkpoint ends with exactly the weights of an uninterrupted run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any, Protocol

import torch

from aekit.config import TrainConfig
from aekit.data.batches import batch_indices, iterate
from aekit.data.splits import Split
from aekit.data.transforms import Noise, binarize_dynamic
from aekit.errors import AekitError
from aekit.models.base import Autoencoder
from aekit.training.allocator import keep_freed_memory
from aekit.training.checkpoint import load_checkpoint, load_model, save_checkpoint, save_model
from aekit.training.compiled import CompiledAdamStep, CompileFailed
from aekit.training.rundir import RunDir
from aekit.training.subnormals import flush_subnormals_to_zero


class TrainingDiverged(AekitError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class Callback(Protocol):
    """Hooks for figures and loggers that follow training (progress GIF, TensorBoard...)."""

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, Any]) -> None: ...

    def on_train_end(self, trainer: Trainer) -> None: ...


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then Apple's MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise AekitError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise AekitError("--device cuda was asked for but no CUDA GPU is available")
    return device


def make_optimizer(params, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """Adam / SGD / RMSprop; single-tensor-op ('fused') kernels where PyTorch has them."""
    extra = {} if cfg.eps is None else {"eps": cfg.eps}
    if cfg.optimizer == "adam":
        fused = device.type in ("cpu", "cuda")
        return torch.optim.Adam(
            params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused, **extra
        )
    if cfg.optimizer == "rmsprop":
        # Keras' RMSprop: rho 0.9 (PyTorch's alpha defaults to 0.99).
        return torch.optim.RMSprop(
            params,
            lr=cfg.lr,
            alpha=0.9,
            momentum=cfg.momentum,
            weight_decay=cfg.weight_decay,
            **extra,
        )
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def seed_everything(seed: int) -> None:
    """Seed the global generators that model initialisation, dropout and sampling use."""
    torch.manual_seed(seed)


class Trainer:
    """Optimise a model on in-memory data; optionally record everything in a run directory."""

    def __init__(
        self,
        model: Autoencoder,
        cfg: TrainConfig,
        *,
        noise: Noise | None = None,
        noise_once: bool = False,
        dynamic_binarize: bool = False,
        run: RunDir | None = None,
        callbacks: Sequence[Callback] = (),
        log: Callable[[str], None] | None = None,
        progress: bool = False,
    ) -> None:
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self.model = model.to(self.device)
        if self.device.type == "cpu":
            flush_subnormals_to_zero()
            keep_freed_memory()
        self.optimizer = make_optimizer(self.model.parameters(), cfg, self.device)
        reduction = cfg.loss_reduction or model.default_reduction
        self.scale = 1.0 / model.input_dim if reduction == "per_element" else 1.0
        self.compiled_step = (
            CompiledAdamStep(
                self.model,
                self.optimizer,
                scale=self.scale,
                autocast_dtype=torch.bfloat16 if cfg.precision == "bf16" else None,
                grad_clip=cfg.grad_clip,
            )
            if cfg.compile
            else None
        )
        self.noise = noise
        self.noise_once = noise_once
        self.dynamic_binarize = dynamic_binarize
        self.run = run
        self.callbacks = list(callbacks)
        self.log = log or (lambda _msg: None)
        self.progress = progress
        self.shuffle_rng = torch.Generator().manual_seed(cfg.seed)
        self.noise_rng = torch.Generator(self.device).manual_seed(cfg.seed + 1)
        self.epoch = 0
        self.best_val = math.inf
        self.best_epoch = 0
        self.bad_epochs = 0
        self.history: list[dict[str, Any]] = []

    # -- public ---------------------------------------------------------------------------
    def fit(self, train: Split, val: Split) -> list[dict[str, Any]]:
        """Train until ``cfg.epochs`` (or early stopping); return the per-epoch metrics."""
        x, y = train.x.to(self.device), _to(train.y, self.device)
        inputs = self._corrupt_once(x, self.cfg.seed + 3) if self.noise_once else None
        val_inputs = self._validation_inputs(val)
        for epoch in range(self.epoch + 1, self.cfg.epochs + 1):
            start = time.perf_counter()
            row = {"epoch": epoch, **self.train_epoch(x, y, epoch, inputs)}
            row.update(self.evaluate(val_inputs, val.x, val.y, prefix="val_"))
            row["seconds"] = round(time.perf_counter() - start, 3)
            self._end_epoch(row)
            if self.stopped_early:
                self.log(f"early stopping: {self.patience_used}")
                break
        if self.cfg.early_stopping and self.run is not None and self.run.model.is_file():
            best = load_model(self.run.model, self.device)
            self.model.load_state_dict(best.state_dict())
        for callback in self.callbacks:
            callback.on_train_end(self)
        return self.history

    def resume(self) -> None:
        """Continue from the run directory's checkpoint (weights, optimizer, RNGs, counters)."""
        if self.run is None or not self.run.checkpoint.is_file():
            where = self.run.path if self.run else "this trainer"
            raise AekitError(f"{where} has no checkpoint to resume from")
        rng, state = load_checkpoint(self.run.checkpoint, self.model, self.optimizer)
        self.shuffle_rng.set_state(rng["shuffle"])
        self.noise_rng.set_state(rng["noise"].to(self.noise_rng.get_state().device))
        torch.set_rng_state(rng["torch"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state(rng["cuda"])
        self.epoch = state["epoch"]
        self.best_val, self.best_epoch = state["best_val"], state["best_epoch"]
        self.bad_epochs = state["bad_epochs"]
        self.history = [r for r in self.run.read_metrics() if r["epoch"] <= self.epoch]
        self.run.write_metrics(self.history)

    @torch.no_grad()
    def evaluate(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        labels: torch.Tensor | None,
        prefix: str = "",
    ) -> dict[str, float]:
        """Mean loss terms over a split (inputs may be corrupted versions of the targets)."""
        self.model.eval()
        totals: dict[str, float] = {}
        batches = iterate((inputs, targets, labels), self.cfg.batch_size)
        for xb, tb, yb in batches:
            xb, tb, yb = xb.to(self.device), tb.to(self.device), _to(yb, self.device)
            with self._autocast():
                terms = self.model.loss_terms(xb, tb, yb)
            for key, value in terms.items():
                totals[key] = totals.get(key, 0.0) + float(value) * len(xb)
        return self._summarise(totals, len(inputs), prefix)

    # -- internals ------------------------------------------------------------------------
    def _autocast(self):
        if self.cfg.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def _validation_inputs(self, val: Split) -> torch.Tensor:
        """Validation inputs are corrupted once, with a fixed seed, so epochs are comparable."""
        if self.noise is None or not self.noise.corrupts_validation:
            return val.x
        return self._corrupt_once(val.x, self.cfg.seed + 2)

    def _corrupt_once(self, x: torch.Tensor, seed: int) -> torch.Tensor:
        """One fixed noisy copy of ``x``, the same after a resume (it depends on the seed only)."""
        return self.noise.apply(x, torch.Generator(x.device).manual_seed(seed))

    def train_epoch(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None,
        epoch: int,
        inputs: torch.Tensor | None = None,
    ) -> dict[str, float]:
        """One pass over ``x`` in shuffled batches; ``inputs``, if given, are fixed corrupted
        versions of ``x`` fed to the model instead of corrupting each batch afresh."""
        self.model.train()
        n, totals = len(x), {}
        batches = batch_indices(n, self.cfg.batch_size, self.shuffle_rng)
        bar = self._bar(math.ceil(n / self.cfg.batch_size), epoch)
        try:
            for step, idx in enumerate(batches):
                idx = idx.to(self.device)
                batch, target, yb = self._batch(x, y, idx, inputs)
                terms = self._step(batch, target, yb)
                value = float(terms["loss"].detach()) * self.scale
                if not math.isfinite(value):
                    raise TrainingDiverged(self._diverged_message(epoch, step))
                for key, term in terms.items():
                    totals[key] = totals.get(key, 0.0) + float(term.detach()) * len(idx)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{value:.4f}", refresh=False)
        finally:  # also on Ctrl-C, so the error line does not land on the bar
            if bar is not None:
                bar.close()
        return self._summarise(totals, n, "train_")

    def _step(
        self, batch: torch.Tensor, target: torch.Tensor, yb: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        """One optimiser step on a batch; returns its loss terms. Full batches go through the
        compiled step when the run asks for one (a smaller last batch would need a second
        graph for its shape, so it steps eagerly on the same optimizer state)."""
        step = self.compiled_step
        if step is not None and len(batch) == self.cfg.batch_size:
            if not step.compiled and not step.is_built_for(batch, target, yb):
                self.log(
                    "compiling the training step (--compile; once per model and batch shape "
                    "on this machine, ~15 s; later runs load it from aekit's cache)"
                )
            try:
                return step(batch, target, yb)
            except CompileFailed as exc:
                self.log(f"{exc}; training without --compile")
                self.compiled_step = None
        with self._autocast():
            terms = self.model.loss_terms(batch, target, yb)
        self.optimizer.zero_grad(set_to_none=True)
        (terms["loss"] * self.scale).backward()
        if self.cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        return terms

    def _batch(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None,
        idx: torch.Tensor,
        inputs: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The examples at ``idx`` as (model input, target, labels): binarized, and corrupted
        afresh or taken from the fixed noisy copy ``inputs``, as the run asks."""
        target = x.index_select(0, idx)
        yb = None if y is None else y.index_select(0, idx)
        if self.dynamic_binarize:
            target = binarize_dynamic(target, self.noise_rng)
        if inputs is not None:
            return inputs.index_select(0, idx), target, yb
        if self.noise is not None:
            return self.noise.apply(target, self.noise_rng), target, yb
        return target, target, yb

    def _summarise(self, totals: dict[str, float], n: int, prefix: str) -> dict[str, float]:
        """Average per example; ``loss`` in the optimised scale, terms in nats per example."""
        means = {key: value / n for key, value in totals.items()}
        out = {f"{prefix}loss": means.pop("loss") * self.scale}
        out.update({f"{prefix}{key}": value for key, value in means.items()})
        if self.model.variational and self.model.recon_loss == "bce":
            out[f"{prefix}elbo"] = -(means["recon"] + means["kl"])
        return out

    def _bar(self, total: int, epoch: int):
        if not self.progress:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=f"epoch {epoch}/{self.cfg.epochs}", leave=False, unit="batch")

    def _diverged_message(self, epoch: int, step: int) -> str:
        kept = (
            f"; the last good checkpoint (epoch {self.epoch}) is kept in {self.run.path}"
            if self.run is not None and self.epoch > 0
            else ""
        )
        return (
            f"training diverged: the loss became NaN/Inf at epoch {epoch}, batch {step + 1}"
            f"{kept}; try a lower --lr"
        )

    def _end_epoch(self, row: dict[str, Any]) -> None:
        self.epoch = row["epoch"]
        improved = row["val_loss"] < self.best_val
        if improved:
            self.best_val, self.best_epoch, self.bad_epochs = row["val_loss"], self.epoch, 0
        else:
            self.bad_epochs += 1
        self.history.append(row)
        if self.run is not None:
            self._save(improved)
            self.run.append_metrics(row)
        self.log(_format_row(row, self.cfg.epochs))
        for callback in self.callbacks:
            callback.on_epoch_end(self, row)

    def _save(self, improved: bool) -> None:
        rng = {
            "shuffle": self.shuffle_rng.get_state(),
            "noise": self.noise_rng.get_state(),
            "torch": torch.get_rng_state(),
        }
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        state = {
            "epoch": self.epoch,
            "best_val": self.best_val,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
        }
        save_checkpoint(self.run.checkpoint, self.model, self.optimizer, rng, state)
        if improved or not self.cfg.early_stopping:
            save_model(self.model, self.run.model)

    @property
    def stopped_early(self) -> bool:
        """Whether early stopping's patience has run out (the run is finished)."""
        return bool(self.cfg.early_stopping) and self.bad_epochs >= self.cfg.early_stopping

    @property
    def patience_used(self) -> str:
        """Why early stopping fired, for messages."""
        epochs = "epoch" if self.bad_epochs == 1 else f"{self.bad_epochs} epochs"
        return f"no improvement in the last {epochs}"


def _to(t: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    return None if t is None else t.to(device)


def _format_row(row: dict[str, Any], epochs: int) -> str:
    parts = [f"epoch {row['epoch']}/{epochs}"]
    for key in ("train_loss", "val_loss", "val_elbo"):
        if key in row:
            parts.append(f"{key} {row[key]:.4f}")
    parts.append(f"({row['seconds']:.1f}s)")
    return "  ".join(parts)
