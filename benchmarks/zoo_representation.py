"""The disentangling and regularised models: on dSprites against the papers, on MNIST beside
pythae.

``dsprites`` (aekit only): each of ``vae``, ``beta-vae`` (beta 4, Higgins et al.),
``beta-tcvae`` (TC weight 6, Chen et al.), ``factor-vae`` (gamma 35, Kim & Mnih) and
``dip-vae`` (DIP-VAE-I, lambda_od 10, Kumar et al.) trains, as ``aekit train`` does, on aekit's
``dsprites`` (50,000 sprites drawn from dSprites' factor grid) in the MLP network of Chen et
al.'s dSprites experiments (4096-1200-1200-10, ReLU; its mirror as the decoder), Adam 1e-3
for every player (FactorVAE's discriminator too), batch 64, each model's paper weights as
aekit's defaults; then ``aekit evaluate --disentanglement`` scores its codes of freshly drawn
sprites (the same draws for every run). The papers train for about 300,000 steps (some 400
epochs of these sprites); what a CPU budget shows is stated with the results.

    python benchmarks/zoo_representation.py dsprites --epochs 5 --seeds 0,1 --out repr.jsonl

(``--keep DIR`` keeps the run directories, e.g. for ``aekit plot DIR/RUN traverse``.)

``mnist`` (run it with an interpreter that has pythae and aekit, see ``pythae_side.py``):
for every model both libraries have, aekit (``aekit train`` in ``--aekit`` 's interpreter) and
pythae (its ``TrainingPipeline``) train pythae's default MNIST network (784-512-16, ReLU,
sigmoid output) with the same objective settings on the same arrays for the same epochs, each
a whole process timed from start to exit; then one evaluator gives, for both trained models,
the test reconstruction error (summed squared error of the decoded means, per digit), the
linear-probe accuracy of the test codes (aekit's probe: a logistic regression fitted on half
of the test codes, scored on the other half) and the Frechet distance of 10,000 samples to the
test digits per sampler (``prior``: N(0, I); ``gmm``: a 10-component Gaussian mixture fitted
to the codes of 5,000 training digits), in the features of aekit's MNIST classifier.

    /work/peers/bin/python benchmarks/zoo_representation.py mnist --data-dir /work/shared/data \
        --aekit .venv/bin/python --epochs 10 --out mnist.jsonl

Both write one JSON line per run to ``--out``; ``table`` prints the Markdown tables that are
in benchmarks/RESULTS.md, "Representation zoo".

    python benchmarks/zoo_representation.py table repr.jsonl mnist.jsonl
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pythae_side
import torch

MLP = {"latent_dim": 10, "hidden": [1200, 1200], "activation": "relu"}
# name -> options beyond the network; the papers' weights are aekit's defaults. Chen et al.
# and Kim & Mnih report beta-TCVAE and FactorVAE above beta-VAE above VAE.
MODELS = {
    "vae": {},
    "beta-vae": {},
    "beta-tcvae": {},
    "factor-vae": {},
    "dip-vae": {"dip": "i"},
}
METRICS = ("mig", "factor_vae_score", "dci_disentanglement", "beta_vae_score")


def train_and_score(name: str, seed: int, args: argparse.Namespace) -> dict:
    from aekit.config import RunConfig
    from aekit.evaluation.report import evaluate
    from aekit.workflow import train

    options = MODELS[name]
    config = RunConfig.from_dict(
        {
            "model": {"name": name, **MLP, **options},
            "data": {"dataset": "dsprites", "limit": args.limit},
            "train": {"epochs": args.epochs, "batch_size": 64, "lr": 1e-3, "seed": seed},
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = (args.keep or Path(tmp)) / f"{name}-seed{seed}-{args.epochs}ep"
        start = time.perf_counter()
        run = train(config, folder, figures=False, progress=True)
        seconds = time.perf_counter() - start
        scores = evaluate(run, disentanglement=True)
        last = run.history[-1]
    return {
        "model": name,
        "seed": seed,
        "epochs": args.epochs,
        "train_s": round(seconds, 1),
        "val_recon": last.get("val_recon"),
        "val_kl": last.get("val_kl"),
        **{metric: scores[metric] for metric in METRICS},
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
    }


def dsprites(args: argparse.Namespace) -> None:
    for name in args.models.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            row = train_and_score(name, seed, args)
            with open(args.out, "a") as handle:
                handle.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)


# -- MNIST, beside pythae ----------------------------------------------------------------
PYTHAE_NETWORK = {"latent_dim": 16, "hidden": [512], "activation": "relu"}
# aekit model -> pythae's model class, its config options and aekit's options for the same
# objective settings (the papers' weights). Every model reconstructs with BCE but the WAE
# (squared error in both libraries, the paper's cost) and pythae's RAE (squared error
# whatever it is told; aekit's RAE keeps its BCE). pythae's AAE draws its codes from a
# Gaussian posterior and its discriminator has one hidden layer of 256: aekit's is given both.
PYTHAE = {
    "vae": ("VAE", {}, {}),
    "beta-vae": ("BetaVAE", {"beta": 4.0}, {"kl_weight": 4.0}),
    "beta-tcvae": ("BetaTCVAE", {"alpha": 1.0, "beta": 6.0, "gamma": 1.0}, {"tc_weight": 6.0}),
    "factor-vae": ("FactorVAE", {"gamma": 35.0}, {"gamma": 35.0}),
    "info-vae": (
        "INFOVAE_MMD",
        {"alpha": 0.0, "lbd": 1000.0},
        {"alpha": 0.0, "mmd_lambda": 1000.0},
    ),
    "wae": ("WAE_MMD", {"reg_weight": 10.0}, {"penalty_weight": 10.0}),
    "rae": ("RAE_L2", {"embedding_weight": 1e-4, "reg_weight": 1e-7}, {}),
    "aae": (
        "Adversarial_AE",
        {"adversarial_loss_scale": 0.5},
        {"adversarial_weight": 0.5, "posterior": "gaussian", "discriminator_hidden": [256]},
    ),
    "vq-vae": (
        "VQVAE",
        {"num_embeddings": 64, "use_ema": True, "decay": 0.99, "commitment_loss_factor": 0.25},
        {},
    ),
}
# The VQ-VAE is convolutional in aekit and pythae's default network is an MLP: both train
# aekit's default vq-vae network (pythae given its layers as custom encoder and decoder).
CONVOLUTIONAL = ("vq-vae",)
# generate only through a fitted sampler (Ghosh et al.), or have no prior at all
WITHOUT_PRIOR = ("rae", "vq-vae")
GMM_CODES = 5000


def build_pythae(name: str):
    """pythae's model with its own default MNIST network (aekit's for the VQ-VAE)."""
    import pythae.models as models

    cls_name, options, _ = PYTHAE[name]
    config_name = f"{cls_name}_Config" if "_" in cls_name else f"{cls_name}Config"
    config = getattr(models, config_name)(
        input_dim=(1, 28, 28), latent_dim=16, reconstruction_loss="bce", **options
    )
    networks = aekit_networks_for_pythae(name) if name in CONVOLUTIONAL else {}
    return getattr(models, cls_name)(config, **networks)


def aekit_networks_for_pythae(name: str) -> dict:
    """aekit's default ``name`` network as pythae's encoder and decoder: the same layers, the
    decoder giving probabilities (pythae's BCE reads them)."""
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    from aekit.models import build_model

    ours = build_model({"name": name}, (1, 28, 28))

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.net = ours.encoder

        def forward(self, x):
            return ModelOutput(embedding=self.net(x))

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.net = ours.decoder

        def forward(self, z):
            return ModelOutput(reconstruction=torch.sigmoid(self.net(z)))

    return {"encoder": Encoder(), "decoder": Decoder()}


def mnist(args: argparse.Namespace) -> None:
    from safetensors.torch import load_file

    from aekit.data.splits import prepare_data
    from aekit.evaluation.report import sample_judge
    from aekit.runs.directory import open_run

    data_config = pythae_side.data_config(args.data_dir, args.limit)
    data = prepare_data(data_config)
    judge, _ = sample_judge(data_config, print)
    data_opts = pythae_side.data_options(args.data_dir, args.limit)
    for name in args.models.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            run_dir, weights = Path(tmp) / "aekit-run", Path(tmp) / "pythae.safetensors"
            pythae_s = pythae_side.pythae_process(__file__, name, weights, args)
            network = {} if name in CONVOLUTIONAL else PYTHAE_NETWORK
            spec = {"name": name, **network, **PYTHAE[name][2]}
            aekit_s = pythae_side.aekit_train(
                args.aekit, spec, run_dir, data_opts, args.epochs, args.seed
            )
            theirs = build_pythae(name).eval()
            theirs.load_state_dict(load_file(weights))
            run = open_run(run_dir)
            coders = pythae_vq_coders if name == "vq-vae" else pythae_coders
            with torch.no_grad():
                ours_scores = score(*aekit_coders(run.model.eval()), data, judge, name)
                theirs_scores = score(*coders(theirs), data, judge, name)
        row = {"part": "mnist", "model": name, "pythae_model": PYTHAE[name][0]}
        row |= {"options": PYTHAE[name][2], "epochs": args.epochs, "seed": args.seed}
        row |= {f"aekit_{key}": value for key, value in ours_scores.items()}
        row |= {f"pythae_{key}": value for key, value in theirs_scores.items()}
        row |= {"aekit_train_s": round(aekit_s, 1), "pythae_train_s": round(pythae_s, 1)}
        row |= {"machine": platform.processor() or platform.machine()}
        with open(args.out, "a") as handle:
            handle.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)


