"""Every registered model trains, saves, loads, encodes, inpaints and edits; each family
member's own promise."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aekit.apps.inpaint import chain_methods, inpaint, make_mask
from aekit.config import DataConfig, RunConfig, TrainConfig
from aekit.data.raw import RawData
from aekit.data.splits import DataBundle, prepare_data, split_raw
from aekit.data.transforms import parse_noise
from aekit.errors import AekitError
from aekit.figures.kinds import plot
from aekit.figures.options import PlotOptions
from aekit.models import MODELS, build_model
from aekit.runs.attributes import attribute_direction, parse_attribute, save_direction
from aekit.runs.checkpoint import load_model
from aekit.training import Trainer
from aekit.workflow import train

# Small versions of every registered model, so the whole family trains in seconds on a CPU.
SMALL: dict[str, dict] = {
    "ae": {"latent_dim": 8, "hidden": [32]},
    "linear-ae": {"latent_dim": 4},
    "tied-ae": {"latent_dim": 8, "hidden": [32]},
    "sparse-ae": {"latent_dim": 32, "hidden": [32]},
    "recurrent-ae": {"latent_dim": 8, "hidden": [16]},
    "vae": {"latent_dim": 4, "hidden": [32]},
    "cvae": {"latent_dim": 4, "hidden": [32]},
    "conv-ae": {"channels": [4, 8]},
    "conv-vae": {"latent_dim": 4, "channels": [4, 8]},
    "conv-cvae": {"latent_dim": 4, "channels": [4, 8]},
    "iwae": {"latent_dim": 4, "hidden": [32], "k": 3},
    "conv-iwae": {"latent_dim": 4, "channels": [4, 8], "k": 2},
    "miwae": {"latent_dim": 4, "hidden": [32], "m": 2, "k": 2},
    "piwae": {"latent_dim": 4, "hidden": [32], "m": 2, "k": 2},
    "ciwae": {"latent_dim": 4, "hidden": [32], "k": 3},
    "vamp": {"latent_dim": 4, "hidden": [32], "pseudo_inputs": 8},
    "conv-vamp": {"latent_dim": 4, "channels": [4, 8], "pseudo_inputs": 8},
    "vae-planar": {"latent_dim": 4, "hidden": [32], "flow_length": 2},
    "vae-iaf": {"latent_dim": 4, "hidden": [32], "made_hidden": [16]},
    "vae-2layer": {"latent_dim": 2, "lower_latent_dim": 4, "hidden": [32], "upper_hidden": [8]},
    "beta-vae": {"latent_dim": 4, "hidden": [32]},
    "conv-beta-vae": {"latent_dim": 4, "channels": [4, 8]},
    "beta-tcvae": {"latent_dim": 4, "hidden": [32]},
    "conv-beta-tcvae": {"latent_dim": 4, "channels": [4, 8]},
    "dip-vae": {"latent_dim": 4, "hidden": [32]},
    "conv-dip-vae": {"latent_dim": 4, "channels": [4, 8]},
    "factor-vae": {"latent_dim": 4, "hidden": [32], "discriminator_hidden": [16]},
    "conv-factor-vae": {"latent_dim": 4, "channels": [4, 8], "discriminator_hidden": [16]},
    "info-vae": {"latent_dim": 4, "hidden": [32]},
    "conv-info-vae": {"latent_dim": 4, "channels": [4, 8]},
    "wae": {"latent_dim": 4, "hidden": [32], "penalty": "gan", "discriminator_hidden": [16]},
    "conv-wae": {"latent_dim": 4, "channels": [4, 8]},
    "rae": {"latent_dim": 4, "hidden": [32]},
    "conv-rae": {"latent_dim": 4, "channels": [4, 8], "regularizer": "gp"},
    "aae": {"latent_dim": 4, "hidden": [32], "discriminator_hidden": [16]},
    "conv-aae": {"latent_dim": 4, "channels": [4, 8], "discriminator_hidden": [16]},
    "vq-vae": {"channels": [4, 8], "embedding_dim": 4, "codebook_size": 8},
    "mult-vae": {"latent_dim": 4, "hidden": [32]},
    "mult-dae": {"latent_dim": 4, "hidden": [32]},
    "iwae-2layer": {
        "latent_dim": 2,
        "lower_latent_dim": 4,
        "hidden": [32],
        "upper_hidden": [8],
        "k": 2,
    },
}
CPU = {"device": "cpu"}
# One member of each kind runs by default; the whole family with -m slow (CI's time).
CORE = {"ae", "linear-ae", "tied-ae", "sparse-ae", "recurrent-ae", "vae", "cvae", "conv-ae",
        "conv-vae", "iwae", "vamp", "vae-2layer", "factor-vae", "vq-vae", "mult-vae"}  # fmt: skip
FAMILY = [pytest.param(n, marks=() if n in CORE else pytest.mark.slow) for n in sorted(SMALL)]


@pytest.fixture(scope="module")
def digits() -> DataBundle:
    """300 bundled MNIST training digits (1, 28, 28) with labels, and their val/test splits."""
    return prepare_data(DataConfig(dataset="mnist-5k", limit=300))


def small_model(name: str, data: DataBundle, seed: int = 0, **options):
    torch.manual_seed(seed)
    return build_model({"name": name, **SMALL[name], **options}, data.shape, data.num_classes)


def test_every_registered_model_has_a_small_version_here():
    assert set(SMALL) == set(MODELS)


@pytest.mark.parametrize("name", FAMILY)
def test_loss_decreases(name, digits):
    model = small_model(name, digits)
    trainer = Trainer(model, TrainConfig(epochs=3, lr=3e-3, batch_size=32, **CPU))
    val = digits.val
    before = trainer.evaluate(val)["loss"]
    history = trainer.fit(digits.train, val)
    assert history[-1]["val_loss"] < 0.9 * before
    assert history[-1]["train_loss"] < history[0]["train_loss"]


@pytest.mark.parametrize("name", FAMILY)
def test_save_load_encode_round_trip(name, tmp_path):
    config = RunConfig.from_dict(
        {
            "model": {"name": name, **SMALL[name]},
            "data": {"dataset": "mnist-5k", "limit": 200},
            "train": {"epochs": 1, "batch_size": 64, **CPU},
        }
    )
    result = train(config, out=tmp_path / "run")
    loaded = load_model(result.model_file)
    assert loaded.describe() == result.model.describe()
    x, y = result.data.test.x[:16], result.data.test.y[:16]
    y = y if loaded.conditional else None
    with torch.no_grad():
        code = result.model.eval().encode(x, y)
        assert torch.equal(loaded.encode(x, y), code)
        assert torch.equal(loaded.decode(code, y), result.model.decode(code, y))
    assert (result.figures / "reconstructions.png").is_file()
    _inpaints_and_edits(result, x, y)


def _inpaints_and_edits(run, x, y) -> None:
    """Every model fills hidden pixels by each of its methods, keeping the known ones, and
    moves codes along an attribute direction."""
    mask = make_mask("center:10", tuple(x.shape[1:]), len(x))
    for method in chain_methods(run.model):
        done = inpaint(run.model, x, mask, y, method=method, iterations=2)
        assert torch.equal(done.filled[~mask], x[~mask]) and torch.isfinite(done.filled).all()
    train_split = run.data.train
    attribute = parse_attribute("label:1:7", train_split)
    save_direction(run, attribute_direction(run.encode(train_split), attribute))
    assert plot(run, "edit", PlotOptions(count=2, steps=3)).is_file()


def test_conv_ae_weights_are_channels_last_also_after_loading(tmp_path):
    """Channels-last is what makes conv-ae's max-pooling fast on the CPU; conv-vae measured
    faster in the default layout (benchmarks/RESULTS.md)."""
    from aekit.runs.checkpoint import save_model

    def kernels(model):
        return [p for p in model.parameters() if p.dim() == 4 and p.shape[1] > 1]

    model = build_model({"name": "conv-ae", "channels": [4, 8]}, (1, 28, 28))
    save_model(model, tmp_path / "model.safetensors")
    loaded = load_model(tmp_path / "model.safetensors")
    for built, reloaded in zip(kernels(model), kernels(loaded), strict=True):
        assert built.is_contiguous(memory_format=torch.channels_last)
        assert not built.is_contiguous()
        assert reloaded.is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(built, reloaded)
    vae = build_model({"name": "conv-vae", "channels": [4, 8]}, (1, 28, 28))
    assert all(p.is_contiguous() for p in kernels(vae))


@pytest.mark.parametrize("noise", ["dropout:0.5", "gaussian:0.3"])
@pytest.mark.parametrize("name", FAMILY)
def test_denoising_works_for_every_model(name, noise, digits):
    """The trainer's input corruption reaches every model: same seed, different weights."""
    cfg = TrainConfig(epochs=1, batch_size=32, **CPU)
    train_split, val = digits.train.subset(96), digits.val.subset(64)
    weights = {}
    for spec in (None, noise):
        model = small_model(name, digits)
        trainer = Trainer(model, cfg, noise=parse_noise(spec) if spec else None)
        row = trainer.fit(train_split, val)[-1]
        assert np.isfinite(row["train_loss"]) and np.isfinite(row["val_loss"])
        weights[spec] = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert not torch.equal(weights[None], weights[noise])


