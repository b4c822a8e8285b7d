"""Training one model on several processes: PyTorch's DistributedDataParallel under torchrun.

``torchrun --nproc-per-node N -m aekit train ...`` starts N copies of aekit; each finds its
place in the job (rank, world size, local rank) in the environment torchrun sets, joins the
process group (``nccl`` on CUDA, ``gloo`` on the CPU) and trains data-parallel: every rank
draws the same permutation of the training set and takes its own share of each global batch
(the configured batch size is the global batch), DDP averages the gradients, and the loss
terms are summed over the ranks, so for losses that are means over examples the numbers are
those of one process with the same batch (batch statistics are each rank's own). Only rank 0
writes the run directory.

Every step that one rank can fail while the others wait (reading the data, building the
model, locking the run directory) goes through :func:`together`: the ranks compare outcomes,
and all raise the same one-line error instead of hanging in the next collective.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version
from types import FrameType
from typing import TypeVar

import torch
import torch.distributed as dist

from aekit.errors import AekitError

T = TypeVar("T")
MIN_SHARE = 2  # examples each rank gets of a batch at least (fewer: the batch is left out)
TEXT_BYTES = 1024  # the longest message one rank sends the others (longer ones are cut)


class PeerLost(AekitError):
    """Another process of the job stopped (killed, failed, or the launcher ended the job)."""


class Echoed(AekitError):
    """Another rank's error, raised here too so that no rank waits; rank 0 prints it, the
    others stay quiet (one line per job, not one per process)."""


def quiet_rank() -> bool:
    """Whether this process is a torchrun rank other than 0 (it prints no results)."""
    return os.environ.get("RANK", "0") != "0"


@dataclass(frozen=True)
class World:
    """This process's place in a data-parallel job."""

    rank: int
    size: int
    device: torch.device

    @property
    def main(self) -> bool:
        """Rank 0: the one process that writes files and prints progress."""
        return self.rank == 0

    @property
    def _carrier(self) -> torch.device:
        """Where collective tensors live: NCCL reduces CUDA tensors only."""
        return self.device if dist.get_backend() == "nccl" else torch.device("cpu")

    def shard(self, idx: torch.Tensor) -> tuple[torch.Tensor, float] | None:
        """This rank's share of a global batch and the weight that makes its mean loss count
        as its share of the global mean (DDP averages gradients over ranks). None for a last
        batch too small to give every rank two examples: batch statistics (an MMD, a total
        correlation) need two, so one process trains without those few, every rank alike."""
        if len(idx) < MIN_SHARE * self.size:
            return None
        share = idx.tensor_split(self.size)[self.rank]
        return share, len(share) * self.size / len(idx)

    def take(self, items: Iterable[T]) -> Iterator[T]:
        """This rank's items of a sequence dealt round-robin (evaluation batches: each batch
        is the one a single process would see, so batch statistics come out the same)."""
        return itertools.islice(items, self.rank, None, self.size)

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sums over all ranks (float64, so totals over epochs stay exact)."""
        tensor = torch.tensor(values, dtype=torch.float64, device=self._carrier)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def broadcast(self, tensors: list[torch.Tensor]) -> None:
        """Rank 0's values of ``tensors`` (on this rank's device), in place on every rank."""
        for tensor in tensors:
            dist.broadcast(tensor, 0)

    def gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        """Every rank's copy of a same-shaped tensor, in rank order (on the CPU)."""
        local = tensor.to(self._carrier)
        parts = [torch.empty_like(local) for _ in range(self.size)]
        dist.all_gather(parts, local)
        return [part.cpu() for part in parts]

    def gather_text(self, text: str) -> list[str]:
        """Every rank's string, in rank order."""
        data = text.encode()[:TEXT_BYTES]
        buffer = torch.zeros(TEXT_BYTES + 2, dtype=torch.uint8)
        buffer[0], buffer[1] = len(data) // 256, len(data) % 256
        buffer[2 : 2 + len(data)] = torch.tensor(list(data), dtype=torch.uint8)
        texts = []
        for part in self.gather(buffer):
            length = int(part[0]) * 256 + int(part[1])
            texts.append(bytes(part[2 : 2 + length].tolist()).decode(errors="replace"))
        return texts


