"""One trainer for every model: it only calls ``model.loss_terms``.

Per epoch it shuffles with its own generator, corrupts / binarizes batches on the device,
sets each step's learning rate and scheduled loss weights, optimises
``loss_terms(...)["loss"]`` (and, for a model with several players, each player's own term
into its own parameters: ``parameter_groups``), validates, writes an atomic checkpoint and
appends a line to ``metrics.jsonl``. Same seed, same data, same device -> same numbers, and
a run resumed from its checkpoint ends with exactly the weights of an uninterrupted run.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

import torch

from aekit.config import MAX_SEED, RunConfig, TrainConfig
from aekit.data.batches import batch_indices
from aekit.data.splits import DataBundle, Split
from aekit.data.transforms import Noise, binarize_dynamic, parse_noise
from aekit.errors import AekitError, AekitWarning, WriteFailed
from aekit.models.base import Autoencoder, build_model
from aekit.runs.checkpoint import load_checkpoint, load_model, save_checkpoint
from aekit.runs.directory import Run
from aekit.training import internals
from aekit.training.compiled import CompiledAdamStep, CompileFailed
from aekit.training.distributed import MIN_SHARE, World
from aekit.training.optim import LearningRate, LossWeights, make_optimizer
from aekit.training.subnormals import subnormals_flushed

if TYPE_CHECKING:
    from tqdm import tqdm


class TrainingDiverged(AekitError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}
EXAMPLES = "#examples"  # how many examples a total is over (in sums across ranks)
EXPLODED = 1000.0  # a validation loss this many times the run's first batch's is diverging


class Callback(Protocol):
    """Hooks for figures and loggers that follow training (progress GIF, TensorBoard...).

    A callback may also define ``on_train_begin(trainer)``, called when ``fit`` starts (to
    draw the untrained or just resumed model), and ``on_step_end(trainer)``, called after
    every optimiser step (keep it cheap). ``trainer.run`` holds the run's data."""

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


def seed_everything(seed: int) -> None:
    """Seed the global generators that model initialisation, dropout and sampling use."""
    torch.manual_seed(seed)