# -- tied-ae (S10) --------------------------------------------------------------------------
def _count(model) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("hidden", [[], [100], [256, 64]])
def test_tied_ae_stores_each_weight_matrix_once(hidden):
    spec = {"latent_dim": 30, "hidden": hidden}
    ae = build_model({"name": "ae", **spec}, (1, 28, 28))
    tied = build_model({"name": "tied-ae", **spec}, (1, 28, 28))
    sizes = [784, *hidden, 30]
    matrices = sum(a * b for a, b in itertools.pairwise(sizes))
    assert _count(tied) == _count(ae) - matrices
    assert _count(tied) < 0.51 * _count(ae)


def test_tied_decoder_is_the_transposed_encoder():
    torch.manual_seed(0)
    model = build_model({"name": "tied-ae", "latent_dim": 3, "hidden": [5]}, (7,))
    first, second = model.encoder[0], model.encoder[2]
    z = torch.randn(4, 3)
    hidden = torch.relu(z @ second.weight + model.decoder_biases[1])
    expected = hidden @ first.weight + model.decoder_biases[0]
    assert torch.allclose(model.decode(z), expected)


# -- recurrent-ae (S13) ---------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1, 28, 28), (12, 3), (20,)])
def test_recurrent_ae_returns_the_input_shape(shape):
    model = build_model({"name": "recurrent-ae", **SMALL["recurrent-ae"]}, shape)
    x = torch.rand(5, *shape)
    code = model.encode(x)
    assert code.shape == (5, 8)
    assert model.decode(code).shape == x.shape


