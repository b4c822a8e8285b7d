"""Faults a run directory must survive: a kill at any write of an epoch, Ctrl-C while saving,
a second writer, divergence, and the paths and files users hand it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from aekit.runs import Run
from aekit.runs.lock import LOCK, writing
from tests.conftest import REPO

TRAIN = ["train", "--model", "vae", "--latent-dim", "2", "--hidden", "16", "--limit", "200"]
TRAIN += ["--epochs", "4", "--quiet"]

# A child process running `aekit ARGS` that kills itself (SIGKILL: nothing runs after it) at
# the Nth time it reaches a write point: while a file is renamed into place (os.replace of
# NAME), before a metrics row is appended, or before the end-of-training figures.
KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    point, name, nth = sys.argv[1], sys.argv[2], int(sys.argv[3])
    seen = [0]

    def reached():
        seen[0] += 1
        if seen[0] == nth:
            os.kill(os.getpid(), signal.SIGKILL)

    if point == "rename":
        real = os.replace
        def replace(src, dst):
            if Path(dst).name == name:
                reached()
            return real(src, dst)
        os.replace = replace
    elif point == "metrics":
        from aekit.runs.directory import Run
        append = Run.append_metrics
        def append_metrics(self, row):
            reached()
            return append(self, row)
        Run.append_metrics = append_metrics
    else:
        import aekit.workflow as workflow
        draw = workflow.write_run_figures
        def write_run_figures(run):
            reached()
            return draw(run)
        workflow.write_run_figures = write_run_figures
    from aekit.cli import main
    main(sys.argv[4:])
    """
)


def cli(*args, cwd: Path, check: bool = False) -> subprocess.CompletedProcess:
    """``aekit ARGS`` in this process (no interpreter start-up); an exception other than the
    CLI's own exit is a traceback a user would see, and fails the test. ``check``: it must
    succeed."""
    import contextlib
    import io

    from aekit.cli import main

    out, err = io.StringIO(), io.StringIO()
    before = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main([str(a) for a in args])
                code = 0
            except SystemExit as exited:
                code = exited.code or 0
    finally:
        os.chdir(before)
    done = subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())
    assert not check or code == 0, done.stderr
    return done


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "model.safetensors"))


def rows(run: Path) -> list[dict]:
    """metrics.jsonl, parsed strictly (no NaN / Infinity), without the timings."""

    def refuse(constant):
        raise AssertionError(f"metrics.jsonl holds {constant}, which is not JSON")

    text = (run / "metrics.jsonl").read_text().splitlines()
    parsed = [json.loads(line, parse_constant=refuse) for line in text]
    return [{k: v for k, v in row.items() if k != "seconds"} for row in parsed]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("full")
    subprocess.run([sys.executable, "-m", "aekit", *TRAIN, "--out", str(root / "run")],
                   cwd=root, check=True, timeout=300)  # fmt: skip
    return root / "run"


