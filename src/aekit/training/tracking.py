"""``--mlflow [URI]``: a run's parameters, per-epoch metrics and files, logged to MLflow.

A trainer callback, like the TensorBoard logger. It talks to MLflow through an
``MlflowClient`` of its own, so the process's MLflow settings (the fluent API's tracking URI
and active run) are left as they were. The MLflow run it logs to is recorded in
``RUN/mlflow.json``: a resumed run continues that MLflow run. A tracking server that cannot
be reached costs one warning and nothing else: training goes on, and every metric stays in
``RUN/metrics.jsonl``. Needs the optional ``mlflow`` package (``pip install 'aekit[mlflow]'``).
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aekit.errors import AekitError, AekitWarning
from aekit.io import atomic_write

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from aekit.runs.directory import Run
    from aekit.training.trainer import Trainer

DEFAULT_STORE = "mlruns"  # a local store in the working directory, where MLflow's own goes
EXPERIMENT = "aekit"
RECORD = "mlflow.json"
PROBE_SECONDS = 3.0  # how long a tracking server gets to answer before training goes on


def _mlflow_client_class() -> type[MlflowClient]:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise AekitError("--mlflow needs the mlflow package: pip install 'aekit[mlflow]'") from None
    return MlflowClient


def tracking_uri(given: str | None) -> tuple[str, str | None]:
    """The tracking URI, and where a local store keeps artifacts: a server URL (or any URI)
    as given; a folder (default ``./mlruns``) as a SQLite store inside it, ``mlflow.db``
    beside ``artifacts/`` (MLflow 3 keeps its plain-file store in maintenance mode only).
    ``mlflow ui --backend-store-uri sqlite:///FOLDER/mlflow.db`` shows it."""
    uri = given or DEFAULT_STORE
    if "://" in uri or uri.startswith(("databricks", "sqlite:")):
        return uri, None
    folder = Path(uri).expanduser().resolve()
    return f"sqlite:///{folder / 'mlflow.db'}", (folder / "artifacts").as_uri()


class MLflowLogger:
    """Trainer callback: the config as parameters when training starts, every numeric metric
    of every epoch (step = epoch), and with :meth:`upload` the run directory's files (config,
    weights, metrics, figures) as artifacts once the run has drawn its figures."""

    def __init__(self, uri: str | None = None) -> None:
        self.client_class = _mlflow_client_class()  # fail before training, not after it
        self.uri, self.artifacts = tracking_uri(uri)
        self.client: MlflowClient | None = None
        self.run_id: str | None = None

    def on_train_begin(self, trainer: Trainer) -> None:
        run = trainer.run
        if run is None or run.path is None:
            raise AekitError("--mlflow needs a run directory (--out)")
        if trainer.world is not None and not trainer.world.main:
            return  # under torchrun, rank 0 logs for all
        self._try("start", lambda: self._start(run))

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, Any]) -> None:
        client, run_id = self.client, self.run_id
        if client is None or run_id is None:
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        epoch = int(metrics["epoch"])
        rows = [
            Metric(key, float(value), now, epoch)
            for key, value in metrics.items()
            if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool)
        ]
        self._try("log metrics", lambda: client.log_batch(run_id, metrics=rows))

    def on_train_end(self, trainer: Trainer) -> None:
        pass  # the run is closed by :meth:`upload`, once the figures exist

    def upload(self, run: Run) -> None:
        """Log the run directory's files and mark the MLflow run finished."""
        client, run_id = self.client, self.run_id
        if client is None or run_id is None:
            return

        def send() -> None:
            assert run.path is not None, "the MLflow run started from a run directory"
            for path in sorted(run.path.iterdir()):
                if path.name == RECORD or path.name.startswith("."):
                    continue
                if path.is_dir():
                    client.log_artifacts(run_id, str(path), path.name)
                else:
                    client.log_artifact(run_id, str(path))
            client.set_terminated(run_id, "FINISHED")

        self._try("upload the run directory", send)

    # -- internals ----------------------------------------------------------------------
    def _start(self, run: Run) -> None:
        assert run.path is not None, "on_train_begin() refused a run without a directory"
        self._check_reachable()
        if self.artifacts is not None:
            Path(self.uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        client = self.client_class(tracking_uri=self.uri)
        record = run.path / RECORD
        previous = _read_record(record)
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
            created = client.create_run(experiment_id, run_name=run.path.name)
            self.run_id = created.info.run_id
            _log_params(client, self.run_id, run.config.to_dict())
            with atomic_write(record, "w") as handle:
                json.dump({"tracking_uri": self.uri, "run_id": self.run_id}, handle)
        self.client = client

    def _check_reachable(self) -> None:
        """A server that does not answer makes MLflow retry for minutes: ask it once first."""
        if not self.uri.startswith(("http://", "https://")):
            return
        import requests

        requests.get(self.uri.rstrip("/") + "/health", timeout=PROBE_SECONDS).raise_for_status()

    def _try(self, what: str, action: Callable[[], object]) -> None:
        try:
            action()
        except Exception as exc:
            self.client = None
            warnings.warn(
                f"MLflow at {self.uri}: could not {what} ({_reason(exc)}); training goes on "
                "without it, every metric stays in RUN/metrics.jsonl",
                AekitWarning,
                stacklevel=2,
            )


def _reason(exc: Exception) -> str:
    """One short line: a server that did not answer, or the first line of what failed."""
    import requests

    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return "no answer"
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else type(exc).__name__


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        record: dict[str, Any] = json.loads(path.read_text())
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
