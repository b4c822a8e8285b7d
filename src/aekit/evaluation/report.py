"""Everything ``aekit evaluate`` reports about a run, assembled from the focused modules.

Always: reconstruction (``recon_mse``, ``recon_bce``, ``psnr``), code statistics, compression,
the probes on labelled data, ``pca_recon_mse`` for deterministic models whose code is smaller
than the input (PCA with as many axes as the input reconstructs it exactly: no baseline) and
the ``elbo`` for VAEs. On request, because they cost many decoder passes or a classifier:
the importance-weighted NLL (``iw_samples``) and the sample-quality measures (``fid``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from aekit.config import DataConfig
from aekit.data.splits import DataBundle, Split, prepare_data
from aekit.errors import AekitError, unknown_choice
from aekit.evaluation import classifier as clf
from aekit.evaluation.baselines import pca_reconstruction_mse
from aekit.evaluation.codes import code_metrics
from aekit.evaluation.compression import compression_metrics
from aekit.evaluation.disentanglement import run_disentanglement
from aekit.evaluation.frechet import sample_quality
from aekit.evaluation.likelihood import likelihood_metrics
from aekit.evaluation.metrics import evaluate_model
from aekit.evaluation.recommendation import has_heldout_items, ranking_metrics
from aekit.models.base import MODELS, Autoencoder
from aekit.models.vae import VariationalAutoencoder
from aekit.runs.directory import Run, as_run
from aekit.runs.inference import labels_for, requested_labels
from aekit.sampling import SAMPLERS, Draw, code_sampler
from aekit.training.distributed import World
from aekit.values import options_of

PCA_EXAMPLES = 60_000  # training examples PCA is fitted on (the split is in random order)


@dataclass(frozen=True)
class EvaluationOptions:
    """The opt-in, expensive parts of an evaluation and their sizes."""

    iw_samples: int | None = None  # importance samples per example; None: no IW estimate
    iw_examples: int | None = None  # estimate on the first N examples only; None: all
    iw_precision: str = "fp32"  # or bf16: the estimate's networks under bf16 autocast
    fid: bool = False
    fid_samples: int = 10_000
    labels: tuple[int, ...] | None = None  # conditional models: classes to generate
    samplers: tuple[str, ...] = ()  # --fid also for these latent samplers (aekit.sampling)
    disentanglement: bool = False  # MIG, FactorVAE, DCI and beta-VAE scores (dsprites runs)

    def __post_init__(self) -> None:
        """Asking for labels or samplers asks for the sample-quality numbers they qualify."""
        if self.labels is not None or self.samplers:
            object.__setattr__(self, "fid", True)


def check_options(
    model: Autoencoder, options: EvaluationOptions, split: Split, dataset: str = ""
) -> None:
    """Refuse options that do not fit the model or the data, naming the ones that do."""
    if options.disentanglement and dataset != "dsprites":
        raise AekitError(
            "--disentanglement needs a run trained on dsprites, whose factors can be drawn "
            f"at will; this run trained on {dataset}"
        )
    if (options.iw_samples or options.iw_examples) and not model.variational:
        variational = ", ".join(sorted(n for n, c in MODELS.items() if c.variational))
        raise AekitError(
            f"model {model.name!r} is deterministic: it has no posterior to draw importance "
            f"samples from; --iw-samples/--iw-examples apply to VAEs ({variational})"
        )
    if options.iw_examples and not options.iw_samples:
        raise AekitError("--iw-examples sets the size of the IW estimate; add --iw-samples K")
    if options.iw_precision != "fp32" and not options.iw_samples:
        raise AekitError("--iw-precision sets how the IW estimate computes; add --iw-samples K")
    if options.labels is not None:
        requested_labels(model, list(options.labels))
    if options.fid and not model.generative and not options.samplers:
        raise AekitError(
            f"model {model.name!r} is not generative: it has no prior to sample from; "
            "--fid needs --sampler box, gmm or two-stage (pixelcnn for vq-vae)"
        )
    for name in options.samplers:
        if name not in SAMPLERS:
            raise unknown_choice("sampler", name, SAMPLERS)
    labels_for(model, split.y)


def evaluate_run(
    run: Run,
    split: Split,
    options: EvaluationOptions,
    *,
    log: Callable[[str], None] | None = None,
    progress: bool = False,
    world: World | None = None,
) -> dict[str, Any]:
    """All metrics of ``run``'s model on ``split`` (data prepared as the run's own, see
    :meth:`Run.inputs`); ``log`` hears about slow one-off steps (training the feature
    classifier); ``progress`` shows a bar while the importance-weighted estimate runs, whose
    examples the ranks of a torchrun job (``world``) share."""
    model = run.model.cpu().eval()
    check_options(model, options, split, run.config.data.dataset)
    metrics = evaluate_model(model, split)
    codes = run.encode(split)
    metrics.update(code_metrics(codes, split.y))
    metrics.update(compression_metrics(model, split, codes))
    if has_heldout_items(split):
        metrics.update(ranking_metrics(model, split, run.data.train))
    if not model.variational and model.code_dim < model.input_dim:
        train = run.data.train.subset(PCA_EXAMPLES)  # all of MNIST's; a sample of more
        metrics["pca_recon_mse"] = pca_reconstruction_mse(train.x, split.x, model.code_dim)
    if options.iw_samples:
        assert isinstance(model, VariationalAutoencoder), "check_options() refused the others"
        subset = split.subset(options.iw_examples or len(split))
        metrics.update(
            likelihood_metrics(
                model,
                subset,
                options.iw_samples,
                binarized=run.binarized,
                progress=progress,
                world=world,
                precision=options.iw_precision,
            )
        )
    if options.fid:
        metrics.update(_sample_quality(run, split, options, log))
    if options.disentanglement:
        metrics.update(run_disentanglement(run))
    return metrics


def evaluate(
    run: Run | str | os.PathLike[str],
    data: str | None = None,
    *,
    progress: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """The metrics ``aekit evaluate`` reports, from Python: ``aekit.evaluate(run,
    iw_samples=1000, iw_examples=500)``. ``run`` is a :class:`~aekit.runs.directory.Run` or
    a run directory; ``data`` another data set or file to evaluate on instead of the run's
    test split; ``options`` those of :class:`EvaluationOptions` (the command's flags)."""
    run = as_run(run)
    chosen = options_of(EvaluationOptions, options, "evaluation option")
    return evaluate_run(run, run.inputs(data), chosen, progress=progress)


def _sample_quality(
    run: Run,
    split: Split,
    options: EvaluationOptions,
    log: Callable[[str], None] | None,
) -> dict[str, Any]:
    judge, judge_accuracy = sample_judge(run.config.data, log)
    reference = split
    if options.labels is not None:
        assert split.y is not None, "check_options() asked the data for labels"
        keep = torch.isin(split.y, torch.tensor(options.labels))
        reference = Split(split.x[keep], split.y[keep])
        if not len(reference):
            raise AekitError(f"the data has no examples of --labels {list(options.labels)}")
    metrics = {"classifier_accuracy": judge_accuracy}
    reference = reference.subset(options.fid_samples)
    if run.model.generative:
        metrics.update(sample_quality(run.model, judge, reference, binarized=run.binarized))
    for name in options.samplers:
        draw = code_sampler(run, name, log)

        def generate(
            n: int, labels: torch.Tensor | None, generator: torch.Generator, draw: Draw = draw
        ) -> torch.Tensor:
            return run.decode(draw(n, generator), labels)

        quality = sample_quality(
            run.model, judge, reference, binarized=run.binarized, generate=generate
        )
        metrics.update(
            {f"{key}_{name}": value for key, value in quality.items() if key != "fid_samples"}
        )
        metrics["fid_samples"] = quality["fid_samples"]
    return metrics


def sample_judge(
    cfg: DataConfig, log: Callable[[str], None] | None = None
) -> tuple[clf.FeatureClassifier, float]:
    """The classifier in whose features samples of ``cfg``'s data set are judged (trained
    once on the full training split, then read back), and its test accuracy."""
    source = classifier_data(cfg)
    assert source.num_classes is not None, "classifier_data() refuses unlabelled data"
    recipe = clf.ClassifierRecipe(
        dataset=cfg.dataset,
        shape=source.shape,
        num_classes=source.num_classes,
        train_examples=len(source.train),
        fingerprint=fingerprint(source.train),
    )
    judge = clf.load_or_train(recipe, source.train, log)
    return judge, clf.accuracy(judge, source.test)


def classifier_data(cfg: DataConfig) -> DataBundle:
    """The run's data set with its full training split, unbinarized: the judge's data."""
    bundle = prepare_data(
        dataclasses.replace(cfg, binarize=None, noise=None, limit=None, validation="test")
    )
    if bundle.num_classes is None:
        raise AekitError(
            f"{cfg.dataset}: --fid needs a labelled data set to train its feature classifier"
        )
    return bundle


def fingerprint(split: Split) -> str:
    """A cheap content hash (labels and every 100th image), so a changed file is noticed."""
    assert split.y is not None, "the judge's data are labelled"
    digest = hashlib.sha256(split.x[::100].numpy().tobytes())
    digest.update(split.y.numpy().tobytes())
    return digest.hexdigest()[:16]