Coder = Callable[[torch.Tensor], torch.Tensor]


def aekit_coders(model) -> tuple[Coder, Coder]:
    """An aekit model's codes (the posterior means of VAEs) and decoded means."""
    return lambda x: model.encode(x).flatten(1), lambda z: model.to_data(model.decode(z))


def pythae_coders(model) -> tuple[Coder, Coder]:
    """The same two functions of a pythae model."""
    return lambda x: model.encoder(x).embedding, lambda z: model.decoder(z).reconstruction


def pythae_vq_coders(model) -> tuple[Coder, Coder]:
    """A pythae VQ-VAE's quantised grid, flattened channels first as aekit's, and its
    decoding of any code snapped to the codebook first, as aekit's ``decode`` does."""

    def encode(x: torch.Tensor) -> torch.Tensor:
        grid = model.encoder(x).embedding.permute(0, 2, 3, 1)
        return model.quantizer(grid).quantized_vector.flatten(1)  # pythae's is channels first

    def decode(z: torch.Tensor) -> torch.Tensor:
        dim = model.model_config.embedding_dim
        side = round((z.shape[1] // dim) ** 0.5)
        grid = z.reshape(-1, dim, side, side).permute(0, 2, 3, 1)
        return model.decoder(model.quantizer(grid).quantized_vector).reconstruction

    return encode, decode


def score(encode: Coder, decode: Coder, data, judge, name: str) -> dict[str, float]:
    """The one evaluator: reconstruction error, linear probe and FID per sampler of a model
    given as ``encode(x) -> codes`` and ``decode(z) -> means``."""
    from aekit.data.transforms import binarize_dynamic
    from aekit.evaluation import classifier as clf
    from aekit.evaluation.codes import probe_accuracies
    from aekit.evaluation.frechet import frechet_distance
    from aekit.sampling import draw_gmm, fit_gmm

    def batched(f, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([f(part) for part in x.split(1000)])

    test = data.test
    codes = batched(encode, test.x)
    means = batched(decode, codes).reshape(test.x.shape)
    scores = {
        "recon_sse": (means - test.x).square().flatten(1).sum(1).mean().item(),
        "probe_accuracy": probe_accuracies(codes, test.y)["probe_accuracy"],
    }
    reference = clf.features(judge, test.x).double().numpy()
    mixture = fit_gmm(batched(encode, data.train.x[:GMM_CODES]).double())
    draws = {"gmm": lambda n, g: draw_gmm(mixture, n, g).float()}
    if name not in WITHOUT_PRIOR:
        draws["prior"] = lambda n, g: torch.randn(n, codes.shape[1], generator=g)
    for sampler, draw in draws.items():
        generator = torch.Generator().manual_seed(0)
        images = batched(decode, draw(len(test), generator)).reshape(test.x.shape)
        samples = binarize_dynamic(images.clamp(0.0, 1.0), generator)
        features = clf.features(judge, samples).double().numpy()
        scores[f"fid_{sampler}"] = frechet_distance(features, reference)
    return scores


def table(paths: list[Path]) -> None:
    """Mean (and, over several seeds, the range) of every dSprites metric per model, and the
    MNIST rows beside pythae's."""
    rows = [json.loads(line) for path in paths for line in path.read_text().splitlines() if line]
    sprites = [row for row in rows if row.get("part", "dsprites") == "dsprites"]
    if sprites:
        dsprites_table(sprites)
    side = [row for row in rows if row.get("part") == "mnist"]
    if side:
        mnist_table(side)


def mnist_table(rows: list[dict]) -> None:
    """Per model, each measure as aekit's / pythae's: the mean over the seeds run, with the
    range over them where there are several."""
    columns = ("recon_sse", "probe_accuracy", "fid_prior", "fid_gmm", "train_s")
    print(
        "\n| model (pythae) | seeds | "
        + " | ".join(f"{column} aekit / pythae" for column in columns)
        + " | pythae / aekit time |\n|"
        + "---|" * (len(columns) + 3)
    )
    for name in dict.fromkeys(row["model"] for row in rows):
        mine = [row for row in rows if row["model"] == name]
        cells = []
        for column in columns:
            ours = [row[f"aekit_{column}"] for row in mine if f"aekit_{column}" in row]
            theirs = [row[f"pythae_{column}"] for row in mine if f"pythae_{column}" in row]
            cells.append(f"{_spread(ours, '.3g')} / {_spread(theirs, '.3g')}" if ours else "-")
        speed = statistics.mean(row["pythae_train_s"] / row["aekit_train_s"] for row in mine)
        print(
            f"| `{name}` ({mine[0]['pythae_model']}) | {len(mine)} | "
            + " | ".join(cells)
            + f" | {speed:.2f}x |"
        )


def dsprites_table(rows: list[dict]) -> None:
    print(
        "| model | seeds | epochs | train time | recon | "
        + " | ".join(METRICS)
        + " |\n|"
        + "---|" * (len(METRICS) + 5)
    )
    for name in dict.fromkeys(row["model"] for row in rows):
        mine = [row for row in rows if row["model"] == name]
        cells = [_spread([row[metric] for row in mine]) for metric in METRICS]
        print(
            f"| `{name}` | {len(mine)} | {mine[0]['epochs']} | "
            f"{statistics.mean(row['train_s'] for row in mine) / 60:.1f} min | "
            f"{statistics.mean(row['val_recon'] for row in mine):.1f} | " + " | ".join(cells) + " |"
        )


def _spread(values: list[float], form: str = ".3f") -> str:
    """The mean, and over several values their range: ``0.5 (0.4-0.6)``."""
    mean = format(statistics.mean(values), form)
    if len(values) == 1:
        return mean
    return f"{mean} ({format(min(values), form)}-{format(max(values), form)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="part", required=True)
    part = sub.add_parser("dsprites")
    part.add_argument("--models", default=",".join(MODELS))
    part.add_argument("--seeds", default="0,1")
    part.add_argument("--epochs", type=int, default=5)
    part.add_argument("--limit", type=int, help="train on the first N sprites (a smoke test)")
    part.add_argument("--keep", type=Path, help="keep the run directories in this folder")
    part.add_argument("--out", type=Path, required=True)
    part = sub.add_parser("mnist")
    pythae_side.add_run_options(part, epochs=10)
    part.add_argument("--models", default=",".join(PYTHAE))
    part.add_argument("--aekit", default=sys.executable, help="aekit's interpreter")
    part.add_argument("--out", type=Path, required=True)
    pythae_side.add_pythae_process(sub, list(PYTHAE), epochs=10)
    sub.add_parser("table").add_argument("paths", type=Path, nargs="+")
    args = parser.parse_args()
    if args.part == "table":
        table(args.paths)
    elif args.part == "pythae-train":
        pythae_side.train_pythae_process(build_pythae, args)
    else:
        {"dsprites": dsprites, "mnist": mnist}[args.part](args)


if __name__ == "__main__":
    main()
