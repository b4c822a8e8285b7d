"""Latent samplers: where the codes that a trained model decodes into new examples come from.

- ``prior``: the model's own prior (VAEs, and autoencoders trained towards one: wae, aae).
- ``box``: uniform in the box of the training codes (S2's way for a plain autoencoder).
- ``gmm``: a Gaussian mixture fitted to the training codes, the "ex-post density estimation"
  of Ghosh et al. 2020, by which a plain AE, an RAE or a WAE generates.
- ``two-stage``: a second, small VAE trained on the training codes (Dai & Wipf 2019,
  "Diagnosing and enhancing VAE models"); its prior draws, decoded, are the codes.
- ``pixelcnn`` (``vq-vae`` only): an autoregressive model of the grids of codebook indices of
  the training images (``models/pixelcnn.py``), as van den Oord et al. 2017 sample.

Fitted samplers are kept in the run directory (``RUN/samplers/``, safetensors, with a digest
of the weights they were fitted to), so they are fitted once; one fitted to other weights, or
damaged, is fitted again. Where ``two-stage``
differs from the paper: the second VAE's decoder has a fixed unit variance on standardised
codes (the paper learns it).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from aekit.errors import AekitError, unknown_choice
from aekit.runs.directory import TRAIN_CODES, Run

if TYPE_CHECKING:
    from aekit.models.base import Autoencoder
    from aekit.models.pixelcnn import GridPrior

SAMPLERS = ("prior", "box", "gmm", "two-stage", "pixelcnn")
SAMPLER_WORDS = {  # how figure titles name where the codes came from
    "prior": "the prior",
    "box": "the box of training codes",
    "gmm": "a Gaussian mixture of the training codes",
    "two-stage": "a second-stage VAE of the training codes",
    "pixelcnn": "a PixelCNN of the training code grids",
}
GMM_COMPONENTS = 10
Draw = Callable[[int, torch.Generator], torch.Tensor]  # (n, generator) -> codes (n, code_dim)


def default_sampler(run: Run) -> str:
    """What ``aekit sample`` uses unless told: the prior where there is one, else the box."""
    return "prior" if run.model.generative else "box"


def code_sampler(run: Run, name: str, log: Callable[[str], None] | None = None) -> Draw:
    """The sampler ``name`` for ``run``'s model, fitted (or read back) if it needs to be."""
    if name not in SAMPLERS:
        raise unknown_choice("sampler", name, SAMPLERS)
    if name == "prior":
        if not run.model.generative:
            raise AekitError(
                f"model {run.model.name!r} has no prior; sample its codes with --sampler box, "
                "gmm or two-stage (pixelcnn for vq-vae)"
            )
        return run.draw_codes
    if name == "box":
        low, high = run.code_box
        return lambda n, g: low + (high - low) * torch.rand(n, len(low), generator=g)
    if run.path is None:
        raise AekitError(f"the {name} sampler is fitted to a run directory's training codes")
    if name == "gmm":
        return _gmm(run, log)
    if name == "pixelcnn":
        return _pixelcnn(run, log)
    return _two_stage(run, log)


def generate(
    run: Run,
    n: int,
    y: torch.Tensor | None,
    generator: torch.Generator,
    sampler: str | None = None,
    log: Callable[[str], None] | None = None,
) -> torch.Tensor:
    """``n`` new examples: the model's own way (``Run.generate``) or decoded codes of
    ``sampler``."""
    if sampler is None:
        return run.generate(n, y, generator)
    return run.decode(code_sampler(run, sampler, log)(n, generator), y)


def _training_codes(run: Run) -> torch.Tensor:
    return run.encode(run.data.train.subset(TRAIN_CODES)).double()


Stored = tuple[dict[str, torch.Tensor], dict[str, str]]  # a sampler file's tensors, metadata


def _fitted(
    run: Run,
    name: str,
    says: str,
    log: Callable[[str], None] | None,
    fit: Callable[[], Stored],
) -> Stored:
    """The sampler ``name`` as fitted to the run's current weights: read back from
    ``RUN/samplers/NAME.safetensors``, or fitted now (saying ``says``) and written there."""
    from aekit.runs.checkpoint import write_tensors

    assert run.path is not None, "a run's samplers are kept in its folder"
    path, digest = run.path / "samplers" / f"{name}.safetensors", run.weights_digest()
    stored = _read_stored(path, digest)
    if stored is not None:
        return stored
    if log:
        log(says)
    tensors, metadata = fit()
    tensors = {key: value.detach().contiguous().cpu() for key, value in tensors.items()}
    metadata = {**metadata, "model": digest}
    write_tensors(path, tensors, metadata)
    return tensors, metadata


