"""The likelihood models on MNIST: the literature's protocol, and side by side with pythae.

``protocol`` (aekit only; run it with aekit's own interpreter): each model on dynamically
binarized MNIST (60,000 training digits binarized afresh every batch; 54,000 of them trained
on, 6,000 validate), in Burda et al.'s one- or two-stochastic-layer network (784-200-200-50,
tanh; 784-200-200-100 and 100-100-50), Adam 1e-3, batch 100; then the test NLL, the
importance-weighted estimate with ``--iw-samples`` draws on the first ``--iw-examples`` of the
10,000 test digits (binarized once, with a fixed seed), with its standard error.

    python benchmarks/zoo_likelihood.py protocol --data-dir /work/shared/data \\
        --epochs 10 --iw-samples 5000 --iw-examples 10000 --out protocol.jsonl

``side-by-side`` (run it with an interpreter that has both pythae and aekit, e.g. a venv
made with ``pip install torch==2.13.0 pythae`` and ``pip install -e .``): for every model both
libraries have, aekit (``aekit train`` in ``--aekit`` 's interpreter) and pythae (its
``TrainingPipeline``) train the same network on the same arrays (MNIST binarized once at 0.5,
aekit's 54,000 / 6,000 split) for the same epochs, each as a whole process timed from start
to exit; then one evaluator, aekit's ``iwae_log_likelihood`` applied to both trained models
through the same interface, gives the test NLL of each on the same test digits with the same
random numbers.

    /work/peers/bin/python benchmarks/zoo_likelihood.py side-by-side \\
        --data-dir /work/shared/data --aekit .venv/bin/python --epochs 5 \\
        --iw-samples 1000 --iw-examples 2000 --out side.jsonl

Both write one JSON line per model to ``--out`` and print a Markdown table; the tables and
the commands are in benchmarks/RESULTS.md, "Likelihood zoo".
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import tempfile
import time
from pathlib import Path

import pythae_side
import torch

BURDA_ONE_LAYER = {"latent_dim": 50, "hidden": [200, 200], "activation": "tanh"}
BURDA_TWO_LAYERS = {"latent_dim": 50, "lower_latent_dim": 100, "hidden": [200, 200]}

# entry -> (aekit model, its options, what the literature reports: nats, source)
PROTOCOL = {
    "vae": ("vae", {}, "86.76 (Burda et al. 2016, k=1)"),
    "iwae": ("iwae", {"k": 5}, "85.54 (Burda et al., k=5)"),
    "iwae-k50": ("iwae", {"k": 50}, "84.78 (Burda et al., k=50)"),
    "miwae": ("miwae", {"m": 8, "k": 8}, "85.09 (pythae's table)"),
    "piwae": ("piwae", {"m": 8, "k": 8}, "84.58 (pythae's table)"),
    "ciwae": ("ciwae", {"k": 64, "beta": 0.5}, "84.74 (pythae's table)"),
    "vamp": ("vamp", {"pseudo_inputs": 500}, "85.79 (pythae's table)"),
    "vae-planar": ("vae-planar", {"flow_length": 10}, "-"),
    "vae-iaf": ("vae-iaf", {"flow_length": 2}, "-"),
    "vae-2layer": ("vae-2layer", {}, "85.33 (Burda et al., 2 layers, k=1)"),
    "ladder-2layer": ("vae-2layer", {"inference": "ladder"}, "-"),
    "iwae-2layer": ("iwae-2layer", {"k": 5}, "83.89 (Burda et al., 2 layers, k=5)"),
}


def model_spec(entry: str, activation: str = "tanh") -> dict:
    """The aekit model config of a protocol entry; ``activation`` other than Burda et al.'s
    tanh for the one-layer network (the VampPrior's encoder saturates with tanh: RESULTS.md)."""
    model, options, _ = PROTOCOL[entry]
    if model.endswith("2layer"):
        return {"name": model, **BURDA_TWO_LAYERS, **options}
    return {"name": model, **BURDA_ONE_LAYER, "activation": activation, **options}


def nll(model, x: torch.Tensor, samples: int, seed: int = 0) -> tuple[float, float, float]:
    """Test NLL (mean, standard error) in nats and the seconds it took: the one evaluator."""
    from aekit.evaluation.likelihood import iwae_log_likelihood

    start = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    log_px = iwae_log_likelihood(model, x, None, samples, generator, progress=True).double()
    seconds = time.perf_counter() - start
    return -log_px.mean().item(), (log_px.std() / math.sqrt(len(log_px))).item(), seconds


def write_row(path: Path, row: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)


# -- protocol ----------------------------------------------------------------------------
def protocol(args: argparse.Namespace) -> None:
    from aekit.config import RunConfig
    from aekit.workflow import train

    for name in args.models.split(","):
        config = RunConfig.from_dict(
            {
                "model": model_spec(name, args.activation),
                "data": {
                    "dataset": "mnist",
                    "data_dir": args.data_dir,
                    "binarize": "dynamic",
                    "limit": args.limit,
                },
                "train": {"epochs": args.epochs, "batch_size": 100, "lr": 1e-3, "seed": args.seed},
            }
        )
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            run = train(config, out=Path(tmp) / name, figures=False)
            train_seconds = time.perf_counter() - start
            test = run.data.test.subset(args.iw_examples)
            mean, stderr, iw_seconds = nll(run.model.eval(), test.x, args.iw_samples)
            last = run.history[-1]
        write_row(
            args.out,
            {
                "part": "protocol",
                "model": name,
                "spec": model_spec(name, args.activation),
                "epochs": args.epochs,
                "train_s": round(train_seconds, 1),
                "val_elbo": last.get("val_elbo"),
                "nll": mean,
                "nll_stderr": stderr,
                "iw_samples": args.iw_samples,
                "iw_examples": len(test),
                "iw_s": round(iw_seconds, 1),
                "literature": PROTOCOL[name][2],
                "threads": torch.get_num_threads(),
                "machine": platform.processor() or platform.machine(),
            },
        )


# -- side by side with pythae ------------------------------------------------------------
# aekit model -> pythae model class and its config options (the same objective settings)
PYTHAE = {
    "vae": ("VAE", {}),
    "iwae": ("IWAE", {"number_samples": 5}),
    "miwae": ("MIWAE", {"number_gradient_estimates": 4, "number_samples": 4}),
    "piwae": ("PIWAE", {"number_gradient_estimates": 4, "number_samples": 4}),
    "ciwae": ("CIWAE", {"number_samples": 16, "beta": 0.5}),
    "vamp": ("VAMP", {"number_components": 500}),
    "vae-planar": ("VAE_LinNF", {"flows": ["Planar"] * 10}),
    "vae-iaf": ("VAE_IAF", {"n_made_blocks": 2, "n_hidden_in_made": 2, "hidden_size": 320}),
}
AEKIT_OPTIONS = {  # the same objective settings in aekit's names
    "vae": {},
    "iwae": {"k": 5},
    "miwae": {"m": 4, "k": 4},
    "piwae": {"m": 4, "k": 4},
    "ciwae": {"k": 16, "beta": 0.5},
    "vamp": {"pseudo_inputs": 500},
    "vae-planar": {"flow_length": 10},
    "vae-iaf": {"flow_length": 2, "made_hidden": [320, 320]},
}


def aekit_side(args: argparse.Namespace, name: str, out: Path) -> float:
    """Train with ``aekit train`` as a user would; whole-process seconds."""
    spec = {"name": name, **BURDA_ONE_LAYER, **AEKIT_OPTIONS[name]}
    data = pythae_side.data_options(args.data_dir, args.limit)
    return pythae_side.aekit_train(args.aekit, spec, out, data, args.epochs, args.seed)


def pythae_networks():
    """Burda et al.'s one-layer network as pythae encoder and decoder modules."""
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from torch import nn

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(
                nn.Linear(784, 200), nn.Tanh(), nn.Linear(200, 200), nn.Tanh()
            )
            self.mean, self.logvar = nn.Linear(200, 50), nn.Linear(200, 50)

        def forward(self, x):
            h = self.body(x.reshape(len(x), -1))
            return ModelOutput(embedding=self.mean(h), log_covariance=self.logvar(h))

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.logits = nn.Sequential(
                nn.Linear(50, 200), nn.Tanh(), nn.Linear(200, 200), nn.Tanh(), nn.Linear(200, 784)
            )

        def forward(self, z):
            out = torch.sigmoid(self.logits(z)).reshape(len(z), 1, 28, 28)
            return ModelOutput(reconstruction=out)

    return Encoder(), Decoder()


def build_pythae(name: str):
    import pythae.models as models

    cls_name, options = PYTHAE[name]
    config_name = {"VAE_LinNF": "VAE_LinNF_Config", "VAE_IAF": "VAE_IAF_Config"}.get(
        cls_name, f"{cls_name}Config"
    )
    config = getattr(models, config_name)(
        input_dim=(1, 28, 28), latent_dim=50, reconstruction_loss="bce", **options
    )
    encoder, decoder = pythae_networks()
    return getattr(models, cls_name)(config, encoder=encoder, decoder=decoder)


class PythaeAsAekit:
    """A trained pythae model seen through the interface aekit's evaluator uses:
    ``posterior_draws`` (draws and log p(z) - log q(z|x), the flow's log-determinant and the
    VampPrior's mixture included), ``decode`` (logits) and ``draws_log_likelihood``
    (Bernoulli, aekit's own scoring of decoded draws), and ``parameters`` (where it lives)."""

    input_shape = (1, 28, 28)

    def __init__(self, model, name: str) -> None:
        from aekit.models.vae import MLPVAE

        self.model, self.name = model.eval(), name
        self.bernoulli = MLPVAE((1, 28, 28), latent_dim=1, hidden=[1])  # its log-likelihood

    def eval(self):
        return self

    def parameters(self):
        return self.model.parameters()

    def posterior_draws(self, x, y=None, k=1, generator=None):
        from aekit.models.vae import gaussian_draws, standard_log_normal
        from aekit.models.vamp import mixture_log_normal

        out = self.model.encoder(x)
        z, log_q = gaussian_draws(out.embedding, out.log_covariance, k, generator)
        n = len(x)
        if self.name == "vae-planar":
            flat, log_det = z.reshape(n * k, -1), torch.zeros(n * k)
            for layer in self.model.net:
                step = layer(flat)
                flat, log_det = step.out, log_det + step.log_abs_det_jac
            z, log_q = flat.reshape(n, k, -1), log_q - log_det.reshape(n, k)
        elif self.name == "vae-iaf":
            step = self.model.iaf_flow.inverse(z.reshape(n * k, -1))
            z = step.out.reshape(n, k, -1)
            log_q = log_q - step.log_abs_det_jac.reshape(n, k)
        if self.name == "vamp":
            m = self.model
            pseudo = m.pseudo_inputs(m.idle_input).reshape(-1, 1, 28, 28)
            components = m.encoder(pseudo)
            log_p = mixture_log_normal(z, components.embedding, components.log_covariance)
        else:
            log_p = standard_log_normal(z)
        return z, log_p - log_q

    def decode(self, z, y=None):
        return self.model.decoder.logits(z).reshape(len(z), 1, 28, 28)

    def log_likelihood(self, out, target):
        return self.bernoulli.log_likelihood(out, target)

    def draws_log_likelihood(self, z, target, y=None):
        from aekit.models.vae import VariationalAutoencoder

        return VariationalAutoencoder.draws_log_likelihood(self, z, target, y)


def side_by_side(args: argparse.Namespace) -> None:
    from safetensors.torch import load_file

    from aekit.data.splits import prepare_data
    from aekit.runs.directory import open_run

    test = prepare_data(pythae_side.data_config(args.data_dir, args.limit)).test
    test = test.subset(args.iw_examples)
    for name in args.models.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            run_dir, weights = Path(tmp) / "aekit-run", Path(tmp) / "pythae.safetensors"
            pythae_s = pythae_side.pythae_process(__file__, name, weights, args)
            aekit_s = aekit_side(args, name, run_dir)
            pythae_model = build_pythae(name)
            pythae_model.load_state_dict(load_file(weights))
            with torch.no_grad():
                ours = nll(open_run(run_dir).model.eval(), test.x, args.iw_samples)
                theirs = nll(PythaeAsAekit(pythae_model, name), test.x, args.iw_samples)
        write_row(
            args.out,
            {
                "part": "side-by-side",
                "model": name,
                "pythae_model": PYTHAE[name][0],
                "options": AEKIT_OPTIONS[name],
                "epochs": args.epochs,
                "seed": args.seed,
                "aekit_nll": ours[0],
                "aekit_stderr": ours[1],
                "pythae_nll": theirs[0],
                "pythae_stderr": theirs[1],
                "aekit_train_s": round(aekit_s, 1),
                "pythae_train_s": round(pythae_s, 1),
                "speedup": round(pythae_s / aekit_s, 2),
                "iw_samples": args.iw_samples,
                "iw_examples": len(test),
            },
        )


def table(path: Path) -> None:
    """Print the rows of ``path`` as Markdown tables."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    protocol_rows = [r for r in rows if r["part"] == "protocol"]
    if protocol_rows:
        print(
            "| model | options | epochs | train time | NLL ± s.e. (examples, K) | "
            "literature |\n|---|---|---|---|---|---|"
        )
        for r in protocol_rows:
            options = {
                k: v
                for k, v in r["spec"].items()
                if k in ("k", "m", "beta", "pseudo_inputs", "flow_length", "inference")
                or (k == "activation" and v != "tanh")
            }
            print(
                f"| `{r['model']}` | {options or '-'} | {r['epochs']} | "
                f"{r['train_s'] / 60:.1f} min | {r['nll']:.2f} ± {r['nll_stderr']:.2f} "
                f"({r['iw_examples']}, K={r['iw_samples']}) | {r['literature']} |"
            )
    side = [r for r in rows if r["part"] == "side-by-side"]
    if side:
        print(
            "\n| model (pythae) | options | aekit NLL | pythae NLL | aekit train | "
            "pythae train | pythae / aekit |\n|---|---|---|---|---|---|---|"
        )
        for r in side:
            print(
                f"| `{r['model']}` ({r['pythae_model']}) | {r['options'] or '-'} | "
                f"{r['aekit_nll']:.2f} ± {r['aekit_stderr']:.2f} | "
                f"{r['pythae_nll']:.2f} ± {r['pythae_stderr']:.2f} | {r['aekit_train_s']:.0f} s"
                f" | {r['pythae_train_s']:.0f} s | {r['speedup']:.2f}x |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="part", required=True)
    pythae_side.add_pythae_process(sub, list(PYTHAE), epochs=5)
    for part in ("protocol", "side-by-side"):
        p = sub.add_parser(part)
        pythae_side.add_run_options(p, epochs=5)
        known = PROTOCOL if part == "protocol" else PYTHAE
        p.add_argument("--models", default=",".join(known))
        p.add_argument("--iw-samples", type=int, default=5000)
        p.add_argument("--iw-examples", type=int, default=10000)
        p.add_argument("--out", type=Path, required=True)
        if part == "protocol":
            p.add_argument("--activation", default="tanh", help="one-layer network's (tanh)")
        if part == "side-by-side":
            p.add_argument("--aekit", default=sys.executable, help="aekit's interpreter")
    sub.add_parser("table").add_argument("path", type=Path)
    args = parser.parse_args()
    if args.part == "table":
        table(args.path)
    elif args.part == "protocol":
        protocol(args)
    elif args.part == "side-by-side":
        side_by_side(args)
    else:
        pythae_side.train_pythae_process(build_pythae, args)


if __name__ == "__main__":
    main()