def together(world: World | None, action: Callable[[], T]) -> T:
    """``action()`` on every rank; if it raised an :class:`AekitError` on any of them, all
    raise that error (the lowest rank's), so none is left waiting for the others."""
    if world is None:
        return action()
    caught: AekitError | None = None
    try:
        result = action()
    except AekitError as exc:
        caught = exc
    error = "" if caught is None else str(caught) or type(caught).__name__
    failed = [(rank, text) for rank, text in enumerate(world.gather_text(error)) if text]
    if failed:
        rank, text = failed[0]
        if rank == world.rank:
            assert caught is not None, "this rank's own error"
            raise caught
        raise Echoed(f"on rank {rank}: {text}")
    return result


def launched_size() -> int:
    """The number of processes torchrun started (1 outside torchrun)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise AekitError(f"WORLD_SIZE={os.environ['WORLD_SIZE']!r} is not a number") from None


def rank_device(name: str, local_rank: int) -> torch.device:
    """The device of the process with ``local_rank`` on its machine: its own GPU on CUDA
    (``auto`` picks CUDA when there is one), else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if name != "cuda":
        raise AekitError(
            f"--device {name} under torchrun: use cuda (each process takes the GPU of its "
            "local rank) or cpu"
        )
    if not torch.cuda.is_available():
        raise AekitError("--device cuda was asked for but no CUDA GPU is available")
    if local_rank >= torch.cuda.device_count():
        raise AekitError(
            f"local rank {local_rank} has no GPU of its own ({torch.cuda.device_count()} on "
            "this machine); start at most that many processes per machine"
        )
    return torch.device("cuda", local_rank)


@contextlib.contextmanager
def joined(device_name: str, timeout_s: float) -> Iterator[World | None]:
    """Inside torchrun (more than one process), this process's :class:`World` while it is in
    the job's process group (joined here unless the caller had joined one); outside, None.

    A collective that does not complete within ``timeout_s`` (a rank that hangs), a peer
    that died, and the launcher's SIGTERM all end the block with :class:`PeerLost`."""
    size = launched_size()
    if size <= 1:
        yield None
        return
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = rank_device(device_name, local_rank)
    owned = not dist.is_initialized()
    if owned:
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    world = World(rank, size, device)
    try:
        with _terminated_as_error():
            together(world, _same_versions(world))
            yield world
            dist.barrier()  # leave together: no rank tears down while another still talks
    except (dist.DistError, RuntimeError) as exc:
        if not _is_communication_error(exc):
            raise
        raise PeerLost(f"another process of the job stopped ({_first_line(exc)})") from None
    finally:
        if owned:
            with contextlib.suppress(Exception):  # the group may be broken already
                dist.destroy_process_group()


def _same_versions(world: World) -> Callable[[], None]:
    """An action that fails on the ranks whose aekit or torch differ from rank 0's."""

    def check() -> None:
        mine = _versions()
        theirs = world.gather_text(mine)[0]
        if mine != theirs:
            raise AekitError(
                f"rank {world.rank} runs {mine} but rank 0 runs {theirs}; install the same "
                "versions on every machine"
            )

    return check


def _versions() -> str:
    try:
        aekit = version("aekit")
    except PackageNotFoundError:  # running from a source tree
        aekit = "unknown"
    return f"aekit {aekit}, torch {torch.__version__}"


@contextlib.contextmanager
def _terminated_as_error() -> Iterator[None]:
    """SIGTERM (torchrun ends the other ranks so when one fails) raises :class:`PeerLost`
    instead of killing the process mid-write; the previous handler comes back when the block
    ends well. When it ends in an error the job is failing, and the launcher's SIGTERM is
    ignored from then on, so that it cannot cut short what this process says before it
    exits (torchrun kills it anyway if it lingers)."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise_peer_lost)
    except ValueError:  # not the main thread: signals cannot be caught here
        yield
        return
    try:
        yield
    except BaseException:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise
    signal.signal(signal.SIGTERM, previous)


def _raise_peer_lost(_signum: int, _frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one is enough: the job is ending
    raise PeerLost("the job was ended (SIGTERM): another process failed or was stopped")


def _is_communication_error(exc: BaseException) -> bool:
    if isinstance(exc, dist.DistError):
        return True
    text = str(exc).lower()
    return any(word in text for word in ("gloo", "nccl", "connection", "timed out", "timeout"))


def _first_line(exc: BaseException) -> str:
    """The gist of a communication error: its first sentence, without source locations."""
    text = re.sub(r"\[[^\]]*\.(?:cpp|cc|h|hpp):\d+\]\s*", "", str(exc)).strip()
    text = text.splitlines()[0] if text else type(exc).__name__
    return text.split(". ")[0].rstrip(".")[:300]
