"""Training across processes with torchrun (gloo on the CPU): the numbers of one process,
resumable with any number of processes, and failures that end the job with one line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from aekit.config import TrainConfig
from aekit.errors import AekitError
from aekit.models import build_model
from aekit.training.distributed import World, rank_device, together
from aekit.training.trainer import check_world

TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]
TRAIN = ["-m", "aekit", "train", "--quiet", "--no-progress-gif", "--limit", "603"]
TRAIN += ["--batch-size", "64", "--latent-dim", "8", "--hidden", "32", "--seed", "3"]


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env() -> dict[str, str]:
    # PYTHONFAULTHANDLER: a rank that aborts (once in CI, 2026-12-07: SIGABRT, "terminate
    # called without an active exception", not reproduced since) prints where every thread was
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}


def torchrun(*args: str, nproc: int = 2, cwd: Path, timeout: float = 240):
    """``torchrun --nproc-per-node N ARGS`` on 127.0.0.1, as a user starts it."""
    launch = [*TORCHRUN, "--nproc-per-node", str(nproc), "--master-port", str(_port())]
    return subprocess.run(
        [*launch, *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def aekit(*args: str, cwd: Path, timeout: float = 240):
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def curve(run: Path) -> list[tuple[float, float]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(row["train_loss"], row["val_loss"]) for row in rows]


def assert_same_curve(a: Path, b: Path, rel: float = 1e-5) -> None:
    """Same numbers up to the order in which the ranks' sums are added."""
    ours, theirs = curve(a), curve(b)
    assert len(ours) == len(theirs)
    for mine, other in zip(ours, theirs, strict=True):
        assert mine == pytest.approx(other, rel=rel)


# -- the pieces, without processes --------------------------------------------------------
def test_shards_of_a_batch_weigh_as_their_share_of_the_global_mean():
    idx = torch.arange(27)
    shares = [World(rank, 2, torch.device("cpu")).shard(idx) for rank in range(2)]
    assert torch.equal(torch.cat([share for share, _ in shares]), idx)
    # each rank's mean loss times its weight, averaged over ranks, is the global mean
    assert [weight for _, weight in shares] == [14 * 2 / 27, 13 * 2 / 27]


def test_a_last_batch_too_small_for_two_examples_a_rank_is_left_out_by_all():
    worlds = [World(rank, 3, torch.device("cpu")) for rank in range(3)]
    assert all(world.shard(torch.arange(5)) is None for world in worlds)
    assert all(len(world.shard(torch.arange(6))[0]) == 2 for world in worlds)


def test_evaluation_batches_are_dealt_to_the_ranks_once_each():
    parts = [list(World(rank, 3, torch.device("cpu")).take(range(10))) for rank in range(3)]
    assert sorted(i for part in parts for i in part) == list(range(10))


def test_together_without_a_world_is_the_action_itself():
    assert together(None, lambda: 7) == 7


def test_a_global_batch_must_split_evenly():
    model = build_model({"name": "ae", "latent_dim": 4, "hidden": [8]}, (1, 28, 28))
    world = World(0, 3, torch.device("cpu"))
    for batch in (64, 3):  # not a multiple; a multiple, but one example per process
        with pytest.raises(AekitError, match="does not split evenly over 3 processes"):
            check_world(TrainConfig(batch_size=batch), model, world, 1000)
    with pytest.raises(AekitError, match="cannot give 3 processes 2 each"):
        check_world(TrainConfig(batch_size=63), model, world, 5)
    check_world(TrainConfig(batch_size=6), model, world, 6)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_under_torchrun_without_a_gpu_is_one_error():
    with pytest.raises(AekitError, match="no CUDA GPU"):
        rank_device("cuda", 0)
    with pytest.raises(AekitError, match="each process takes the GPU of its local rank"):
        rank_device("cuda:1", 0)
    assert rank_device("auto", 1) == torch.device("cpu")


# -- torchrun -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def one_process(tmp_path_factory) -> Path:
    """The reference: 3 epochs in one process."""
    cwd = tmp_path_factory.mktemp("one")
    done = aekit(*TRAIN, "--epochs", "3", "--out", "run", cwd=cwd)
    assert done.returncode == 0, done.stderr
    return cwd / "run"


