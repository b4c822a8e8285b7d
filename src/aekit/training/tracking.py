"""Experiment trackers: a run's parameters, per-epoch metrics and files, logged to MLflow
(``--mlflow [URI]``) or Weights & Biases (``--wandb [MODE]``).

Each is a trainer callback, like the TensorBoard logger. MLflow is reached through a client
of its own, so the process's MLflow settings (tracking URI, active run) are left as they
were; W&B through a run of its own that does not wrap the process's streams (``wandb.init``
still starts W&B's service and its exit hooks: only the ``aekit`` command uses it). The
tracked run is recorded in the run directory (``RUN/mlflow.json``, ``RUN/wandb.json``): a
resumed run continues it, a new one (``--overwrite``) starts another. Under torchrun, rank 0
logs for all. A service that cannot be reached costs one warning and nothing else: training
goes on, and every metric stays in ``RUN/metrics.jsonl``. Each needs its optional package
(``pip install 'aekit[mlflow]'``, ``'aekit[wandb]'``).
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from aekit.errors import AekitError, AekitWarning
from aekit.io import atomic_write

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient
    from wandb.sdk.wandb_run import Run as WandbRun

    from aekit.runs.directory import Run
    from aekit.training.trainer import Trainer

WandbMode = Literal["offline", "online", "disabled"]

DEFAULT_STORE = "mlruns"  # a local store in the working directory, where MLflow's own goes
EXPERIMENT = "aekit"  # MLflow's experiment, W&B's project unless $WANDB_PROJECT names one
PROBE_SECONDS = 3.0  # how long a tracking server gets to answer before training goes on


class Tracker:
    """What both trackers share: rank 0 alone starts the tracked run, every failure after
    that is one warning that switches the tracker off, and the tracked run's identity is kept
    in ``RUN/<record>``."""

    service = ""  # the name the warnings give
    option = ""  # the command's option that asks for it
    record = ""  # the file in the run directory that names the tracked run

    def __init__(self) -> None:
        self.active = False
        self.epoch = 0  # the last epoch logged (where a resumed run starts)

    def on_train_begin(self, trainer: Trainer) -> None:
        run = trainer.run
        if run is None or run.path is None:
            raise AekitError(f"{self.option} needs a run directory (--out)")
        if trainer.world is not None and not trainer.world.main:
            return  # under torchrun, rank 0 logs for all
        self.epoch = trainer.epoch
        # A run starting from epoch 0 is a new one (--overwrite too): it gets a tracked run
        # of its own; a resumed one continues the tracked run its record names.
        record = _read_record(run.path / self.record) if trainer.epoch else None
        self._try("start", lambda: self.start(run, record))

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, Any]) -> None:
        if not self.active:
            return
        epoch = int(metrics["epoch"])
        numbers = {
            key: float(value)
            for key, value in metrics.items()
            if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool)
        }
        self._try("log metrics", lambda: self.log_metrics(numbers, epoch))
        self.epoch = epoch

    def on_train_end(self, trainer: Trainer) -> None:
        pass  # the tracked run is closed by :meth:`upload`, once the figures exist

    def upload(self, run: Run) -> None:
        """Log the run directory's files and mark the tracked run finished."""
        if self.active:
            self._try("upload the run directory", lambda: self.finish(run))

    # -- what each tracker does -----------------------------------------------------------
    def start(self, run: Run, previous: dict[str, str] | None) -> None:
        raise NotImplementedError

    def log_metrics(self, numbers: dict[str, float], epoch: int) -> None:
        raise NotImplementedError

    def finish(self, run: Run) -> None:
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------
    def write_record(self, run: Run, **names: str) -> None:
        assert run.path is not None, "a tracker starts from a run directory"
        with atomic_write(run.path / self.record, "w") as handle:
            json.dump(names, handle)

    def _try(self, what: str, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception as exc:
            self.active = False
            warnings.warn(
                f"{self.service} at {self.where()}: could not {what} ({_reason(exc)}); "
                "training goes on without it, every metric stays in RUN/metrics.jsonl",
                AekitWarning,
                stacklevel=2,
            )

    def where(self) -> str:
        raise NotImplementedError


class MLflowLogger(Tracker):
    """``--mlflow``: the config as parameters when training starts, every numeric metric of
    every epoch (step = epoch), and at :meth:`upload` the run directory's files (config,
    weights, metrics, figures) as artifacts."""

    service, option, record = "MLflow", "--mlflow", "mlflow.json"

    def __init__(self, uri: str | None = None) -> None:
        super().__init__()
        try:  # fail before training, not after it
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise AekitError(
                "--mlflow needs the mlflow package: pip install 'aekit[mlflow]'"
            ) from None
        self.client_class = MlflowClient
        self.uri, self.artifacts = tracking_uri(uri)
        self.client: MlflowClient | None = None
        self.run_id = ""

    def where(self) -> str:
        return self.uri

    def start(self, run: Run, previous: dict[str, str] | None) -> None:
        assert run.path is not None, "a tracker starts from a run directory"
        _check_reachable(self.uri, "/health")
        if self.artifacts is not None:
            Path(self.uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        client = self.client_class(tracking_uri=self.uri)
        if previous is not None and previous.get("tracking_uri") == self.uri:
            self.run_id = previous["run_id"]
            client.update_run(self.run_id, status="RUNNING")
        else:
            experiment = client.get_experiment_by_name(EXPERIMENT)
            experiment_id = (
                experiment.experiment_id
                if experiment
                else client.create_experiment(EXPERIMENT, artifact_location=self.artifacts)
            )
            self.run_id = client.create_run(experiment_id, run_name=run.path.name).info.run_id
            _log_params(client, self.run_id, run.config.to_dict())
            self.write_record(run, tracking_uri=self.uri, run_id=self.run_id)
        self.client, self.active = client, True

    def log_metrics(self, numbers: dict[str, float], epoch: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        rows = [Metric(key, value, now, epoch) for key, value in numbers.items()]
        self._client().log_batch(self.run_id, metrics=rows)

    def finish(self, run: Run) -> None:
        client = self._client()
        for path in _run_files(run):
            if path.is_dir():
                client.log_artifacts(self.run_id, str(path), path.name)
            else:
                client.log_artifact(self.run_id, str(path))
        client.set_terminated(self.run_id, "FINISHED")

    def _client(self) -> MlflowClient:
        assert self.client is not None, "called only once the MLflow run started"
        return self.client


class WandbLogger(Tracker):
    """``--wandb [MODE]``: the config, every numeric metric of every epoch (step = epoch),
    and at :meth:`upload` the figures as images and the run directory as an artifact
    (type ``aekit-run``).

    Offline by default (``$WANDB_MODE`` or MODE say otherwise): the files go where W&B puts
    them (``./wandb/offline-run-*``, or under ``$WANDB_DIR``) and ``wandb sync`` uploads them
    later. The project is ``aekit`` unless ``$WANDB_PROJECT`` names another. W&B is not let
    near the process's standard streams (``console="off"``)."""

    service, option, record = "W&B", "--wandb", "wandb.json"
    MODES = ("offline", "online", "disabled")  # W&B's own: disabled logs nothing

    def __init__(self, mode: str | None = None) -> None:
        super().__init__()
        try:
            import wandb
        except ImportError:
            raise AekitError(
                "--wandb needs the wandb package: pip install 'aekit[wandb]'"
            ) from None
        self.wandb = wandb
        chosen = mode or os.environ.get("WANDB_MODE") or "offline"
        if chosen not in self.MODES:
            raise AekitError(
                f"--wandb: unknown mode {chosen!r} ($WANDB_MODE?); valid: offline, online"
            )
        self.mode = cast(WandbMode, chosen)
        self.tracked: WandbRun | None = None

    def where(self) -> str:
        if self.mode == "offline":
            return "an offline run"
        return os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")

    def start(self, run: Run, previous: dict[str, str] | None) -> None:
        assert run.path is not None, "a tracker starts from a run directory"
        if self.mode == "disabled":
            return
        if self.mode == "online":
            _check_reachable(self.where())
        self.tracked = self.wandb.init(
            project=os.environ.get("WANDB_PROJECT", EXPERIMENT),
            name=run.path.name,
            id=previous["run_id"] if previous else None,
            resume="allow",
            config=run.config.to_dict(),
            mode=self.mode,
            reinit="create_new",
            settings=self.wandb.Settings(console="off", init_timeout=60, silent=True),
        )
        if previous is None:
            self.write_record(run, run_id=self.tracked.id)
        self.active = True

    def log_metrics(self, numbers: dict[str, float], epoch: int) -> None:
        self._tracked().log(numbers, step=epoch)

    def finish(self, run: Run) -> None:
        tracked = self._tracked()
        images = {
            f"figures/{path.stem}": self.wandb.Image(str(path))
            for path in sorted(run.figures.glob("*.png"))
        }
        if images:
            tracked.log(images, step=self.epoch)
        artifact = self.wandb.Artifact(f"run-{tracked.id}", type="aekit-run")
        for path in _run_files(run):  # file by file: add_dir prints a line of its own
            for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
                if file.is_file():
                    artifact.add_file(str(file), name=file.relative_to(path.parent).as_posix())
        tracked.log_artifact(artifact)
        tracked.finish()

    def _tracked(self) -> WandbRun:
        assert self.tracked is not None, "called only once the W&B run started"
        return self.tracked


def tracking_uri(given: str | None) -> tuple[str, str | None]:
    """The MLflow tracking URI, and where a local store keeps artifacts: a server URL (or any
    URI) as given; a folder (default ``./mlruns``) as a SQLite store inside it, ``mlflow.db``
    beside ``artifacts/`` (MLflow 3 keeps its plain-file store in maintenance mode only).
    ``mlflow ui --backend-store-uri sqlite:///FOLDER/mlflow.db`` shows it."""
    uri = given or DEFAULT_STORE
    if "://" in uri or uri.startswith(("databricks", "sqlite:")):
        return uri, None
    folder = Path(uri).expanduser().resolve()
    return f"sqlite:///{folder / 'mlflow.db'}", (folder / "artifacts").as_uri()


def _check_reachable(url: str, health: str = "") -> None:
    """A server that does not answer makes MLflow and W&B retry for minutes: ask it once
    (any answer will do, or a good one from its ``health`` page where it has one)."""
    if not url.startswith(("http://", "https://")):
        return
    import requests

    answer = requests.get(url.rstrip("/") + health, timeout=PROBE_SECONDS)
    if health:
        answer.raise_for_status()


def _run_files(run: Run) -> list[Path]:
    """What a tracker uploads: the run directory's files and folders, but for the trackers'
    own records and hidden files."""
    assert run.path is not None, "a tracker starts from a run directory"
    skipped = (MLflowLogger.record, WandbLogger.record)
    return [
        path
        for path in sorted(run.path.iterdir())
        if path.name not in skipped and not path.name.startswith(".")
    ]


def _reason(exc: Exception) -> str:
    """One short line: a server that did not answer, or the first line of what failed."""
    import requests

    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return "no answer"
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else type(exc).__name__


def _read_record(path: Path) -> dict[str, str] | None:
    try:
        record: dict[str, str] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record


def _log_params(client: MlflowClient, run_id: str, config: dict[str, Any]) -> None:
    """The config's values as MLflow parameters: ``model.latent_dim``, ``train.lr``..."""
    from mlflow.entities import Param

    params = [
        Param(f"{section}.{key}", str(value)[:500])
        for section, values in config.items()
        if isinstance(values, dict)
        for key, value in values.items()
    ]
    for start in range(0, len(params), 100):  # MLflow's limit per batch
        client.log_batch(run_id, params=params[start : start + 100])