def _read_stored(path: Path, digest: str) -> Stored | None:
    """A sampler file's tensors and metadata if it was fitted to the weights with ``digest``;
    None if it is missing, stale, damaged or not a sampler file (all of which mean: fit)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "pt") as handle:
            metadata = handle.metadata() or {}
            if metadata.get("model") != digest:
                return None
            return {key: handle.get_tensor(key) for key in handle.keys()}, metadata  # noqa: SIM118
    except (OSError, SafetensorError):
        return None


# -- gmm -------------------------------------------------------------------------------------
def _gmm(run: Run, log: Callable[[str], None] | None) -> Draw:
    says = f"fitting a {GMM_COMPONENTS}-component Gaussian mixture to the training codes"
    mixture, _ = _fitted(run, "gmm", says, log, lambda: (fit_gmm(_training_codes(run)), {}))
    return lambda n, g: draw_gmm(mixture, n, g)


def fit_gmm(codes: torch.Tensor, components: int = GMM_COMPONENTS) -> dict[str, torch.Tensor]:
    """Weights, means and Cholesky factors of a full-covariance mixture (scikit-learn's EM,
    seeded) of ``codes``; fewer components than codes need."""
    from sklearn.mixture import GaussianMixture

    k = max(1, min(components, len(codes) // 2))
    fitted = GaussianMixture(k, covariance_type="full", reg_covar=1e-5, random_state=0)
    fitted.fit(codes.numpy())
    return {
        "weights": torch.from_numpy(fitted.weights_).float(),
        "means": torch.from_numpy(fitted.means_).float(),
        "cholesky": torch.linalg.cholesky(torch.from_numpy(fitted.covariances_))
        .float()
        .contiguous(),
    }


def draw_gmm(mixture: dict[str, torch.Tensor], n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` draws of the mixture, component by component: memory for the draws and the
    factors only (gathering a d x d factor per draw would take n d^2 floats: 25 GB for
    10,000 draws of a 784-d code)."""
    chosen = torch.multinomial(mixture["weights"], n, replacement=True, generator=generator)
    noise = torch.randn(n, mixture["means"].shape[1], generator=generator)
    draws = torch.empty_like(noise, dtype=mixture["means"].dtype)
    for component in chosen.unique():
        rows = chosen == component
        cholesky = mixture["cholesky"][component]
        draws[rows] = mixture["means"][component] + noise[rows].to(cholesky.dtype) @ cholesky.T
    return draws


# -- two-stage -------------------------------------------------------------------------------
SECOND_STAGE_EPOCHS = 100


def _two_stage(run: Run, log: Callable[[str], None] | None) -> Draw:
    from aekit.io import to_json
    from aekit.models import build_model

    def fit() -> Stored:
        second, scale = fit_second_stage(_training_codes(run).float(), run.config.train.seed)
        weights = {f"vae.{key}": value for key, value in second.state_dict().items()}
        return {**weights, **scale}, {"vae": to_json(second.describe())}

    says = f"training a second-stage VAE on the codes ({SECOND_STAGE_EPOCHS} epochs)"
    tensors, metadata = _fitted(run, "two-stage", says, log, fit)
    described = json.loads(metadata["vae"])
    spec = {"name": described["name"], **described["params"]}
    with torch.random.fork_rng(devices=[]):  # starting weights, overwritten at once
        second = build_model(spec, described["input_shape"])
    second.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("vae.")})
    second.eval()

    def draw(n: int, generator: torch.Generator) -> torch.Tensor:
        with torch.no_grad():
            standardised = second.decode(second.draw_prior(n, generator))
        return tensors["mean"] + tensors["std"] * standardised

    return draw