def test_two_processes_give_the_one_process_loss_curve(one_process, tmp_path):
    done = torchrun(*TRAIN, "--epochs", "3", "--out", "run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("run saved in run") == 1  # rank 0 reports, rank 1 stays quiet
    assert "Warning" not in done.stderr, done.stderr  # nothing but torchrun's own notes
    assert_same_curve(tmp_path / "run", one_process)


def test_the_trackers_log_once_from_rank_0(tmp_path, monkeypatch):
    """MLflow and W&B under torchrun: one tracked run, every epoch logged once."""
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    from tests.test_tracking_wandb import _history, _offline_runs

    for name in ("WANDB_MODE", "WANDB_PROJECT", "WANDB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    trackers = ["--wandb", "--mlflow", "store"]
    done = torchrun(*TRAIN, "--epochs", "2", "--out", "run", *trackers, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    [records] = _offline_runs(tmp_path)
    assert [row["_step"] for row in _history(records)] == [1, 2]
    client = MlflowClient(f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}")
    [logged] = client.search_runs([client.get_experiment_by_name("aekit").experiment_id])
    steps = client.get_metric_history(logged.info.run_id, "val_loss")
    assert [m.step for m in steps] == [1, 2] and logged.info.status == "FINISHED"


@pytest.mark.slow  # CI time: run with -m slow
def test_a_validation_split_of_fewer_batches_than_processes(tmp_path):
    args = ["-m", "aekit", "train", "--quiet", "--no-progress-gif", "--limit", "1100"]
    args += ["--batch-size", "512", "--hidden", "32", "--epochs", "2"]
    one = aekit(*args, "--out", "one", cwd=tmp_path)
    two = torchrun(*args, "--out", "two", cwd=tmp_path)  # 450 validation digits: one batch
    assert one.returncode == 0 and two.returncode == 0, two.stderr[-3000:]
    assert_same_curve(tmp_path / "two", tmp_path / "one")


def test_an_error_every_rank_meets_is_one_line(tmp_path):
    done = torchrun(*TRAIN, "--batch-size", "3", "--out", "run", cwd=tmp_path)
    errors = [line for line in done.stderr.splitlines() if "aekit: error:" in line]
    assert done.returncode != 0 and len(errors) == 1, done.stderr[-3000:]
    assert "does not split evenly over 2 processes" in errors[0]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("first", "then", "epochs"), [pytest.param(2, 1, 2, marks=pytest.mark.slow), (1, 2, 1)]
)
def test_a_run_resumes_with_another_number_of_processes(one_process, tmp_path, first, then, epochs):
    """2 processes, then 1 (and 1, then 2): the uninterrupted one-process curve."""

    def launch(nproc: int, *args: str):
        if nproc == 1:
            return aekit(*args, cwd=tmp_path)
        return torchrun(*args, nproc=nproc, cwd=tmp_path)

    started = launch(first, *TRAIN, "--epochs", str(epochs), "--out", "run")
    assert started.returncode == 0, started.stderr
    rest = launch(then, "-m", "aekit", "train", "--quiet", "--resume", "run", "--epochs", "3")
    assert rest.returncode == 0, rest.stderr
    assert_same_curve(tmp_path / "run", one_process)


EVERY_MODEL = """
import sys, torch, torch.distributed as dist
from aekit.config import RunConfig
from aekit.workflow import train
from tests.test_family_models import SMALL
dist.init_process_group("gloo")  # a caller's own group: aekit trains in it and leaves it
for name, options in sorted(SMALL.items()):
    config = RunConfig.from_dict({
        "model": {"name": name, **options},
        "data": {"dataset": "mnist-5k", "limit": 130},
        "train": {"epochs": 1, "batch_size": 32, "seed": 1},
    })
    run = train(config, None, figures=False)
    loss = run.history[-1]["train_loss"]
    assert loss == loss, name
    # one model: every rank ends with the same weights, buffers and frozen parts included
    flat = torch.cat([t.detach().float().flatten() for t in run.model.state_dict().values()])
    copies = [torch.empty_like(flat) for _ in range(dist.get_world_size())]
    dist.all_gather(copies, flat)
    assert all(torch.equal(copy, flat) for copy in copies), name
    if dist.get_rank() == 0:
        print(name, loss, flush=True)
dist.barrier()
dist.destroy_process_group()
"""


@pytest.mark.slow  # CI time: run with -m slow
def test_every_model_trains_on_two_processes(tmp_path):
    from tests.test_family_models import SMALL

    script = tmp_path / "every_model.py"
    script.write_text(EVERY_MODEL)
    env = {**_env(), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    launch = [*TORCHRUN, "--nproc-per-node", "2", "--master-port", str(_port()), str(script)]
    done = subprocess.run(
        launch, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    trained = [line.split()[0] for line in done.stdout.splitlines()]
    assert trained == sorted(SMALL)


def _worker_pid(launcher: subprocess.Popen, rank: int) -> int:
    """The pid of the torchrun worker with ``rank`` (read from its environment)."""
    for _ in range(200):
        children = subprocess.run(
            ["pgrep", "-P", str(launcher.pid)], capture_output=True, text=True
        ).stdout.split()
        for pid in children:
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"RANK={rank}".encode() in environ:
                return int(pid)
        time.sleep(0.1)
    raise AssertionError("no such worker")


def _start_long_job(cwd: Path, *extra: str) -> subprocess.Popen:
    """A 2-process job long enough to be stopped in, once its second epoch is recorded; its
    output goes to ``cwd/job.err`` (read with :func:`_our_errors`)."""
    args = ["-m", "aekit", "train", "--quiet", "--no-progress-gif", "--epochs", "200"]
    args += ["--out", "run", *extra]
    launch = [*TORCHRUN, "--nproc-per-node", "2", "--master-port", str(_port()), *args]
    with (cwd / "job.err").open("w") as err:
        launcher = subprocess.Popen(
            launch,
            cwd=cwd,
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,  # its own process group, as a terminal gives a command
        )
    metrics, deadline = cwd / "run" / "metrics.jsonl", time.monotonic() + 120
    while not (metrics.is_file() and metrics.read_text().count("\n") >= 2):
        assert launcher.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    return launcher


def _our_errors(cwd: Path) -> list[str]:
    return [line for line in (cwd / "job.err").read_text().splitlines() if "aekit: error:" in line]


def _ended(launcher: subprocess.Popen) -> int:
    try:
        return launcher.wait(timeout=120)  # not a hang: the job ends
    finally:
        if launcher.poll() is None:
            launcher.kill()


@pytest.mark.slow  # once in a CI-like run beside another test process, rank 0 printed nothing
# for 30 s after its peer was killed and torchrun's SIGKILL ended it; not yet understood
def test_a_killed_rank_ends_the_job_with_one_line_and_keeps_the_checkpoint(tmp_path):
    launcher = _start_long_job(tmp_path)
    os.kill(_worker_pid(launcher, 1), signal.SIGKILL)
    assert _ended(launcher) != 0
    ours, stderr = _our_errors(tmp_path), (tmp_path / "job.err").read_text()
    assert ours, stderr[-3000:]
    assert "[rank0]:Traceback" not in stderr and "Traceback" not in "\n".join(ours)
    assert "another process of the job stopped" in ours[0] or "SIGTERM" in ours[0]
    assert "--resume run" in ours[0]
    resumed = aekit(
        "-m", "aekit", "train", "--quiet", "--resume", "run", "--epochs", "3", cwd=tmp_path
    )
    assert resumed.returncode == 0, resumed.stderr


@pytest.mark.slow  # CI time: run with -m slow
def test_a_hanging_rank_ends_the_job_within_the_timeout(tmp_path):
    launcher = _start_long_job(tmp_path, "--set", "train.dist_timeout=5")
    hung = _worker_pid(launcher, 1)
    os.kill(hung, signal.SIGSTOP)  # alive, but never answers again
    deadline = time.monotonic() + 60
    while not _our_errors(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.kill(hung, signal.SIGKILL)  # torchrun would, 30 s after rank 0 gave up
    assert _ended(launcher) != 0
    ours = _our_errors(tmp_path)
    assert ours and "Timed out" in ours[0] and "--resume run" in ours[0]


@pytest.mark.slow  # CI time: run with -m slow
def test_ctrl_c_ends_every_rank_and_keeps_the_finished_epochs(tmp_path):
    launcher = _start_long_job(tmp_path)
    os.killpg(launcher.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
    assert _ended(launcher) != 0
    ours = _our_errors(tmp_path)
    assert ours and all("keeps every finished epoch" in line for line in ours), ours
    resumed = aekit(
        "-m", "aekit", "train", "--quiet", "--resume", "run", "--epochs", "3", cwd=tmp_path
    )
    assert resumed.returncode == 0, resumed.stderr


def _node(cwd: Path, port: int, *args: str) -> subprocess.Popen:
    launch = [*TORCHRUN, "--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d"]
    launch += ["--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "aekit-test"]
    return subprocess.Popen(
        [*launch, *args],
        cwd=cwd,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow  # CI time: run with -m slow
def test_two_nodes_meet_at_a_rendezvous_and_train_one_run(one_process, tmp_path):
    port = _port()
    nodes = [_node(tmp_path, port, *TRAIN, "--epochs", "3", "--out", "run") for _ in range(2)]
    results = [node.communicate(timeout=240) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], "\n".join(err for _, err in results)
    assert_same_curve(tmp_path / "run", one_process)


@pytest.mark.slow  # CI time: run with -m slow
def test_a_run_directory_only_one_machine_sees_is_refused_and_not_left_behind(tmp_path):
    port = _port()
    machines = [tmp_path / "a", tmp_path / "b"]  # a relative --out: each its own folder
    for folder in machines:
        folder.mkdir()
    nodes = [_node(cwd, port, *TRAIN, "--epochs", "3", "--out", "run") for cwd in machines]
    results = [node.communicate(timeout=240) for node in nodes]
    assert all(node.returncode != 0 for node in nodes)
    errors = [line for _, err in results for line in err.splitlines() if "aekit: error:" in line]
    assert errors and all("not shared with this machine" in line for line in errors), results
    assert not any((folder / "run").exists() for folder in machines)


@pytest.mark.slow  # CI time: run with -m slow
def test_the_importance_weighted_estimate_is_shared_by_the_ranks_and_unchanged(tmp_path):
    trained = aekit(*TRAIN, "--model", "vae", "--epochs", "1", "--out", "vae", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    args = ["-m", "aekit", "evaluate", "vae", "--iw-samples", "20", "--iw-examples", "150"]
    one = aekit(*args, "--json", cwd=tmp_path)
    two = torchrun(*args, "--json", cwd=tmp_path)
    assert one.returncode == 0 and two.returncode == 0, two.stderr
    assert two.stdout.count("nll_iw") == 2  # one JSON object (nll_iw and nll_iw_stderr)
    ours, theirs = json.loads(two.stdout), json.loads(one.stdout)
    assert ours["iw_examples"] == 150
    assert ours["nll_iw"] == pytest.approx(theirs["nll_iw"], rel=1e-9)


OTHER_VERSION = """
import os, sys
from aekit.training import distributed
if os.environ["RANK"] == "1":  # this machine has another aekit installed
    distributed._versions = lambda: "aekit 0.0.1, torch 2.1.0"
from aekit.cli import main
main(sys.argv[1:])
"""


@pytest.mark.slow  # CI time: run with -m slow
def test_processes_with_other_versions_are_refused_by_all(tmp_path):
    script = tmp_path / "other_version.py"
    script.write_text(OTHER_VERSION)
    done = torchrun(str(script), *TRAIN[2:], "--epochs", "1", "--out", "run", cwd=tmp_path)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if "aekit: error:" in line]
    assert len(errors) == 2, done.stderr[-3000:]
    assert all("rank 1 runs aekit 0.0.1, torch 2.1.0 but rank 0 runs aekit" in e for e in errors)
    assert not (tmp_path / "run").exists()
