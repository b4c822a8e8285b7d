"""Every call into interfaces that PyTorch (or its OpenMP runtime) does not promise to keep.

Two speed-ups need them (their gains: benchmarks/RESULTS.md): ``--compile`` traces, exports
and builds the training step with AOTInductor and loads the built package through its C++
loader; flushing subnormal floats reaches PyTorch's OpenMP worker threads through the
runtime's ``GOMP_parallel`` entry point; and whether the CPU has native bf16 comes from
torch's private CPU probes (``cpu_has_native_bf16``); and the ``aekit`` command spares itself
the import of TorchDynamo that torch's optimizers would otherwise make
(``defer_dynamo_import``, ``step_optimizer``). Nothing else in aekit touches such an interface.

The compile path is only taken on the torch versions it was tested with,
:data:`TESTED_TORCH` (pyproject.toml's ``[tool.aekit] tested-torch`` says the same, and a
test keeps the two equal). On any other version :func:`compile_unavailable` says why, and the
trainer trains eagerly with one line to the user instead of failing on a changed internal.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from packaging.specifiers import SpecifierSet

from aekit.errors import AekitWarning

TESTED_TORCH = ">=2.13,<2.14"
# Deprecations torch 2.13 raises from its own code while exporting: about its internals, so
# nothing a user can act on.
_TORCH_INTERNAL_WARNINGS = (r"`isinstance\(treespec, LeafSpec\)` is deprecated", r"`torch\.jit\.")


def cpu_has_native_bf16() -> bool | None:
    """Whether this x86 CPU computes in bf16 natively (AVX512-BF16 or AMX), as torch's CPU
    probes say; None where that is not known (another architecture, another torch)."""
    import platform

    probes = [getattr(torch.cpu, name, None) for name in _BF16_PROBES]
    if platform.machine().lower() not in ("x86_64", "amd64") or None in probes:
        return None
    return any(probe() for probe in probes if probe is not None)


_BF16_PROBES = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")


def warn_without_native_bf16(option: str) -> None:
    """bf16 on a CPU that emulates it is many times slower than fp32: say so, naming the
    ``option`` that asked for it (the speed-ups in benchmarks/RESULTS.md were measured on
    CPUs with AVX512-BF16 or AMX)."""
    if cpu_has_native_bf16() is False:
        warnings.warn(
            f"{option} on this CPU, which has no native bf16 (AVX512-BF16 or AMX): "
            "PyTorch emulates it, usually several times slower than fp32; use fp32",
            AekitWarning,
            stacklevel=3,
        )


def torch_version() -> str:
    return str(torch.__version__)


def compile_unavailable() -> str | None:
    """Why ``--compile`` cannot be used with this torch, or None when it can."""
    version = torch_version()
    if SpecifierSet(TESTED_TORCH).contains(version):
        return None
    return f"--compile is tested with torch {TESTED_TORCH}, and this is torch {version}"


def defer_dynamo_import() -> bool:
    """Let torch's optimizers (and DDP) run without importing TorchDynamo; False where that
    is not done (another torch version, or Dynamo already imported).

    Why: the methods torch marks with ``torch._disable_dynamo`` (``Optimizer.add_param_group``,
    ``zero_grad``, ``state_dict``, ..., DDP's forward hooks) import ``torch._dynamo`` on their
    first call to build a wrapper that only matters while Dynamo traces, which aekit's eager
    and AOTInductor paths never do. That import costs more than training the default model
    (benchmarks/RESULTS.md, "Fixed cost"). Each wrapper caches what it calls in its wrapped
    function's ``__dynamo_disable``; setting that to the function itself skips the import.
    This is the whole process's, so only the ``aekit`` command does it, never the library.
    """
    if compile_unavailable() or "torch._dynamo" in sys.modules:
        return False
    from torch.nn.parallel import DistributedDataParallel

    marker = torch._compile._disable_dynamo(_quiet).__code__
    for owner in (torch.optim.Optimizer, DistributedDataParallel):
        for method in vars(owner).values():
            wrapped = getattr(method, "__wrapped__", None)
            if getattr(method, "__code__", None) is marker and wrapped is not None:
                wrapped.__dynamo_disable = wrapped
    return True


def step_optimizer(
    optimizer: torch.optim.Optimizer, closure: Callable[[], torch.Tensor] | None = None
) -> None:
    """``optimizer.step(closure)``, without the import of TorchDynamo it makes on every call.

    Why: ``Optimizer.step`` is wrapped twice, to run step hooks and to switch gradients off
    around a Dynamo graph break, and the second wrapper imports ``torch._dynamo`` to place
    that break (see :func:`defer_dynamo_import` for what the import costs). With no step hook
    registered and an optimizer that is not ``differentiable``, the innermost update run under
    ``no_grad`` is that same step; otherwise the public method is called.
    """
    update = _innermost_step(optimizer)
    if update is None:
        # torch's overloads want a closure returning a float; LBFGS's returns the loss tensor
        optimizer.step(closure)  # type: ignore[arg-type]
        return
    with torch.no_grad():
        update(optimizer, closure)


def _innermost_step(optimizer: torch.optim.Optimizer) -> Callable[..., Any] | None:
    import inspect

    from torch.optim import optimizer as module

    hooks = (
        module._global_optimizer_pre_hooks,
        module._global_optimizer_post_hooks,
        optimizer._optimizer_step_pre_hooks,
        optimizer._optimizer_step_post_hooks,
    )
    if compile_unavailable() or any(hooks) or optimizer.defaults.get("differentiable"):
        return None
    step: Callable[..., Any] = inspect.unwrap(type(optimizer).step)
    return step


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        for message in _TORCH_INTERNAL_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        yield


def export_step(step: Callable[..., tuple[torch.Tensor, ...]], inputs: list[torch.Tensor]) -> Any:
    """``step(*inputs)`` traced into one functional graph of ATen operations, exported."""
    from torch.fx.experimental.proxy_tensor import make_fx

    with _quiet():
        graph = make_fx(torch.func.functionalize(step), tracing_mode="fake")(*inputs)
        return torch.export.export(graph, tuple(inputs), strict=False)


def compile_package(program: Any, path: Path, options: dict[str, Any]) -> None:
    """AOTInductor: generate the C++ of ``program``, compile it and package it at ``path``."""
    import torch._inductor

    with _quiet():
        torch._inductor.aoti_compile_and_package(
            program, package_path=str(path), inductor_configs=options
        )


def load_package(path: Path) -> tuple[Any, dict[str, str]]:
    """A built package's runner (``runner.run(inputs)``) and its metadata. AOTInductor's C++
    loader is called directly: ``torch._inductor.aoti_load_package`` wraps the same loader
    but first imports Inductor, which a run whose package is cached never needs."""
    runner = torch._C._aoti.AOTIModelPackageLoader(str(path), "model", False, 1, -1)
    return runner, runner.get_metadata()


_OPENMP_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def run_on_openmp_threads(fn: Callable[[], Any]) -> bool:
    """Call ``fn`` once on every thread of PyTorch's OpenMP pool (from inside one parallel
    region of the GNU OpenMP runtime its Linux wheels bundle); False where there is none."""
    gomp = _openmp_runtime()
    if gomp is None:
        return False
    callback = _OPENMP_CALLBACK(lambda _data: fn())
    gomp.GOMP_parallel(callback, None, ctypes.c_uint(0), ctypes.c_uint(0))
    return True


def _openmp_runtime() -> ctypes.CDLL | None:
    """PyTorch's GNU OpenMP runtime, if this process has loaded one. Other libraries bundle
    their own copy (scikit-learn's wheels do), with threads of their own: the one in torch's
    folder is PyTorch's; a single copy elsewhere (a system-wide libgomp) is taken as its."""
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "/libgomp" in line})
    except OSError:  # not Linux
        return None
    inside_torch = [p for p in paths if Path(p).is_relative_to(Path(torch.__file__).parent)]
    chosen = inside_torch or (paths if len(paths) == 1 else [])
    for path in chosen:
        library = ctypes.CDLL(path)  # already mapped: this only looks it up
        if hasattr(library, "GOMP_parallel"):
            return library
    return None
