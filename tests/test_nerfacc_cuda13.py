"""nerfacc's CUDA extension on CUDA 13: the NVCC_PREPEND_FLAGS hook, and a real build with NVIDIA's CUDA 13 wheels."""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from pathlib import Path

import pytest

from igae.nerf.components import nerfacc_cuda13
from igae.nerf.components.nerfacc_cuda13 import (
    ENV,
    HEADER,
    compat_nvcc_flags,
    load_nerfacc_cuda,
    nerfacc_include_dir,
    with_compat_flags,
)

INCLUDE = f"-include {HEADER} -I {nerfacc_include_dir()}"
BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "nerfacc_cuda13_build.py"


def test_compat_flags_keep_flags_and_are_idempotent():
    assert HEADER.is_file() and HEADER.is_absolute()
    assert (nerfacc_include_dir() / "utils_math.cuh").is_file()  # the header includes it (renaming its lerp)
    assert with_compat_flags(None) == with_compat_flags("") == INCLUDE
    flags = with_compat_flags("-lineinfo -Xptxas -v")
    assert flags == f"{INCLUDE} -lineinfo -Xptxas -v"
    assert with_compat_flags(flags) == flags


@pytest.mark.parametrize("before", [None, "-lineinfo"])
def test_compat_nvcc_flags_sets_the_variable_in_the_block_only(monkeypatch, before):
    if before is None:
        monkeypatch.delenv(ENV, raising=False)
    else:
        monkeypatch.setenv(ENV, before)
    with compat_nvcc_flags():
        assert os.environ[ENV] == with_compat_flags(before)
        with compat_nvcc_flags():  # nested: still one -include
            assert os.environ[ENV].count("-include") == 1
    assert os.environ.get(ENV) == before


def fake_backend(monkeypatch, extension):
    """A stand-in ``nerfacc.cuda._backend`` whose ``_C`` records NVCC_PREPEND_FLAGS at the time it is imported."""
    seen = []
    backend = types.ModuleType("nerfacc.cuda._backend")

    def build(name):
        if name != "_C":
            raise AttributeError(name)
        seen.append(os.environ.get(ENV))
        return extension

    backend.__getattr__ = build
    monkeypatch.setitem(sys.modules, "nerfacc.cuda._backend", backend)
    return seen


def test_load_nerfacc_cuda_builds_with_the_header(monkeypatch):
    monkeypatch.setenv(ENV, "-lineinfo")
    extension = types.SimpleNamespace()
    seen = fake_backend(monkeypatch, extension)
    assert load_nerfacc_cuda() is extension
    assert seen == [f"{INCLUDE} -lineinfo"]
    assert os.environ[ENV] == "-lineinfo"


def test_load_nerfacc_cuda_says_when_nvcc_is_missing(monkeypatch):
    fake_backend(monkeypatch, None)  # nerfacc sets _C = None when it finds no nvcc
    with pytest.raises(RuntimeError, match="no CUDA toolkit"):
        load_nerfacc_cuda()


def test_header_parts_are_guarded():
    text = nerfacc_cuda13.HEADER.read_text()
    assert "#if CUB_VERSION >= 300000" in text and "using Equality = ::cuda::std::equal_to<>;" in text
    assert '#if __cplusplus >= 202002L && __has_include("utils_math.cuh")' in text


@pytest.mark.slow
def test_nerfacc_builds_with_cuda13_only_with_the_hook(tmp_path, monkeypatch):
    """Downloads NVIDIA's CUDA 13.0 wheels once (~270 MB, cached) and compiles nerfacc for sm_90 twice (~15 min)."""
    spec = importlib.util.spec_from_file_location("nerfacc_cuda13_build", BENCHMARK)
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, bench)  # its dataclass looks its module up there
    spec.loader.exec_module(bench)
    try:
        bench.require_host_compiler()
        home = bench.cuda13_home()
        bench.torch_cuda_headers()
    except bench.ToolkitUnavailable as error:
        pytest.skip(str(error))
    # The second build reuses the failed one's folder, as a second run on a GPU machine would.
    without = bench.build(hook=False, home=home, extensions_dir=tmp_path, keep_going=True)
    assert not without.ok
    assert any('namespace "cub" has no member "Equality"' in line for line in without.errors), without.log[-4000:]
    assert any("conflicts with a previous declaration" in line for line in without.errors), without.log[-4000:]
    with_hook = bench.build(hook=True, home=home, extensions_dir=tmp_path)
    assert with_hook.ok, with_hook.log[-4000:]