@pytest.mark.parametrize(
    ("point", "name", "nth"),
    [  # two kill points in CI's default run, the other four with -m slow (CI time)
        pytest.param("rename", "checkpoint.safetensors", 1, marks=pytest.mark.slow),
        ("rename", "checkpoint.safetensors", 3),  # epoch 3's: two epochs committed before
        # epoch 2's checkpoint written, its model not; then the same in the last epoch
        pytest.param("rename", "model.safetensors", 2, marks=pytest.mark.slow),
        pytest.param("rename", "model.safetensors", 4, marks=pytest.mark.slow),
        # the last epoch's checkpoint and model written, its row not
        pytest.param("metrics", "-", 4, marks=pytest.mark.slow),
        ("figures", "-", 1),  # every epoch recorded, no figure drawn yet
    ],
    ids=["checkpoint-1", "checkpoint-3", "model-2", "model-4", "metrics-4", "figures"],
)
def test_a_kill_at_any_write_resumes_to_the_uninterrupted_run(
    tmp_path, uninterrupted, point, name, nth
):
    out = tmp_path / "run"
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, point, name, str(nth), *TRAIN, "--out", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = subprocess.run(  # a process like the killed one: the same numbers need the same sums
        [sys.executable, "-m", "aekit", "train", "--resume", str(out), "--quiet"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0 and "Traceback" not in resumed.stderr, resumed.stderr
    assert rows(out) == rows(uninterrupted)  # every epoch's row, exactly once
    full = weights(uninterrupted)
    assert all(torch.equal(full[k], v) for k, v in weights(out).items())
    figures = {p.name for p in (out / "figures").iterdir()}
    assert {"reconstructions.png", "curves.png", "samples.png", "progress.gif"} <= figures
    assert not [p.name for p in out.rglob(".*") if p.name != LOCK]  # no orphaned temp file
    assert not (out / LOCK).exists()


def test_ctrl_c_while_saving_says_what_is_kept(tmp_path, monkeypatch, capsys):
    """SIGINT in the middle of epoch 2's checkpoint write: the message names epoch 1, the last
    one committed, and the resumed run has each epoch's row once."""
    from aekit.cli import main
    from aekit.runs import checkpoint

    save = checkpoint.save_checkpoint
    calls = [0]

    def interrupted_in_epoch_2(path, *args):
        calls[0] += 1
        if calls[0] == 2:
            raise KeyboardInterrupt
        return save(path, *args)

    monkeypatch.setattr("aekit.training.trainer.save_checkpoint", interrupted_in_epoch_2)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exited:
        main([*TRAIN, "--out", str(out)])
    assert exited.value.code == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"aekit: error: interrupted; {out} keeps every finished epoch (1-1): "
        f"continue with `aekit train --resume {out}`"
    ]
    monkeypatch.undo()
    with pytest.raises(SystemExit) as exited:
        main(["train", "--resume", str(out), "--quiet"])
    assert exited.value.code == 0
    assert [row["epoch"] for row in rows(out)] == [1, 2, 3, 4]


def test_a_second_writer_is_refused_with_the_holders_name(tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from pathlib import Path; from aekit.runs.lock import writing\n"
         f"with writing(Path({str(out)!r})):\n    print('held', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        second = cli(*TRAIN, "--out", out, "--overwrite", cwd=tmp_path)
        assert second.returncode == 1
        (line,) = second.stderr.strip().splitlines()
        assert line.startswith(f"aekit: error: {out} is being written by another aekit")
        assert f"pid {holder.pid} on " in line
    finally:
        holder.communicate("", timeout=30)
    assert not (out / LOCK).exists()  # released when its holder ended
    cli(*TRAIN, "--out", out, "--overwrite", cwd=tmp_path, check=True)  # free again


def test_a_stale_lock_of_a_killed_process_is_taken_over(tmp_path):
    out = tmp_path / "run"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out.mkdir()
    (out / LOCK).write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename}))
    with writing(out):
        assert json.loads((out / LOCK).read_text())["pid"] == os.getpid()
    assert not (out / LOCK).exists()


def test_a_validation_loss_that_is_not_a_number_is_divergence(tmp_path):
    args = ["train", "--model", "vae", "--lr", "1e6", "--batch-size", "10000", "--epochs", "3"]
    done = cli(*args, "--quiet", "--out", tmp_path / "run", cwd=tmp_path)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "training diverged" in line and "on the validation data" in line
    assert not (tmp_path / "run" / "metrics.jsonl").exists() or not rows(tmp_path / "run")


def test_an_exploding_loss_is_a_warning(tmp_path):
    args = ["train", "--lr", "1e6", "--epochs", "2", "--limit", "300", "--quiet"]
    done = cli(*args, "--out", tmp_path / "run", cwd=tmp_path, check=True)
    warning = [line for line in done.stderr.splitlines() if line.startswith("aekit: warning:")]
    assert len(warning) == 1 and "try a lower --lr" in warning[0]
    rows(tmp_path / "run")  # strict JSON
    evaluated = cli("evaluate", tmp_path / "run", "--json", cwd=tmp_path, check=True)
    metrics = json.loads(evaluated.stdout)
    assert metrics["recon_mse"] >= 0