def test_recurrent_ae_default_is_the_article_layout():
    model = build_model({"name": "recurrent-ae"}, (1, 28, 28))
    assert [(m.input_size, m.hidden_size) for m in model.encoder] == [(28, 100), (100, 30)]
    assert [(m.input_size, m.hidden_size) for m in model.decoder] == [(30, 100)]
    assert (model.readout.in_features, model.readout.out_features) == (100, 28)


def test_recurrent_ae_starts_from_keras_lstm_weights():
    """Keras' LSTM defaults (S13's framework): orthogonal recurrent kernels, zero biases but a
    forget gate (PyTorch's second block of each bias) of 1; ``init=torch`` keeps PyTorch's."""
    lstm = build_model({"name": "recurrent-ae"}, (1, 28, 28)).encoder[0]
    gates = lstm.bias_ih_l0.detach().view(4, 100)
    assert torch.equal(gates[1], torch.ones(100)) and not gates[[0, 2, 3]].any()
    assert not lstm.bias_hh_l0.any()
    recurrent = lstm.weight_hh_l0.detach()  # (4 * 100, 100): orthonormal columns
    torch.testing.assert_close(recurrent.T @ recurrent, torch.eye(100), atol=1e-5, rtol=0)
    torch_init = build_model({"name": "recurrent-ae", "init": "torch"}, (1, 28, 28))
    assert torch_init.encoder[0].bias_hh_l0.any()


