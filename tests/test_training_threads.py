"""The thread count follows the cores other processes leave free, unless the user fixes it."""

import os
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner

from aekit.cli import cli
from aekit.errors import AekitError
from aekit.training import threads
from aekit.training.threads import FollowFreeCores, ThreadCount, threads_from_environment


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_the_environment_variable(monkeypatch):
    monkeypatch.delenv("AEKIT_THREADS", raising=False)
    assert threads_from_environment() is None
    monkeypatch.setenv("AEKIT_THREADS", " 3 ")
    assert threads_from_environment() == 3
    for bad in ("0", "two", "-1", "1.5"):
        monkeypatch.setenv("AEKIT_THREADS", bad)
        with pytest.raises(AekitError, match="whole number of threads"):
            threads_from_environment()


class ScriptedMachine:
    """/proc/stat as a script: each sample advances the clock one second, during which the
    allowed cores were busy ``busy`` seconds in all, ``own`` of them this process's."""

    def __init__(self, monkeypatch, *seconds: tuple[float, float]) -> None:
        self.samples = iter([(0.0, 0.0), *seconds])
        self.wall = self.busy = self.own = 0.0
        monkeypatch.setattr(threads, "_sample", self.sample)

    def sample(self, _cores):
        busy, own = next(self.samples)
        self.busy, self.own = self.busy + busy, self.own + own
        now = threads._Sample(self.wall, self.busy, self.own)
        self.wall += 1.0
        return now


def test_threads_follow_the_free_cores(monkeypatch, restore_threads):
    torch.set_num_threads(2)
    monkeypatch.setattr(threads, "allowed_cores", lambda: [0, 1])
    monkeypatch.setattr(threads, "_quota_cores", lambda: None)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    # one busy competitor; then the competitor and this process (its own time is not
    # the others'); then the competitor gone; then a light load
    ScriptedMachine(monkeypatch, (1.0, 0.0), (2.0, 1.0), (1.0, 1.0), (1.3, 1.0))
    count = ThreadCount()
    assert [count.recount() for _ in range(4)] == [1, 1, 2, 2]
    assert torch.get_num_threads() == 2


def test_a_container_quota_caps_the_threads(monkeypatch, restore_threads):
    torch.set_num_threads(8)
    monkeypatch.setattr(threads, "allowed_cores", lambda: list(range(8)))
    monkeypatch.setattr(threads, "_quota_cores", lambda: 2.0)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    ScriptedMachine(monkeypatch, (0.0, 0.0))
    assert ThreadCount().recount() == 2


def test_a_fixed_count_and_omp_num_threads_are_kept(monkeypatch, restore_threads):
    ScriptedMachine(monkeypatch, (2.0, 0.0), (2.0, 0.0))
    assert ThreadCount(fixed=2).recount() == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    assert ThreadCount().recount() == 1 and ThreadCount().fixed == 1


def test_the_callback_recounts_at_the_start_and_then_once_a_second(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(threads.time, "monotonic", lambda: clock[0])
    counted = []

    class Count:
        def recount(self):
            counted.append(clock[0])

    follow = FollowFreeCores(Count())
    follow.on_train_begin(None)
    for _ in range(12):  # 12 steps of 0.25 s
        clock[0] += 0.25
        follow.on_step_end(None)
    assert counted == [100.0, 101.0, 102.0, 103.0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/stat")
@pytest.mark.skipif(torch.get_num_threads() < 2, reason="one core: nothing to give up")
def test_a_busy_competitor_takes_a_thread_away():
    """A real busy process beside a real count (its /proc/stat and CPU clock)."""
    competitor = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        code = (
            "import time, torch; from aekit.training.threads import ThreadCount\n"
            "count = ThreadCount(); most = count.most; time.sleep(1.0)\n"
            "print(most, count.recount())"
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={k: v for k, v in os.environ.items() if "THREADS" not in k},
        ).stdout.split()
    finally:
        competitor.kill()
        competitor.wait()
    most, counted = map(int, out)
    assert counted <= most - 1 or most == 1


def test_threads_option_fixes_the_count(tmp_path, monkeypatch, restore_threads):
    monkeypatch.delenv("AEKIT_THREADS", raising=False)
    torch.set_num_threads(2)
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--epochs",
            "1",
            "--limit",
            "200",
            "--quiet",
            "--threads",
            "1",
            "--out",
            str(tmp_path / "run"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert torch.get_num_threads() == 1
    bad = CliRunner().invoke(cli, ["train", "--threads", "0"])
    assert bad.exit_code == 2 and "--threads" in bad.output