def test_a_relative_data_path_is_stored_absolute(tmp_path):
    data = tmp_path / "here"
    data.mkdir()
    np.savez(data / "ok.npz", x=np.random.default_rng(0).random((60, 5)))
    args = ["train", "--dataset", "ok.npz", "--epochs", "1", "--hidden", "4", "--latent-dim", "2"]
    cli(*args, "--quiet", "--out", tmp_path / "run", cwd=data, check=True)
    assert Run.open(tmp_path / "run").config.data.dataset == str(data / "ok.npz")
    cli("evaluate", tmp_path / "run", cwd=REPO, check=True)  # from another directory


def test_a_torn_last_metrics_line_is_dropped_with_a_warning(tmp_path):
    out = tmp_path / "run"
    cli(*TRAIN[:-3], "--epochs", "2", "--quiet", "--out", out, cwd=tmp_path, check=True)
    with (out / "metrics.jsonl").open("a") as handle:
        handle.write('{"epoch": 3, "train_lo')
    done = cli("train", "--resume", out, "--epochs", "3", "--quiet", cwd=tmp_path, check=True)
    assert [row["epoch"] for row in rows(out)] == [1, 2, 3]
    assert "Traceback" not in done.stderr


@pytest.fixture
def tmpfs(tmp_path):
    """A small file system of our own (a tmpfs, which root can mount): it can be filled up
    and made read-only. Skipped where mounting is not allowed."""
    mounted = []

    def mount(name: str, size: str) -> Path:
        point = tmp_path / name
        point.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
            capture_output=True,
            text=True,
        )
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)])


def one_error_line(done: subprocess.CompletedProcess, *parts: str) -> str:
    assert done.returncode in (1, 2), done.stderr  # 2: a usage error, found by click
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aekit: error: "), done.stderr
    assert all(part in lines[0] for part in parts), lines[0]
    return lines[0]


def test_a_read_only_run_directory(tmpfs, tmp_path):
    """Commands that would write into a read-only run say so in one line; the report and
    figures drawn elsewhere (--out) still work, the report drawing what the run lacks into a
    temporary folder."""
    disk = tmpfs("ro", "32m")
    run = disk / "run"
    args = [*TRAIN[:-3], "--epochs", "1", "--quiet", "--no-progress-gif"]
    cli(*args, "--out", run, cwd=tmp_path, check=True)
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    one_error_line(cli("report", run, cwd=tmp_path), "Read-only file system")
    one_error_line(cli("plot", run, "traverse", cwd=tmp_path), "Read-only")
    one_error_line(cli("reconstruct", run, "-n", "4", cwd=tmp_path), "Read-only")
    one_error_line(
        cli("train", "--epochs", "1", "--out", disk / "new", cwd=tmp_path),
        "Read-only file system",
    )
    cli("plot", run, "traverse", "--out", tmp_path / "t.png", cwd=tmp_path, check=True)
    cli("report", run, "--out", tmp_path / "report.html", cwd=tmp_path, check=True)
    page = (tmp_path / "report.html").read_text()
    assert "traverse.png" in page and "interpolate.png" in page  # drawn for the page only


def test_a_full_disk_at_a_checkpoint_keeps_the_last_good_files(tmpfs, tmp_path):
    """ENOSPC while epoch 2's checkpoint is written: one line, epoch 1's files intact, no
    half-written file, and --resume continues once there is room."""
    from aekit.runs.checkpoint import checkpoint_state

    probe = tmp_path / "probe"
    args = [*TRAIN[:-3], "--epochs", "3", "--quiet", "--no-progress-gif"]
    cli(*args, "--epochs", "1", "--out", probe, cwd=tmp_path, check=True)
    # room for one epoch's files, not for a second checkpoint beside the first
    need = sum(p.stat().st_size for p in probe.iterdir() if p.is_file())
    room = need + (probe / "checkpoint.safetensors").stat().st_size // 2
    disk = tmpfs("full", str(room))
    run = disk / "run"
    line = one_error_line(cli(*args, "--out", run, cwd=tmp_path), "No space left on device")
    assert "epoch 1's files are kept" in line
    assert checkpoint_state(run / "checkpoint.safetensors")["epoch"] == 1
    assert [row["epoch"] for row in rows(run)] == [1]
    assert not [p for p in run.rglob(".*") if p.name != LOCK]


