"""A trained model as a file other runtimes load: ONNX (onnxruntime, TensorRT, ...) or
TorchScript (``torch.jit.load``, C++ ``libtorch``), with a dynamic batch size.

Three parts, each computing what the matching aekit command computes: ``encoder`` takes
inputs shaped like the data and gives codes (N, code_dim), as ``aekit encode`` (a VAE's
posterior mean); ``decoder`` takes codes and gives data-space outputs (probabilities or
means), as ``aekit decode``; ``both`` takes inputs and gives reconstructions, as ``aekit
reconstruct``. Conditional models take the labels (int64, N) as a second input. Every export
is checked before it is kept: the written file, run by its own runtime (onnxruntime for ONNX,
when installed), must give aekit's outputs on a few inputs.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from aekit.errors import AekitError
from aekit.io import replacing
from aekit.models.base import Autoencoder
from aekit.models.vae import VariationalAutoencoder

PARTS = ("encoder", "decoder", "both")
FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
TOLERANCE = 1e-5  # largest difference from aekit's own outputs an export may show
CHECK_BATCH = 3  # examples the export is checked on (not the traced batch of 2: dynamic)


class ExportedPart(nn.Module):
    """One part of an autoencoder as a module of tensors only (what exporters trace)."""

    def __init__(self, model: Autoencoder, part: str) -> None:
        super().__init__()
        self.model, self.part = model, part

    def forward(self, inputs: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.part == "encoder":
            return self.model.encode(inputs, labels).flatten(1)
        code = inputs if self.part == "decoder" else self.model.encode(inputs, labels)
        return self.model.to_data(self.model.decode(code, labels))


@dataclass(frozen=True)
class Exported:
    """What was written and how it was checked."""

    path: Path
    inputs: str  # what the file expects, in words
    outputs: str
    max_difference: float | None  # against aekit's outputs; None: runtime not installed


def export_model(model: Autoencoder, part: str, form: str, path: str | Path) -> Exported:
    """Write ``part`` of ``model`` to ``path`` in format ``form`` (atomically, once checked)."""
    if part not in PARTS:
        raise AekitError(f"unknown part {part!r}: one of {', '.join(PARTS)}")
    if form not in FORMATS:
        raise AekitError(f"unknown format {form!r}: one of {', '.join(FORMATS)}")
    # a copy for inference: the file's outputs need no gradient, and the caller's model
    # keeps its device and training state
    model = copy.deepcopy(model).cpu().eval().requires_grad_(False)
    module = ExportedPart(model, part)
    traced, checked = example_inputs(model, part, 2), example_inputs(model, part, CHECK_BATCH)
    path = Path(path)
    writer = _write_onnx if form == "onnx" else _write_torchscript
    with torch.no_grad(), replacing(path, path.suffix) as tmp:  # kept only once checked
        failing = ""
        try:
            writer(module, traced, str(tmp))
            failing = f"the written file fails on {CHECK_BATCH} examples: "
            difference = _check(module, checked, str(tmp), form)
        except AekitError:
            raise
        except Exception as error:  # the exporters raise many types; the reason is the news
            reason = f"{failing}{_reason(error)}"
            raise AekitError(f"cannot export {model.name}'s {part} as {form}: {reason}") from None
    return Exported(path, describe_inputs(model, part), describe_outputs(model, part), difference)


def example_inputs(model: Autoencoder, part: str, n: int) -> tuple[torch.Tensor, ...]:
    """Inputs of ``n`` examples for ``part``: data-shaped in [0, 1] or codes, then labels."""
    generator = torch.Generator().manual_seed(n)
    if part == "decoder":
        first = torch.randn(n, model.code_dim, generator=generator)
    else:
        first = torch.rand(n, *model.input_shape, generator=generator)
    if not model.conditional:
        return (first,)
    return first, torch.arange(n) % (model.num_classes or 1)


def describe_inputs(model: Autoencoder, part: str) -> str:
    classes = model.num_classes or 1
    labels = f", labels int64 [N] in 0..{classes - 1}" if model.conditional else ""
    if part != "decoder":
        return f"inputs float32 [N, {', '.join(map(str, model.input_shape))}]{labels}"
    prior = ""
    if model.generative:
        standard = getattr(type(model), "log_prior", None) is VariationalAutoencoder.log_prior
        prior = (
            " (samples: draw codes from N(0, I))"
            if standard
            else " (samples: draw codes from this model's own prior, as aekit's sampling does)"
        )
    return f"codes float32 [N, {model.code_dim}]{labels}{prior}"


def describe_outputs(model: Autoencoder, part: str) -> str:
    if part == "encoder":
        return f"codes float32 [N, {model.code_dim}]"
    kind = "probabilities" if model.output == "sigmoid" else "values"
    return f"{kind} float32 [N, {', '.join(map(str, model.input_shape))}]"


def _names(inputs: tuple[torch.Tensor, ...]) -> list[str]:
    return ["inputs", "labels"][: len(inputs)]


def _write_onnx(module: nn.Module, inputs: tuple[torch.Tensor, ...], path: str) -> None:
    try:
        import onnx  # noqa: F401  (what torch's exporter writes through)
        import onnxscript  # noqa: F401
    except ImportError:
        raise AekitError(
            "ONNX export needs the onnx and onnxscript packages: pip install 'aekit[export]'"
        ) from None
    batch = torch.export.Dim("batch", min=1)
    shapes = tuple({0: batch} for _ in inputs)
    with _quiet():
        torch.onnx.export(
            module,
            inputs,
            path,
            input_names=_names(inputs),
            output_names=["outputs"],
            dynamic_shapes=shapes,
            dynamo=True,
            external_data=False,
        )


def _write_torchscript(module: nn.Module, inputs: tuple[torch.Tensor, ...], path: str) -> None:
    with _quiet():  # torch 2.13 deprecates torch.jit in favour of torch.export (README)
        torch.jit.save(torch.jit.trace(module, inputs, check_trace=False), path)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporters print progress lines and log and warn about their own internals (the
    operators of packages that are not installed): nothing a user of ``aekit export`` can act
    on (failures raise, and are reported). Everything is restored on the way out."""
    onnx_log = logging.getLogger("torch.onnx")
    level = onnx_log.level
    onnx_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        onnx_log.setLevel(level)


def _check(
    module: nn.Module, inputs: tuple[torch.Tensor, ...], path: str, form: str
) -> float | None:
    """Largest difference between the written file's outputs and aekit's (None when the ONNX
    runtime is not installed); refuse the file beyond :data:`TOLERANCE`."""
    expected = module(*inputs)
    if form == "torchscript":
        with _quiet():
            got = torch.jit.load(path)(*inputs)
    else:
        try:
            import onnxruntime
        except ImportError:
            return None
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        feed = {name: t.numpy() for name, t in zip(_names(inputs), inputs, strict=True)}
        got = torch.from_numpy(session.run(None, feed)[0])
    difference = (got - expected).abs().max().item() if expected.numel() else 0.0
    if not difference <= TOLERANCE:
        raise AekitError(
            f"the exported file's outputs differ from aekit's by {difference:.3g} (more than "
            f"{TOLERANCE}); it was not written"
        )
    return difference


def _reason(error: Exception) -> str:
    """One line: the exception's first, or for the TorchScript interpreter (which starts with
    a heading and ends with the failure) its last."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    line = lines[-1] if "TorchScript interpreter" in lines[0] else lines[0]
    return line if line.startswith(type(error).__name__) else f"{type(error).__name__}: {line}"