@pytest.mark.parametrize("name", ["ae", "vae", "tied-ae", "conv-ae", "conv-vae", "recurrent-ae"])
def test_unknown_init_is_named(name):
    with pytest.raises(AekitError, match="unknown init 'keras'; choose one of: glorot, torch"):
        build_model({"name": name, "init": "keras"}, (1, 28, 28))


@pytest.mark.parametrize("shape", [(3, 32, 32), (2, 4, 4, 4)])
def test_recurrent_ae_rejects_data_it_cannot_read_as_sequences(shape):
    with pytest.raises(AekitError, match=r"recurrent-ae.*reads sequences.*shaped"):
        build_model({"name": "recurrent-ae"}, shape)


def test_recurrent_ae_rejects_inputs_of_another_shape():
    model = build_model({"name": "recurrent-ae", **SMALL["recurrent-ae"]}, (1, 28, 28))
    with pytest.raises(AekitError, match=r"built for examples shaped \(1, 28, 28\)"):
        model.encode(torch.rand(2, 1, 8, 8))


@pytest.mark.parametrize("shape", [(16, 2), (24,)])
def test_recurrent_ae_learns_user_sequences(shape):
    """(N, T, F) arrays and one-series-per-row tables: noisy sine waves of random phase."""
    rng = np.random.default_rng(0)
    t = np.linspace(0, 2 * np.pi, shape[0])
    phase = rng.uniform(0, 2 * np.pi, size=(400, 1))
    waves = 0.5 + 0.4 * np.sin(t + phase)
    x = np.stack([waves, 1 - waves], -1) if len(shape) == 2 else waves
    x = (x + 0.02 * rng.standard_normal(x.shape)).clip(0, 1).astype(np.float32)
    data = split_raw(RawData("waves", x, None), DataConfig())
    torch.manual_seed(0)
    model = build_model({"name": "recurrent-ae", **SMALL["recurrent-ae"]}, data.shape)
    trainer = Trainer(model, TrainConfig(epochs=8, lr=1e-2, batch_size=32, **CPU))
    before = trainer.evaluate(data.val)["loss"]
    history = trainer.fit(data.train, data.val)
    assert history[-1]["val_loss"] < before - 0.02
    assert model.reconstruct(data.test.x).shape == data.test.x.shape


# -- sparse-ae (S15) ------------------------------------------------------------------------
@pytest.mark.parametrize("target", [0.0, 1.0, 1.5, -0.1])
def test_sparse_target_must_be_a_probability(target):
    with pytest.raises(AekitError, match=r"sparsity_target.*between 0 and 1"):
        build_model({"name": "sparse-ae", "sparsity_target": target}, (1, 28, 28))


def test_sparse_penalty_choice_is_checked():
    with pytest.raises(AekitError, match="unknown sparsity penalty 'l2'; choose one of: kl, l1"):
        build_model({"name": "sparse-ae", "sparsity": "l2"}, (1, 28, 28))


@pytest.mark.parametrize("sparsity", ["l1", "kl"])
def test_sparse_loss_is_keras_mean_bce_plus_the_article_penalty(sparsity, digits):
    """Per-element training loss == Keras' mean-per-pixel BCE + the regulariser's value."""
    model = small_model("sparse-ae", digits, sparsity=sparsity)
    x = digits.train.x[:64]
    terms = model.loss_terms(x, x)
    code = model.encode(x)
    mean_bce = F.binary_cross_entropy_with_logits(model.decode(code), x)
    if sparsity == "l1":
        keras_penalty = 1e-3 * code.abs().sum(1).mean()
    else:
        q = code.mean(0)
        kl = 0.1 * torch.log(0.1 / q) + 0.9 * torch.log(0.9 / (1 - q))
        keras_penalty = 0.05 * kl.sum()
    per_element = terms["loss"] / model.input_dim  # what the trainer optimises by default
    assert torch.allclose(per_element, mean_bce + keras_penalty, rtol=1e-5)


@pytest.fixture(scope="module")
def digits_1k() -> DataBundle:
    return prepare_data(DataConfig(dataset="mnist-5k", limit=1000))