def test_files_and_values_users_get_wrong_are_one_line(tmp_path):
    """Each of these once ended in a traceback."""
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00\x01 model")
    cases = [
        (["train", "--config", "binary.yaml"], "not a text (UTF-8) YAML file"),
        (["train", "--set", "model.name=[1]"], "the model's name must be a word"),
        (["train", "--seed", "99999999999999999999"], "--seed"),
        (["train", "--set", "train.seed=99999999999999999999"], "bad seed"),
        (["train", "--lr", "nan"], "--lr"),
        (["train", "--set", "train.lr=nan"], "bad --lr nan"),
        (["train", "--model", "conv-ae", "--set", "model.kernel_size=99"], "at most the images"),
    ]
    for args, part in cases:
        one_error_line(cli(*args, "--epochs", "1", "--quiet", cwd=tmp_path), part)


def test_broken_run_files_are_one_line(tmp_path):
    run = tmp_path / "run"
    assert cli(*TRAIN[:-3], "--epochs", "1", "--quiet", "--no-progress-gif", "--out", run,
               cwd=tmp_path).returncode == 0  # fmt: skip
    weights_file = run / "model.safetensors"
    from safetensors.torch import save_file

    tensors = load_file(str(weights_file))
    save_file(tensors, str(tmp_path / "x.safetensors"), metadata={"aekit_model": "{torn"})
    (tmp_path / "x.safetensors").replace(weights_file)
    one_error_line(cli("evaluate", run, cwd=tmp_path), "not valid JSON")
    describe = {"name": "vae", "params": {"latent_dim": 10**7}, "input_shape": [1, 28, 28]}
    save_file(tensors, str(weights_file), metadata={"aekit_model": json.dumps(describe)})
    one_error_line(cli("evaluate", run, cwd=tmp_path), "do not fit the model")
    nan = {k: torch.full_like(v, float("nan")) for k, v in tensors.items()}
    meta = {"aekit_model": json.dumps({**describe, "params": {"latent_dim": 2, "hidden": [16]}})}
    save_file(nan, str(weights_file), metadata=meta)
    one_error_line(cli("sample", run, cwd=tmp_path), "NaN or infinite", "lower")


def test_codes_and_labels_decode_refuses_are_one_line(tmp_path):
    run = tmp_path / "run"
    args = ["train", "--model", "cvae", "--hidden", "16", "--limit", "200", "--epochs", "1"]
    assert cli(*args, "--quiet", "--no-progress-gif", "--out", run, cwd=tmp_path).returncode == 0
    np.savez(tmp_path / "codes.npz", x=np.zeros((3, 2)))
    np.save(tmp_path / "words.npy", np.array([["a", "b"]]))
    np.save(tmp_path / "none.npy", np.zeros((0, 2), np.float32))
    np.save(tmp_path / "good.npy", np.zeros((3, 2), np.float32))
    out = ["--out", tmp_path / "x.npy"]
    for codes, part in [("codes.npz", ".npz archive"), ("words.npy", "codes are numbers"),
                        ("none.npy", "holds no codes")]:  # fmt: skip
        done = cli("decode", run, "--codes", tmp_path / codes, "--label", 1, *out, cwd=tmp_path)
        one_error_line(done, part)
    done = cli("decode", run, "--codes", tmp_path / "good.npy", "--label", 99, *out, cwd=tmp_path)
    one_error_line(done, "--label 99 is out of range")
    np.savez(tmp_path / "ids.npz", x=np.random.default_rng(0).random((40, 4)),
             y=np.array([0] * 39 + [10**9]))  # fmt: skip
    done = cli("train", "--model", "cvae", "--dataset", tmp_path / "ids.npz", "--epochs", "1",
               "--quiet", cwd=tmp_path)  # fmt: skip
    one_error_line(done, "go up to 1000000000", "at most 10000")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("latent_dim: 2", "latent_dim: 3"), "does not fit the model the run's config.yaml"),
        (("optimizer: adam", "optimizer: sgd"), "the checkpoint's optimizer is not the one"),
    ],
    ids=["model", "optimizer"],
)
def test_a_checkpoint_that_does_not_fit_the_edited_config_is_one_line(tmp_path, edit, message):
    run = tmp_path / "run"
    cli(*TRAIN[:-3], "--epochs", "1", "--quiet", "--out", run, cwd=tmp_path, check=True)
    (run / "config.yaml").write_text((run / "config.yaml").read_text().replace(*edit))
    done = cli("train", "--resume", run, "--epochs", "2", "--quiet", cwd=tmp_path)
    one_error_line(done, message)


