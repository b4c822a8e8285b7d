"""Every call into interfaces that PyTorch (or its OpenMP runtime) does not promise to keep.

Two speed-ups need them (their gains: benchmarks/RESULTS.md): ``--compile`` traces, exports
and builds the training step with AOTInductor and loads the built package through its C++
loader; flushing subnormal floats reaches PyTorch's OpenMP worker threads through the
runtime's ``GOMP_parallel`` entry point; and whether the CPU has native bf16 comes from
torch's private CPU probes (``cpu_has_native_bf16``). Nothing else in aekit touches such an
interface.

The compile path is only taken on the torch versions it was tested with,
:data:`TESTED_TORCH` (pyproject.toml's ``[tool.aekit] tested-torch`` says the same, and a
test keeps the two equal). On any other version :func:`compile_unavailable` says why, and the
trainer trains eagerly with one line to the user instead of failing on a changed internal.
"""

from __future__ import annotations

import contextlib
import ctypes
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from packaging.specifiers import SpecifierSet

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
    return any(probe() for probe in probes)


_BF16_PROBES = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")


def torch_version() -> str:
    return str(torch.__version__)


def compile_unavailable() -> str | None:
    """Why ``--compile`` cannot be used with this torch, or None when it can."""
    version = torch_version()
    if SpecifierSet(TESTED_TORCH).contains(version):
        return None
    return f"--compile is tested with torch {TESTED_TORCH}, and this is torch {version}"


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