def article_sparse_codes(data: DataBundle, **options) -> torch.Tensor:
    """Validation codes of the article's 784-100-300 sparse-ae after 4 epochs (batch 32)."""
    torch.manual_seed(0)
    model = build_model({"name": "sparse-ae", **options}, data.shape)
    Trainer(model, TrainConfig(epochs=4, batch_size=32, **CPU)).fit(data.train, data.val)
    with torch.no_grad():
        return model.encode(data.val.x)


def test_sparse_kl_with_article_settings_reaches_the_target_activation(digits_1k):
    """Target 0.1, weight 0.05 (the defaults): every unit's mean activation settles near 0.1."""
    codes = article_sparse_codes(digits_1k)
    assert codes.shape[1] == 300 and codes.min() >= 0 and codes.max() <= 1
    assert abs(codes.mean().item() - 0.1) < 0.02
    unit_means = codes.mean(0)
    assert unit_means.min() > 0.05 and unit_means.max() < 0.2


def test_sparse_l1_with_article_settings_silences_most_codes(digits_1k):
    plain = article_sparse_codes(digits_1k, sparsity="l1", l1_weight=0.0)
    sparse = article_sparse_codes(digits_1k, sparsity="l1")  # l1 = 1e-3
    assert sparse.mean() < 0.5 * plain.mean()
    assert (sparse < 0.1).float().mean() > 0.8 > (plain < 0.1).float().mean()