class Trainer:
    """Optimise a model on in-memory data; optionally record everything in a run (with
    ``record=False`` its callbacks still see the run, but nothing is written to it).

    ``cfg``'s unset values take the model's training defaults (``Autoencoder.train_defaults``)
    and then aekit's (:data:`aekit.config.TRAIN_FALLBACKS`); ``trainer.cfg`` is the result."""

    def __init__(
        self,
        model: Autoencoder,
        cfg: TrainConfig,
        *,
        noise: Noise | None = None,
        noise_once: bool = False,
        dynamic_binarize: bool = False,
        run: Run | None = None,
        record: bool = True,
        callbacks: Sequence[Callback] = (),
        log: Callable[[str], None] | None = None,
        progress: bool = False,
        world: World | None = None,
    ) -> None:
        self.cfg = cfg = cfg.with_defaults(model.train_defaults)
        self.world = world  # several processes (torchrun): this one's rank and device
        self.device = world.device if world is not None else resolve_device(cfg.device)
        self.grad_scaler = _grad_scaler(cfg.precision, self.device)
        if cfg.precision == "bf16" and self.device.type == "cpu":
            internals.warn_without_native_bf16("--precision bf16")
        self.model = model.to(self.device)
        self.players = _players(model)
        groups = [{"params": params} for params in self.players.values()]
        self.optimizer = make_optimizer(groups, cfg, self.device)
        self.loss_weights = LossWeights(cfg.weight_schedules, model)
        reduction = cfg.loss_reduction or model.default_reduction
        self.scale = 1.0 / model.input_dim if reduction == "per_element" else 1.0
        self.noise = noise
        self.noise_once = noise_once
        self.dynamic_binarize = dynamic_binarize
        self.run = run  # what callbacks draw from
        self.recording = run if record else None  # where checkpoints and metrics go
        self.callbacks = list(callbacks)
        self.log = log or (lambda _msg: None)
        self.progress = progress
        self.compiled_step = self._compiled_step() if cfg.compile else None
        self.shuffle_rng = torch.Generator().manual_seed(cfg.seed)  # the same on every rank
        self.noise_rng = torch.Generator(self.device).manual_seed(rank_seed(cfg.seed + 1, world))
        self.parallel: torch.nn.Module | None = None  # the DDP wrapper while fit runs
        self.epoch = 0
        self.step: int | None = 0  # optimisation steps taken, over every epoch
        self.best_val = math.inf
        self.best_epoch = 0
        self.bad_epochs = 0
        self.first_loss: float | None = None  # the run's first batch's, before any step
        self.warned = False
        self._best_weights: dict[str, torch.Tensor] | None = None  # early stopping, no folder
        self.history: list[dict[str, Any]] = []
        self.schedule: LearningRate | None = None
        self._schedule_state: dict[str, Any] | None = None

    # -- public ---------------------------------------------------------------------------
    def attach(self, run: Run) -> None:
        """Record into ``run`` from now on, and show it to the callbacks."""
        self.run = self.recording = run

    def fit(self, train: Split, val: Split) -> list[dict[str, Any]]:
        """Train until ``cfg.epochs`` (or early stopping); return the per-epoch metrics."""
        flushed = subnormals_flushed() if self.device.type == "cpu" else nullcontext()
        try:
            with flushed:
                self._fit(train, val)
        finally:  # DDP holds the process group: let go of it before the group is destroyed
            self.parallel = None
        return self.history

    def _schedule(self, examples: int) -> LearningRate:
        """The learning-rate schedule for epochs of ``examples`` (made on the first epoch)."""
        if self.schedule is None:
            assert self.cfg.batch_size is not None, "with_defaults() sets it"
            steps_per_epoch = math.ceil(examples / self.cfg.batch_size)
            self.schedule = LearningRate(self.cfg, steps_per_epoch)
            if self._schedule_state is not None:
                self.schedule.load_state(self._schedule_state)
            if self.step is None:  # resumed from a checkpoint that predates step counting
                self.step = self.epoch * steps_per_epoch
        return self.schedule

    def _fit(self, train: Split, val: Split) -> None:
        train = train.to(self.device)
        if self.world is not None:
            first = torch.arange(2)
            xb, yb = train.batch(first, self.device), _to(_rows(train.y, first), self.device)
            unused = self._leaves_parameters_unused(xb, yb)
            self.parallel = _data_parallel(self.model, self.device, unused)
        inputs = None
        if self.noise_once:
            inputs = self._corrupt_once(train.x.to(self.device), self.cfg.seed + 3)
        val_inputs = self._validation_inputs(val)
        for callback in self.callbacks:
            begin = getattr(callback, "on_train_begin", None)
            if begin is not None:
                begin(self)
        epochs = [] if self.stopped_early else range(self.epoch + 1, self.cfg.epochs + 1)
        for epoch in epochs:
            start = time.perf_counter()
            row = {"epoch": epoch, **self.train_epoch(train, epoch, inputs)}
            row.update(self.evaluate(val, val_inputs, prefix="val_"))
            row.update(self._scheduled_values())
            row["seconds"] = round(time.perf_counter() - start, 3)
            self._check_divergence(row)
            self._end_epoch(row)
            if self.stopped_early:
                self.log(f"early stopping: {self.patience_used}")
                break
        if self.cfg.early_stopping:
            self._restore_best()
        for callback in self.callbacks:
            callback.on_train_end(self)

    def _restore_best(self) -> None:
        """Early stopping keeps the best epoch's weights: from ``model.safetensors`` when the
        run has a folder, else from the copy kept in memory."""
        run = self.recording
        if run is not None and run.path is not None and run.model_file.is_file():
            self.model.load_state_dict(load_model(run.model_file, self.device).state_dict())
        elif self._best_weights is not None:
            self.model.load_state_dict(self._best_weights)

    def resume(self, source: Run | None = None) -> None:
        """Continue from the checkpoint of ``source`` (default: the run this trainer records
        into): weights, optimizer, RNGs, counters. A rank the checkpoint has no generator
        states for (it was written by fewer processes) seeds its own from the epoch."""
        run = source or self.recording
        if run is None or run.path is None or not run.checkpoint_file.is_file():
            where = run.path if run is not None and run.path else "this trainer"
            raise AekitError(f"{where} has no checkpoint to resume from")
        rng, state = load_checkpoint(run.checkpoint_file, self.model, self.optimizer)
        self.shuffle_rng.set_state(rng["shuffle"])
        self._restore_rank_rngs(rng, state["epoch"])
        self.epoch = state["epoch"]
        self.step = state.get("step")
        self.best_val, self.best_epoch = _number(state["best_val"]), state["best_epoch"]
        self.bad_epochs = state["bad_epochs"]
        self._schedule_state = state.get("schedule")
        self.first_loss = state.get("first_loss")
        if self.grad_scaler is not None and state.get("grad_scaler"):
            self.grad_scaler.load_state_dict(state["grad_scaler"])
        rows = state.get("history")  # older checkpoints: the metrics file up to their epoch
        if rows is None:
            rows = [r for r in run.read_metrics() if r["epoch"] <= self.epoch]
        self.history = list(rows)
        if self.recording is not None:
            self.recording.write_metrics(self.history)

    def _restore_rank_rngs(self, rng: dict[str, torch.Tensor], epoch: int) -> None:
        """This process's noise and torch generators as the checkpoint saved them."""
        suffix = _rank_suffix(self.world)
        if f"noise{suffix}" not in rng:  # a rank the saving run did not have
            seed = rank_seed(self.cfg.seed + 1 + epoch, self.world)
            self.noise_rng.manual_seed(seed)
            torch.manual_seed(seed + 1)
            return
        self.noise_rng.set_state(rng[f"noise{suffix}"].to(self.noise_rng.get_state().device))
        torch.set_rng_state(rng[f"torch{suffix}"])
        if f"cuda{suffix}" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state(rng[f"cuda{suffix}"], self.device)

    @torch.no_grad()
    def evaluate(
        self, split: Split, inputs: torch.Tensor | None = None, prefix: str = ""
    ) -> dict[str, float]:
        """Mean loss terms over a split, batch by batch; ``inputs``, if given, are corrupted
        versions of its examples fed to the model (they stay the targets)."""
        self.model.eval()
        totals: dict[str, float] = {}
        assert self.cfg.batch_size is not None, "with_defaults() sets it"
        batches = list(torch.arange(len(split)).split(self.cfg.batch_size))
        if self.world is not None:  # each rank its batches; the sums are added up below
            batches = list(self.world.take(batches))
        for idx, tb in zip(batches, split.fetch(batches, self.device), strict=True):
            xb = tb if inputs is None else inputs[idx].to(self.device)
            yb = _to(_rows(split.y, idx), self.device)
            with self._autocast():
                terms = self.model.loss_terms(xb, tb, yb)
            for key, value in terms.items():
                totals[key] = totals.get(key, 0.0) + float(value) * len(xb)
        return self._summarise(self._over_ranks(totals), len(split), prefix)

    def train_epoch(
        self, train: Split, epoch: int, inputs: torch.Tensor | None = None
    ) -> dict[str, float]:
        """One pass over ``train`` in shuffled batches; ``inputs``, if given, are fixed
        corrupted versions of its examples fed to the model instead of corrupting each batch
        afresh."""
        self.model.train()
        n, counted = len(train), 0
        totals: dict[str, float] = {}
        self._schedule(n)
        assert self.step is not None, "_schedule() counts the steps"
        assert self.cfg.batch_size is not None, "with_defaults() sets it"
        batches = list(batch_indices(n, self.cfg.batch_size, self.shuffle_rng))
        shares = [(idx, 1.0) if self.world is None else self.world.shard(idx) for idx in batches]
        fetched = train.fetch([share[0] for share in shares if share is not None], self.device)
        bar = self._bar(n, epoch)
        step_hooks = [cb.on_step_end for cb in self.callbacks if hasattr(cb, "on_step_end")]
        try:
            for step, share in enumerate(shares):
                if share is None:  # too few for every rank: its step is counted, not taken
                    self.step += 1
                    continue
                idx, weight = share
                batch, target, yb = self._batch(train, idx, next(fetched), inputs)
                terms = self._step(batch, target, yb, weight)
                for hook in step_hooks:
                    hook(self)
                value = float(terms["loss"].detach()) * self.scale
                players = (float(terms[term].detach()) for term in self.players)
                if not self._all_finite([value, *players]):
                    raise TrainingDiverged(self._diverged_message(epoch, f"batch {step + 1}"))
                if self.first_loss is None:
                    self.first_loss = value
                counted += len(idx)
                for key, term in terms.items():
                    totals[key] = totals.get(key, 0.0) + float(term.detach()) * len(idx)
                if bar is not None:
                    bar.update(len(batches[step]))  # the global batch's examples
                    bar.set_postfix(loss=f"{value:.4f}", refresh=False)
        finally:  # also on Ctrl-C, so the error line does not land on the bar
            if bar is not None:
                bar.close()
        totals = self._over_ranks({**totals, EXAMPLES: counted})
        return self._summarise(totals, int(totals.pop(EXAMPLES)), "train_")

    def _all_finite(self, values: list[float]) -> bool:
        """Whether this step's losses are finite numbers on every rank (all ranks then stop
        together, with the same message)."""
        bad = 0.0 if all(math.isfinite(v) for v in values) else 1.0
        return (bad if self.world is None else self.world.sum([bad])[0]) == 0.0

    def _leaves_parameters_unused(self, x: torch.Tensor, y: torch.Tensor | None) -> bool:
        """Whether the players' losses miss some trainable parameter, probed on a couple of
        examples in eval mode (no running statistics move) with the generators forked."""
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        devices = [self.device] if self.device.type == "cuda" else []
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.random.fork_rng(devices=devices):
                terms = self.model.loss_terms(x, x, y)
                total = sum(terms[term] for term in self.players)
                assert isinstance(total, torch.Tensor), "a model has players"
                grads = torch.autograd.grad(total, trainable, allow_unused=True)
        finally:
            self.model.train(was_training)
        return any(grad is None for grad in grads)

    def _over_ranks(self, totals: dict[str, float]) -> dict[str, float]:
        """Sums over every rank's examples. Rank 0's keys name the terms (it always has a
        batch: the first); a rank that had none adds zeros."""
        if self.world is None:
            return totals
        keys = self.world.gather_text("\n".join(sorted(totals)))[0].split("\n")
        sums = self.world.sum([totals.get(key, 0.0) for key in keys])
        return dict(zip(keys, sums, strict=True))

    @property
    def stopped_early(self) -> bool:
        """Whether early stopping's patience has run out (the run is finished)."""
        patience = self.cfg.early_stopping
        return bool(patience and self.bad_epochs >= patience)

    @property
    def patience_used(self) -> str:
        """Why early stopping fired, for messages."""
        epochs = "epoch" if self.bad_epochs == 1 else f"{self.bad_epochs} epochs"
        return f"no improvement in the last {epochs}"

    # -- internals ------------------------------------------------------------------------
    def _autocast(self) -> AbstractContextManager[None]:
        dtype = AUTOCAST.get(self.cfg.precision)
        if dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def _validation_inputs(self, val: Split) -> torch.Tensor | None:
        """Validation inputs are corrupted once, with a fixed seed, so epochs are comparable
        (None: the examples themselves)."""
        if self.noise is None or not self.noise.corrupts_validation:
            return None
        return self._corrupt_once(val.x, self.cfg.seed + 2)

    def _corrupt_once(self, x: torch.Tensor, seed: int) -> torch.Tensor:
        """One fixed noisy copy of ``x``, the same after a resume (it depends on the seed only)."""
        assert self.noise is not None, "only a run with noise corrupts"
        return self.noise.apply(x, torch.Generator(x.device).manual_seed(seed))

    def _step(
        self,
        batch: torch.Tensor,
        target: torch.Tensor,
        yb: torch.Tensor | None,
        weight: float = 1.0,
    ) -> dict[str, torch.Tensor]:
        """One optimiser step on a batch at this step's learning rate and loss weights;
        returns its loss terms. Full batches go through the compiled step when the run asks
        for one (a smaller last batch would need a second graph for its shape, so it steps
        eagerly on the same optimizer state). ``weight`` scales this rank's gradient (its
        share of the global batch, :meth:`World.shard`)."""
        assert self.schedule is not None and self.step is not None, "_schedule() made them"
        lr = self.schedule.at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        weights = self.loss_weights.apply(self.model, self.step / self.schedule.steps_per_epoch)
        self.step += 1
        if self.compiled_step is not None and len(batch) == self.cfg.batch_size:
            terms = self._compiled(batch, target, yb, lr, weights)
            if terms is not None:
                return terms
        with self._autocast():
            terms = (self.parallel or self.model.loss_terms)(batch, target, yb)
        self.optimizer.zero_grad(set_to_none=True)
        self._backward(terms, self.scale * weight)
        scaler = self.grad_scaler
        if self.cfg.grad_clip:
            if scaler is not None:  # clip the true gradients, not the scaled ones
                scaler.unscale_(self.optimizer)
            for group in self.optimizer.param_groups:  # each player clipped on its own
                torch.nn.utils.clip_grad_norm_(group["params"], self.cfg.grad_clip)
        if scaler is None:
            internals.step_optimizer(self.optimizer)
        else:  # skips a step whose scaled gradients overflowed, and adapts the scale
            scaler.step(self.optimizer)
            scaler.update()
        if self.world is not None:  # what no gradient updates (an EMA codebook, running
            # statistics) is rank 0's on every rank, as DDP keeps the weights the same
            frozen = [p.data for p in self.model.parameters() if not p.requires_grad]
            self.world.broadcast([*frozen, *self.model.buffers()])
        return terms

    def _backward(self, terms: dict[str, torch.Tensor], scale: float) -> None:
        """Gradients of each player's term, into that player's parameters only (under DDP
        each backward hands its gradients to the exchange, which completes with the last)."""

        def scaled(term: str) -> torch.Tensor:
            loss = terms[term] * scale
            return loss if self.grad_scaler is None else self.grad_scaler.scale(loss)

        if len(self.players) == 1:
            scaled("loss").backward()
            return
        last = len(self.players) - 1
        for i, (term, params) in enumerate(self.players.items()):
            trained = [p for p in params if p.requires_grad]
            scaled(term).backward(inputs=trained, retain_graph=i < last)

    def _compiled_step(self) -> CompiledAdamStep | None:
        """The step ``--compile`` asks for, where this torch is one it was tested with."""
        reason = internals.compile_unavailable()
        if self.model.compile_refusal:
            reason = f"--compile cannot build model {self.model.name!r}'s step: "
            reason += self.model.compile_refusal
        if len(self.players) > 1:
            players = " and ".join(self.players)
            reason = f"model {self.model.name!r} trains several players ({players})"
            reason += "; --compile builds a step for one"
        if self.world is not None:
            reason = "under torchrun: --compile builds the step of one process"
        if self.grad_scaler is not None:
            reason = "--compile builds an fp32 or bf16 step, not fp16's scaled one"
        if reason:
            self.log(f"{reason}; training without --compile")
            return None
        return CompiledAdamStep(
            self.model,
            self.optimizer,
            scale=self.scale,
            autocast_dtype=torch.bfloat16 if self.cfg.precision == "bf16" else None,
            grad_clip=self.cfg.grad_clip,
            scheduled=self.loss_weights.names,
        )

    def _compiled(
        self,
        batch: torch.Tensor,
        target: torch.Tensor,
        yb: torch.Tensor | None,
        lr: float,
        weights: dict[str, float],
    ) -> dict[str, torch.Tensor] | None:
        """The compiled step's loss terms; None (said once, then eager from now on) if it
        cannot be had."""
        step = self.compiled_step
        assert step is not None, "called while there is one"
        if not step.compiled and not step.is_built_for(batch, target, yb):
            self.log(
                "compiling the training step (--compile; once per model and batch shape "
                "on this machine; later runs load it from aekit's cache)"
            )
        try:
            return step(batch, target, yb, lr, weights)
        except CompileFailed as exc:
            self.log(f"{exc}; training without --compile")
            self.compiled_step = None
            return None

    def _scheduled_values(self) -> dict[str, float]:
        """What changes over training, logged with each epoch: the learning rate and the
        scheduled loss weights as the epoch leaves them (what the next step would use)."""
        assert self.schedule is not None and self.step is not None, "_schedule() made them"
        values = dict(self.loss_weights.at(self.step / self.schedule.steps_per_epoch))
        if self.cfg.lr_schedule != "constant" or self.cfg.warmup_epochs:
            values["lr"] = self.schedule.at(self.step)
        return values

    def _batch(
        self,
        train: Split,
        idx: torch.Tensor,
        target: torch.Tensor,
        inputs: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The examples at ``idx`` (``target``, fetched) as (model input, target, labels):
        binarized, and corrupted afresh or taken from the fixed noisy copy ``inputs``, as the
        run asks."""
        idx = idx.to(self.device)
        yb = _rows(train.y, idx)
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

    def _bar(self, total: int, epoch: int) -> tqdm[NoReturn] | None:
        if not self.progress:
            return None
        from tqdm.auto import tqdm

        desc = f"epoch {epoch}/{self.cfg.epochs}"
        return tqdm(total=total, desc=desc, leave=False, unit="example", unit_scale=True)

    def _diverged_message(self, epoch: int, where: str) -> str:
        folder = None if self.recording is None else self.recording.path
        kept = (
            f"; the last good checkpoint (epoch {self.epoch}) is kept in {folder}"
            if folder is not None and self.epoch > 0
            else ""
        )
        return (
            f"training diverged: the loss became NaN/Inf at epoch {epoch}, {where}"
            f"{kept}; try a lower --lr"
        )

    def _check_divergence(self, row: dict[str, Any]) -> None:
        """A validation loss that is not a finite number ends the run before its epoch is
        recorded; one that has grown by orders of magnitude gets a warning (once)."""
        val_loss = row["val_loss"]
        players = [row.get(f"val_{term}", 0.0) for term in self.players]
        if not all(math.isfinite(value) for value in (val_loss, *players)):
            raise TrainingDiverged(self._diverged_message(row["epoch"], "on the validation data"))
        start = self.first_loss
        if not self.warned and start and val_loss > EXPLODED * abs(start):
            self.warned = True
            warnings.warn(
                f"the validation loss at epoch {row['epoch']} ({val_loss:.4g}) is over "
                f"{EXPLODED:g} times the first batch's ({start:.4g}): training is probably "
                "diverging; try a lower --lr",
                AekitWarning,
                stacklevel=2,
            )

    def _end_epoch(self, row: dict[str, Any]) -> None:
        self.epoch = row["epoch"]
        improved = row["val_loss"] < self.best_val
        if improved:
            self.best_val, self.best_epoch, self.bad_epochs = row["val_loss"], self.epoch, 0
        else:
            self.bad_epochs += 1
        assert self.schedule is not None, "the epoch made it"
        self.schedule.end_epoch(row["val_loss"])
        self.history.append(row)
        saved = self.recording is not None and self.recording.path is not None
        if improved and self.cfg.early_stopping and not saved:
            self._best_weights = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        rng = self._rng_states()  # every rank takes part, whoever writes
        if self.recording is not None:
            if self.recording.path is not None:
                self._save(improved, rng)
            self.recording.append_metrics(row)
        self.log(_format_row(row, self.cfg.epochs))
        for callback in self.callbacks:
            callback.on_epoch_end(self, row)

    def _rng_states(self) -> dict[str, torch.Tensor]:
        """The generators a checkpoint keeps: the shared shuffle, and each rank's noise,
        torch (and CUDA) generators, suffixed ``.RANK`` for ranks after the first."""
        own = {"noise": self.noise_rng.get_state(), "torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            own["cuda"] = torch.cuda.get_rng_state(self.device)
        states = {"shuffle": self.shuffle_rng.get_state()}
        if self.world is None:
            return states | own
        for key, state in own.items():
            for rank, gathered in enumerate(self.world.gather(state)):
                states[f"{key}{'' if rank == 0 else f'.{rank}'}"] = gathered
        return states

    def _save(self, improved: bool, rng: dict[str, torch.Tensor]) -> None:
        run = self.recording
        assert run is not None and self.schedule is not None, "an epoch recorded in a run"
        keeps_best = bool(self.cfg.early_stopping)
        state = {
            "epoch": self.epoch,
            "step": self.step,
            "best_val": None if math.isinf(self.best_val) else self.best_val,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "schedule": self.schedule.state(),
            "first_loss": self.first_loss,
            "grad_scaler": None if self.grad_scaler is None else self.grad_scaler.state_dict(),
            "history": self.history,
            # the epoch whose weights model.safetensors holds once this epoch is committed
            "model_epoch": self.best_epoch if keeps_best else self.epoch,
        }
        try:
            save_checkpoint(run.checkpoint_file, self.model, self.optimizer, rng, state)
            if improved or not keeps_best:
                run.save_model(self.model, self.epoch)
        except WriteFailed as failed:
            kept = f"epoch {self.epoch - 1}'s files are kept" if self.epoch > 1 else "nothing"
            raise WriteFailed(failed.path, OSError(f"{failed.reason}; {kept}")) from None


def _grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler | None:
    """fp16's loss scaler (it keeps small gradients from flushing to zero in fp16's narrow
    range), which PyTorch provides for CUDA."""
    if precision != "fp16":
        return None
    if device.type != "cuda":
        raise AekitError(
            f"--precision fp16 needs a CUDA GPU (training on {device.type}); use bf16 here"
        )
    return torch.amp.GradScaler("cuda")


def rank_seed(seed: int, world: World | None) -> int:
    """A generator seed of its own for each rank (rank 0's is ``seed``, as in one process)."""
    rank = 0 if world is None else world.rank
    return (seed + 1_000_003 * rank) % MAX_SEED


def _rank_suffix(world: World | None) -> str:
    return "" if world is None or world.rank == 0 else f".{world.rank}"


class _LossTerms(torch.nn.Module):
    """The model's ``loss_terms`` as a module's forward, which is what DDP wraps."""

    def __init__(self, model: Autoencoder) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, x: torch.Tensor, target: torch.Tensor, y: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        return self.model.loss_terms(x, target, y)


def _data_parallel(model: Autoencoder, device: torch.device, unused: bool) -> torch.nn.Module:
    """DDP around the model's loss (it broadcasts rank 0's weights now). Where the loss
    leaves some parameters out, DDP looks for them at every step (a graph traversal it
    otherwise skips), so that it does not wait for their gradients."""
    import inspect

    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    # buffers are sent from rank 0 after each step (_step), not before each forward; torch
    # 2.13 renamed the switch (it still sends them once, when DDP starts)
    known = inspect.signature(DistributedDataParallel).parameters
    switch = "forward_sync_buffers" if "forward_sync_buffers" in known else "broadcast_buffers"
    switches: dict[str, Any] = {switch: False}  # a keyword named at run time
    return DistributedDataParallel(
        _LossTerms(model), device_ids=ids, find_unused_parameters=unused, **switches
    )


def _rows(t: torch.Tensor | None, idx: torch.Tensor) -> torch.Tensor | None:
    return None if t is None else t.index_select(0, idx.to(t.device))


def _to(t: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    return None if t is None else t.to(device)


def _number(value: float | None) -> float:
    """A checkpoint's best validation loss (None before any epoch was better than infinity)."""
    return math.inf if value is None else value


def _format_row(row: dict[str, Any], epochs: int) -> str:
    parts = [f"epoch {row['epoch']}/{epochs}"]
    for key in ("train_loss", "val_loss", "val_elbo"):
        if key in row:
            parts.append(f"{key} {row[key]:.4f}")
    parts.append(f"({row['seconds']:.1f}s)")
    return "  ".join(parts)


def _players(model: Autoencoder) -> dict[str, list[torch.nn.Parameter]]:
    """The model's parameter groups, checked: its own ``loss`` first, and every trainable
    parameter in exactly one group (a parameter left out would never train, one in two
    groups would follow two objectives)."""
    groups = model.parameter_groups()
    if next(iter(groups), None) != "loss":
        raise AekitError(f"model {model.name!r}: parameter_groups must start with 'loss'")
    seen = [id(p) for params in groups.values() for p in params]
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    if len(seen) != len(set(seen)) or trainable - set(seen):
        raise AekitError(
            f"model {model.name!r}: parameter_groups must hold each trainable parameter once"
        )
    return groups


def build_trainer(
    config: RunConfig,
    data: DataBundle,
    run: Run | None = None,
    log: Callable[[str], None] | None = None,
    progress: bool = False,
    callbacks: Sequence[Callback] = (),
    world: World | None = None,
) -> Trainer:
    """Seed, build the configured model for ``data``, and wrap it in a trainer (that records
    into ``run``, if given). Under torchrun every rank builds the same model, then seeds the
    generator of its dropout and sampling noise on its own."""
    seed_everything(config.train.seed)
    model = build_model(config.model, data.shape, data.num_classes)
    model.check_training_set(len(data.train))
    if world is not None:
        check_world(config.train, model, world, len(data.train))
        if world.rank:  # rank 0 goes on with the stream one process would have
            torch.manual_seed(rank_seed(config.train.seed, world))
    return Trainer(
        model,
        config.train,
        noise=parse_noise(config.data.noise) if config.data.noise else None,
        noise_once=config.data.noise_once,
        dynamic_binarize=config.data.binarize == "dynamic",
        run=run,
        log=log,
        progress=progress,
        callbacks=callbacks,
        world=world,
    )


def check_world(cfg: TrainConfig, model: Autoencoder, world: World, examples: int) -> None:
    """A global batch that splits evenly over the processes, and data for all of them."""
    batch, least = cfg.with_defaults(model.train_defaults).batch_size, MIN_SHARE * world.size
    assert batch is not None, "with_defaults() sets it"
    if batch % world.size or batch < least:
        raise AekitError(
            f"--batch-size {batch} (the global batch) does not split evenly over "
            f"{world.size} processes with {MIN_SHARE} examples or more each; use a multiple "
            f"of {world.size} of at least {least}"
        )
    if examples < least:
        raise AekitError(
            f"{examples} training examples cannot give {world.size} processes {MIN_SHARE} each"
        )