def fit_second_stage(codes: torch.Tensor, seed: int) -> tuple[Autoencoder, dict[str, torch.Tensor]]:
    """A VAE with a code as wide as the first stage's, trained on standardised codes."""
    from aekit.config import TrainConfig
    from aekit.data.splits import Split
    from aekit.models import build_model
    from aekit.training import Trainer

    mean, std = codes.mean(0), codes.std(0).clamp_min(1e-6)
    standardised = (codes - mean) / std
    dims = codes.shape[1]
    spec = {
        "name": "vae",
        "latent_dim": dims,
        "hidden": [256, 256],
        "recon_loss": "mse",
        "output": "linear",
    }
    held = max(1, len(codes) // 10)
    cfg = TrainConfig(epochs=SECOND_STAGE_EPOCHS, batch_size=128, lr=1e-3, device="cpu", seed=seed)
    with own_random_numbers(seed):
        second = build_model(spec, (dims,))
        Trainer(second, cfg).fit(Split(standardised[held:], None), Split(standardised[:held], None))
    return second.eval(), {"mean": mean, "std": std}


# -- pixelcnn --------------------------------------------------------------------------------
PIXELCNN_EPOCHS = 30


def _pixelcnn(run: Run, log: Callable[[str], None] | None) -> Draw:
    from aekit.models.vq import VQVAE

    model = run.model
    if not isinstance(model, VQVAE):
        raise AekitError(
            f"the pixelcnn sampler models grids of discrete codes (vq-vae); model "
            f"{model.name!r} has continuous codes: use prior, box, gmm or two-stage"
        )

    def fit() -> Stored:
        grids = _code_grids(run)
        fitted = fit_grid_prior(grids, len(model.quantizer.codebook), run.config.train.seed)
        options = json.dumps({"shape": list(fitted.input_shape), **fitted.hparams})
        return fitted.state_dict(), {"options": options}

    says = f"training a PixelCNN on the training code grids ({PIXELCNN_EPOCHS} epochs)"
    stored = _fitted(run, "pixelcnn", says, log, fit)
    prior = grid_prior(*stored)
    codebook, (dim, height, width) = model.quantizer.codebook.detach().cpu(), model.grid

    def draw(n: int, generator: torch.Generator) -> torch.Tensor:
        indices = prior.sample_grid(n, generator)[:, 0]  # (n, h, w)
        vectors = codebook[indices.cpu()]  # (n, h, w, dim)
        return vectors.permute(0, 3, 1, 2).reshape(n, dim * height * width)

    return draw


def _code_grids(run: Run) -> torch.Tensor:
    """The codebook indices of the training images, as (n, 1, h, w) float "images"."""
    from aekit.models.vq import VQVAE

    split = run.data.train.subset(TRAIN_CODES)
    model = run.model.eval()
    assert isinstance(model, VQVAE), "_pixelcnn() refused the others"
    device = next(model.parameters()).device
    with torch.no_grad():
        batches = torch.arange(len(split)).split(500)
        grids = [model.codes_of(split.batch(idx, device)).cpu() for idx in batches]
    return torch.cat(grids).unsqueeze(1).float()


def fit_grid_prior(grids: torch.Tensor, codes: int, seed: int) -> GridPrior:
    """A PixelCNN of the index grids, trained by the one trainer."""
    from aekit.config import TrainConfig
    from aekit.data.splits import Split
    from aekit.models.pixelcnn import GridPrior
    from aekit.training import Trainer

    held = max(1, len(grids) // 10)
    cfg = TrainConfig(epochs=PIXELCNN_EPOCHS, batch_size=64, lr=1e-3, device="cpu", seed=seed)
    with own_random_numbers(seed):
        prior = GridPrior(tuple(grids.shape[1:]), codes=codes)
        Trainer(prior, cfg).fit(Split(grids[held:], None), Split(grids[:held], None))
    return prior.eval()


@contextlib.contextmanager
def own_random_numbers(seed: int) -> Iterator[None]:
    """Seed torch's global generator for a fit, and give the caller's state back after: a
    sampler fitted inside someone's program must not reset their random numbers."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def grid_prior(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> GridPrior:
    """The PixelCNN stored in a sampler file (it is no registered model: its options are in
    the file's metadata)."""
    from aekit.models.pixelcnn import GridPrior

    options = json.loads(metadata["options"])
    with torch.random.fork_rng(devices=[]):  # starting weights, overwritten at once
        prior = GridPrior(tuple(options.pop("shape")), **options)
    prior.load_state_dict(tensors)
    return prior.eval()
