"""Build stock nerfacc 0.5.2's CUDA extension with CUDA 13 (CCCL 3) and C++20, without patching nerfacc.

nerfacc JIT-compiles its CUDA sources (``torch.utils.cpp_extension.load``) the first time ``nerfacc.cuda._backend`` is
imported. Two things break that build: CCCL 3, which CUDA 13 ships, removed ``cub::Equality`` that ``scan.cu`` uses
(``namespace "cub" has no member "Equality"``), and with C++20 (torch >= 2.12's default for extensions) libstdc++'s
global ``std::lerp`` clashes with the ``lerp`` of nerfacc's ``utils_math.cuh`` (``grid.cu``, ``pdf.cu``).
``nerfacc_cuda13.cuh`` works around both, and is a no-op where they do not arise. nvcc reads extra options from
``NVCC_PREPEND_FLAGS`` (CUDA >= 11.5): :func:`load_nerfacc_cuda` pre-includes the header (and puts nerfacc's
``csrc/include`` on the include path) in every nvcc call of that build, and sets the variable back afterwards.

A build that failed (e.g. without this header) needs no clearing: the next process retries it in
``~/.cache/torch_extensions/py3XX_cu130/nerfacc_cuda`` (or under ``$TORCH_EXTENSIONS_DIR``) and ninja compiles only
the objects that are missing. A build that was killed (not one that failed) can leave a ``lock`` file there, on which
torch versions with a file baton lock (2.14.1 has an OS lock instead) wait forever: delete that file.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HEADER = Path(__file__).resolve().with_name("nerfacc_cuda13.cuh")
"""The compatibility header pre-included into nerfacc's CUDA sources."""

ENV = "NVCC_PREPEND_FLAGS"


def nerfacc_include_dir() -> Path:
    """nerfacc's ``cuda/csrc/include`` folder (its ``utils_math.cuh``), found without importing nerfacc."""
    spec = importlib.util.find_spec("nerfacc")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("nerfacc is not installed")
    return Path(next(iter(spec.submodule_search_locations))).resolve() / "cuda" / "csrc" / "include"


def with_compat_flags(flags: str | None) -> str:
    """``flags`` (nvcc options, possibly empty) with ``-include HEADER -I <nerfacc include>`` in front, once."""
    include = f"-include {HEADER}"
    flags = (flags or "").strip()
    if include in flags:
        return flags
    include_dir = nerfacc_include_dir()
    if any(c.isspace() for c in f"{HEADER}{include_dir}"):
        raise RuntimeError(f"nvcc splits {ENV} on whitespace: {HEADER} and {include_dir} must have none")
    return f"{include} -I {include_dir} {flags}".strip()


@contextmanager
def compat_nvcc_flags() -> Iterator[str]:
    """Within the block, nvcc (run by this process or its children) pre-includes :data:`HEADER`; yields the flags."""
    before = os.environ.get(ENV)
    os.environ[ENV] = with_compat_flags(before)
    try:
        yield os.environ[ENV]
    finally:
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before


def load_nerfacc_cuda():
    """Import nerfacc's CUDA extension, JIT-building it on first use with the CUDA 13 header; return the module."""
    with compat_nvcc_flags():
        from nerfacc.cuda._backend import _C
    if _C is None:
        raise RuntimeError(
            "nerfacc found no CUDA toolkit (no nvcc on PATH), so it cannot build its CUDA extension, which instant-ngp "
            "needs: put the CUDA toolkit's bin/ on PATH (e.g. /usr/local/cuda/bin)"
        )
    return _C