# -- VAEs: KL weight 0 (S18) and conv-cvae (S5 + S17) ---------------------------------------
def _posterior(kl_weight: float, data: DataBundle) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean posterior variance and KL on validation data after training."""
    torch.manual_seed(0)
    spec = {"name": "vae", "latent_dim": 32, "hidden": [256], "kl_weight": kl_weight}
    model = build_model(spec, data.shape)
    Trainer(model, TrainConfig(epochs=30, lr=3e-3, batch_size=64, **CPU)).fit(data.train, data.val)
    with torch.no_grad():
        mean, logvar = model.encode_dist(data.val.x)
    kl = -0.5 * (1 + logvar - mean.square() - logvar.exp())
    return logvar.exp().mean(0), kl.mean(0)


def test_kl_weight_zero_lets_the_posterior_variance_collapse():
    data = prepare_data(DataConfig(dataset="mnist-5k", limit=2000))
    variance, _ = _posterior(0.0, data)
    prior_variance, kl = _posterior(1.0, data)
    # Without the KL term nothing pulls q(z|x) to N(0, I): noise only hurts reconstruction.
    assert variance.max() < 0.2
    # With it, the dimensions the decoder does not use stay at the prior's unit variance.
    unused = kl < 0.05
    assert unused.sum() >= 3
    assert prior_variance[unused].mean() > 0.9 and prior_variance[unused].min() > 0.8
    assert prior_variance.median() > 5 * variance.median()


def test_conv_cvae_samples_the_requested_class(digits):
    model = small_model("conv-cvae", digits)
    Trainer(model, TrainConfig(epochs=2, lr=3e-3, batch_size=32, **CPU)).fit(
        digits.train, digits.val
    )
    samples = []
    for label in range(10):
        generator = torch.Generator().manual_seed(0)  # the same z for every label
        samples.append(model.sample(4, torch.full((4,), label), generator=generator))
    assert samples[0].shape == (4, 1, 28, 28)
    assert all(s.min() >= 0 and s.max() <= 1 for s in samples)
    assert len({tuple(s.flatten()[:50].tolist()) for s in samples}) > 5
    with pytest.raises(AekitError, match="conditional"):
        model.sample(4)


def test_conv_cvae_needs_labelled_data():
    with pytest.raises(AekitError, match=r"conv-cvae.*conditional.*labelled"):
        build_model({"name": "conv-cvae"}, (1, 28, 28), None)


def test_models_list_includes_the_family():
    from click.testing import CliRunner

    from aekit.cli import cli

    result = CliRunner().invoke(cli, ["models"])
    assert result.exit_code == 0
    for name in ("tied-ae", "recurrent-ae", "sparse-ae", "conv-cvae"):
        assert name in result.output


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("ae", {"latent_dim": 0}, "model 'ae': bad latent_dim 0; it must be a whole number >= 1"),
        ("vae", {"latent_dim": 2.5}, "model 'vae': bad latent_dim 2.5"),
        ("conv-ae", {"kernel_size": 0}, "model 'conv-ae': bad kernel_size 0"),
        ("ae", {"hidden": [256, 0]}, r"bad hidden \[256, 0\]; give whole numbers >= 1"),
        ("tied-ae", {"hidden": "64,x"}, "bad hidden '64,x'"),
        ("vae", {"decoder_hidden": [-5]}, r"bad decoder_hidden \[-5\]"),
        ("conv-vae", {"channels": []}, r"bad channels \[\]; give one or more whole numbers"),
        ("conv-ae", {"channels": [8, True]}, r"bad channels \[8, True\]"),
    ],
)
def test_bad_layer_sizes_from_a_config_are_named(name, options, message):
    """YAML and --set skip the command line's own checks; the model still names the mistake
    instead of failing inside PyTorch (or building a 0-d code)."""
    with pytest.raises(AekitError, match=message):
        build_model({"name": name, **options}, (1, 28, 28), num_classes=10)


@pytest.mark.parametrize("hidden", [[], "", None, 64, "64,32", [64, 32]])
def test_layer_sizes_in_every_accepted_form(hidden):
    model = build_model({"name": "ae", "hidden": hidden, "latent_dim": 2}, (8,))
    assert model.encode(torch.zeros(3, 8)).shape == (3, 2)


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("train", "weight_decay", -1.0),
        ("train", "momentum", -0.5),
        ("train", "seed", -1),
        ("train", "eps", 0.0),
        ("train", "grad_clip", -1.0),
        ("data", "split_seed", -2),
    ],
)
def test_bad_numbers_in_a_config_are_named(section, key, value):
    with pytest.raises(AekitError, match=f"bad {key} {value}"):
        RunConfig.from_dict({section: {key: value}})


@pytest.mark.parametrize("name", FAMILY)
def test_the_class_and_the_factory_build_the_same_model(name, tmp_path):
    """``Model(shape, **options)`` is ``build_model({"name": ..., **options})``: the same
    pinned options, the same weights from the same seed, the same layout and the same saved
    description; the file it saves rebuilds it with every option it was given."""
    from aekit.runs.checkpoint import save_model

    cls, options = MODELS[name], SMALL[name]
    torch.manual_seed(0)
    direct = cls((1, 28, 28), num_classes=10, **options)
    torch.manual_seed(0)
    built = build_model({"name": name, **options}, (1, 28, 28), num_classes=10)
    assert direct.describe() == built.describe()
    assert direct.describe()["params"] == {**model_defaults(cls), **_canonical(options)}
    for (key, a), b in zip(direct.state_dict().items(), built.state_dict().values(), strict=True):
        assert torch.equal(a, b) and a.stride() == b.stride(), key
    save_model(direct, tmp_path / "model.safetensors")
    assert load_model(tmp_path / "model.safetensors").describe() == direct.describe()


def model_defaults(cls) -> dict:
    from aekit.models.base import model_params

    return _canonical(model_params(cls))


def _canonical(options: dict) -> dict:
    """Options as a model records them: tuples of sizes as lists, numbers of float options as
    floats."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}


@pytest.mark.parametrize(
    ("cls_name", "pinned"),
    [
        ("sparse-ae", {"code_activation": "sigmoid"}),
        ("linear-ae", {"hidden_activation": "linear", "recon_loss": "mse", "output": "linear"}),
    ],
)
def test_a_model_built_directly_gets_its_pinned_options(cls_name, pinned):
    model = MODELS[cls_name]((1, 28, 28))
    assert {key: getattr(model, key) for key in pinned} == pinned
    assert model.hparams  # a directly built model describes its options too


def test_options_given_as_text_are_converted_once_by_the_class():
    """YAML and --set deliver "1e-3", "64,32" and "3": the class itself converts them."""
    model = MODELS["vae"]((1, 28, 28), kl_weight="3", hidden="64,32", latent_dim="4")
    assert model.hparams["kl_weight"] == 3.0 and model.kl_weight == 3.0
    assert model.hparams["hidden"] == [64, 32] and model.code_dim == 4