def test_figures_and_the_report_survive_missing_numbers(tmp_path):
    """Rows with null (a NaN or Inf written as JSON) still draw and report."""
    run = tmp_path / "run"
    cli(*TRAIN[:-3], "--epochs", "2", "--quiet", "--out", run, cwd=tmp_path, check=True)
    lines = (run / "metrics.jsonl").read_text().splitlines()
    row = json.loads(lines[0]) | {"train_kl": None, "val_elbo": None}
    (run / "metrics.jsonl").write_text("\n".join([json.dumps(row), *lines[1:]]) + "\n")
    cli("plot", run, "curves", cwd=tmp_path, check=True)
    cli("report", run, cwd=tmp_path, check=True)


def test_new_files_are_readable_like_any_other(tmp_path):
    """The model and checkpoint files get the permissions of any new file (umask), not the
    owner-only ones of a temporary file."""
    run = tmp_path / "run"
    cli(*TRAIN[:-3], "--epochs", "1", "--quiet", "--out", run, cwd=tmp_path, check=True)
    umask = os.umask(0)
    os.umask(umask)
    for name in (
        "model.safetensors",
        "checkpoint.safetensors",
        "config.yaml",
        "figures/curves.png",
    ):
        assert (run / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def test_figures_drawn_with_other_options_keep_their_own_names(tmp_path):
    run = tmp_path / "run"
    cli(*TRAIN[:-3], "--epochs", "1", "--quiet", "--out", run, cwd=tmp_path, check=True)
    before = (run / "figures" / "samples.png").read_bytes()
    done = cli("plot", run, "samples", "-n", "9", cwd=tmp_path, check=True)
    assert done.stdout.strip() == f"wrote {run / 'figures' / 'samples-count-9.png'}"
    cli("sample", run, "--seed", "3", cwd=tmp_path, check=True)
    assert (run / "figures" / "samples-seed-3.png").is_file()
    assert (run / "figures" / "samples.png").read_bytes() == before  # training's own, kept


def test_decode_shows_at_most_a_hundred_and_refuses_labels_it_cannot_use(tmp_path):
    from PIL import Image

    run = tmp_path / "run"
    cli(*TRAIN[:-3], "--model", "ae", "--epochs", "1", "--quiet", "--out", run, cwd=tmp_path,
        check=True)  # fmt: skip
    np.save(tmp_path / "many.npy", np.zeros((5000, 2), np.float32))
    cli("decode", run, "--codes", tmp_path / "many.npy", "--out", tmp_path / "d.png",
        cwd=tmp_path, check=True)  # fmt: skip
    with Image.open(tmp_path / "d.png") as image:
        assert max(image.size) < 2000
    done = cli("decode", run, "--codes", tmp_path / "many.npy", "--label", "3", "--out",
               tmp_path / "d.npy", cwd=tmp_path)  # fmt: skip
    one_error_line(done, "is not conditional; drop --label")


def test_an_early_stopped_run_reports_the_epoch_it_keeps():
    """The summary line gives the epoch whose weights early stopping kept, not the last."""
    from aekit.cli.train import _summary
    from aekit.config import RunConfig

    history = [{"epoch": e, "val_loss": v} for e, v in enumerate([1.0, 0.5, 0.7, 0.8], 1)]
    stopped = Run(None, RunConfig.from_dict({"train": {"early_stopping": 2}}), history=history)
    assert _summary(stopped) == " (best epoch 2 of 4 kept: val_loss 0.5)"
    plain = Run(None, RunConfig(), history=history)
    assert _summary(plain) == " (val_loss 0.8)"


def test_a_finished_early_stopped_run_gets_its_figures_and_no_more_epochs(tmp_path):
    from aekit.config import RunConfig
    from aekit.workflow import resume, train
    from tests.conftest import ScaleWeightsAfterEpoch, quick_config

    config = quick_config(train={"epochs": 6, "early_stopping": 1})
    run = train(config, tmp_path / "run", figures=False, callbacks=[ScaleWeightsAfterEpoch()])
    assert [row["epoch"] for row in run.history] == [1, 2]
    resume(run.path)  # training is over: only the figures are drawn
    assert [row["epoch"] for row in Run.open(run.path).read_metrics()] == [1, 2]
    assert (run.path / "figures" / "curves.png").is_file()
    in_memory = train(config, None, callbacks=[ScaleWeightsAfterEpoch()])  # no folder
    best = train(quick_config(train={"epochs": 1}), None).model
    assert all(torch.equal(a, b) for a, b in zip(in_memory.model.state_dict().values(),
                                                 best.state_dict().values()))  # fmt: skip
    assert RunConfig.load(run.path / "config.yaml").train.early_stopping == 1


def test_a_greedy_mistake_found_late_leaves_no_run_directory(tmp_path):
    done = cli("train", "--greedy", "--hidden", "16", "--kl-warmup", "2", "--epochs", "1",
               "--quiet", "--out", tmp_path / "run", cwd=tmp_path)  # fmt: skip
    one_error_line(done, "no schedulable loss weight 'kl_weight'")
    assert not (tmp_path / "run").exists()


def test_resume_takes_a_new_data_dir_and_keeps_the_recorded_one(tmp_path):
    import shutil

    from tests.conftest import real_data_dir

    source = real_data_dir()
    if source is None:
        pytest.skip("real MNIST files not available (set AEKIT_DATA_DIR)")
    first, moved = tmp_path / "first", tmp_path / "moved"
    for folder in (first, moved):
        shutil.copytree(source / "mnist", folder / "mnist")
    run = tmp_path / "run"
    args = ["train", "--dataset", "mnist", "--data-dir", first, "--limit", "300", "--epochs", "1"]
    cli(*args, "--quiet", "--no-progress-gif", "--out", run, cwd=tmp_path, check=True)
    shutil.rmtree(first)
    cli("train", "--resume", run, "--epochs", "2", "--data-dir", moved, "--quiet", cwd=tmp_path,
        check=True)  # fmt: skip
    from aekit.config import RunConfig

    recorded = RunConfig.load(run / "config.yaml")
    assert recorded.data.data_dir == str(first) and recorded.train.epochs == 2  # kept, extended


def test_overwrite_replaces_the_old_runs_figures_too(tmp_path):
    run = tmp_path / "run"
    cli(*TRAIN[:-3], "--epochs", "1", "--quiet", "--out", run, cwd=tmp_path, check=True)
    (run / "figures" / "traverse.png").write_bytes(b"the old run's")
    cli(*TRAIN[:-3], "--model", "ae", "--epochs", "1", "--quiet", "--out", run, "--overwrite",
        cwd=tmp_path, check=True)  # fmt: skip
    figures = {p.name for p in (run / "figures").iterdir()}
    assert "reconstructions.png" in figures
    assert not {"traverse.png", "samples.png", "progress.gif"} & figures  # the VAE's, gone


def test_resume_from_python_draws_a_missing_progress_gif(tmp_path):
    from aekit.figures.progress import ProgressGif
    from aekit.workflow import resume, train
    from tests.conftest import quick_config

    config = quick_config(model={"name": "vae", "latent_dim": 2, "hidden": [16]})
    run = train(config, tmp_path / "run", callbacks=[ProgressGif()])
    for name in ("progress.gif", "curves.png"):
        (run.figures / name).unlink()
    resume(run.path)  # no callbacks: the GIF comes from its frames all the same
    assert (run.figures / "progress.gif").is_file() and (run.figures / "curves.png").is_file()
