"""Build stock nerfacc's CUDA extension with CUDA 13 on this machine (no GPU needed), without and with igae's hook.

    .venv/bin/python benchmarks/nerfacc_cuda13_build.py                # without the hook (fails), then with it
    .venv/bin/python benchmarks/nerfacc_cuda13_build.py --only hook --fresh

NVIDIA's CUDA 13.0 compiler and headers (nvcc, cicc, CCCL 3, crt, cudart: ~270 MB) are pip-installed once into
``$IGAE_CUDA13_HOME`` (default ``~/.cache/igae/cuda13-13.0``); the headers of cuBLAS/cuRAND/cuSPARSE/cuSOLVER that ATen
includes come from torch's own CUDA wheels in this venv (``nvidia/cu13/include``, passed as ``CUDA_INC_PATH``).
Each build runs nerfacc's own JIT path (``import nerfacc.cuda._backend`` -> ``torch.utils.cpp_extension.load``) in a
new process, for sm_90 (``TORCH_CUDA_ARCH_LIST=9.0``: without a GPU torch cannot pick the arch), then imports the built
module. A failed build then goes on with the other sources (``ninja -k 0`` on torch's build.ninja; ``--stop`` does
not), to list all errors. By default the hook build reuses the failed build's folder, as a second run on a GPU
machine would (no clearing needed); ``--fresh`` gives each build a new folder (a full build's time).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CUDA = "13.0"
"""The CUDA release to build with: the one torch 2.14.1+cu130 (and the GPU machine's /usr/local/cuda) has."""

WHEELS = ("nvidia-cuda-nvcc", "nvidia-cuda-cccl", "nvidia-cuda-crt", "nvidia-cuda-runtime", "nvidia-nvvm")
"""NVIDIA's CUDA 13 wheels that make a toolkit nvcc can compile with (they install into ``nvidia/cu13/``)."""

ARCH = "9.0"
"""sm_90 (H100/H200); CUDA 13's nvcc only knows compute capabilities >= 7.5."""

NO_HOOK = "import nerfacc.cuda._backend as b; assert b._C is not None, 'no nvcc'; C = b._C"
HOOK = "from igae.nerf.components.nerfacc_cuda13 import load_nerfacc_cuda; C = load_nerfacc_cuda()"
CHECK = "; assert hasattr(C, 'exclusive_sum_by_key'); print('BUILT', C.__file__)"


class ToolkitUnavailable(RuntimeError):
    """The CUDA 13 wheels cannot be installed here (no index, no network) or a piece of the build is missing."""


@dataclass
class Build:
    ok: bool
    seconds: float
    errors: list[str]
    log: str


def cache_dir() -> Path:
    """Where the CUDA 13 wheels are installed: ``$IGAE_CUDA13_HOME`` or ``~/.cache/igae/cuda13-13.0``."""
    return Path(os.environ.get("IGAE_CUDA13_HOME") or Path.home() / ".cache" / "igae" / f"cuda13-{CUDA}")


TOOLKIT_FILES = ("bin/nvcc", "nvvm/bin/cicc", "include/cccl/cub/version.cuh", "include/crt/host_config.h")


def _complete(home: Path) -> bool:
    return all((home / f).exists() for f in (*TOOLKIT_FILES, "lib/libcudart.so"))


def cuda13_home(cache: Path | None = None) -> Path:
    """A CUDA 13.0 toolkit from NVIDIA's wheels (installed into ``cache`` when missing); returns its CUDA_HOME."""
    cache = cache or cache_dir()
    home = cache / "nvidia" / "cu13"
    if _complete(home):
        return home
    partial = cache.with_name(cache.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    # One pip call: pip --target does not merge a second install into an existing nvidia/ folder.
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(partial)]
    done = subprocess.run(cmd + [f"{w}=={CUDA}.*" for w in WHEELS], capture_output=True, text=True)
    if done.returncode:
        shutil.rmtree(partial, ignore_errors=True)
        tail = "\n".join(done.stderr.strip().splitlines()[-3:])
        raise ToolkitUnavailable(f"cannot pip-install NVIDIA's CUDA {CUDA} wheels ({', '.join(WHEELS)}): {tail}")
    # torch links -lcudart; the wheel ships only the versioned library.
    (partial / "nvidia" / "cu13" / "lib" / "libcudart.so").symlink_to("libcudart.so.13")
    shutil.rmtree(cache, ignore_errors=True)
    partial.rename(cache)
    if not _complete(home):
        raise ToolkitUnavailable(f"{home}: the CUDA {CUDA} wheels did not give a complete toolkit")
    return home


def torch_cuda_headers() -> Path:
    """The CUDA library headers (cuBLAS, cuRAND, ...) of torch's CUDA 13 wheels, which ATen's CUDA headers include."""
    import nvidia  # torch's CUDA wheels' namespace package

    for root in nvidia.__path__:
        include = Path(root) / "cu13" / "include"
        if (include / "cublas_v2.h").exists() and (include / "curand_kernel.h").exists():
            return include
    raise ToolkitUnavailable("no nvidia/cu13/include with cublas_v2.h in this environment (torch is not a cu13 build)")


def require_host_compiler() -> None:
    """nvcc and torch need a host C++ compiler (``c++``)."""
    if shutil.which("c++") is None:
        raise ToolkitUnavailable("no host C++ compiler (c++) on PATH: apt-get install build-essential")


def build(
    hook: bool, home: Path, extensions_dir: Path, jobs: int = 2, keep_going: bool = False, timeout: float = 3600
) -> Build:
    """Build nerfacc's extension in a new process through nerfacc's own JIT path, with or without the hook.

    torch's ninja run stops at the first failed source; ``keep_going`` then compiles the other sources with the same
    build.ninja (``ninja -k 0``), so that ``errors`` lists the errors of all of them.
    """
    require_host_compiler()
    env = {k: v for k, v in os.environ.items() if k not in ("NVCC_PREPEND_FLAGS", "NVCC_APPEND_FLAGS", "CUDA_PATH")}
    env.update(
        CUDA_HOME=str(home),
        PATH=f"{home / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        CUDA_INC_PATH=str(torch_cuda_headers()),
        TORCH_CUDA_ARCH_LIST=ARCH,
        TORCH_EXTENSIONS_DIR=str(extensions_dir),
        MAX_JOBS=str(jobs),
    )
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", (HOOK if hook else NO_HOOK) + CHECK],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    log = done.stdout + done.stderr
    ninja_file = extensions_dir / "nerfacc_cuda" / "build.ninja"
    if done.returncode and keep_going and ninja_file.exists():
        rest = subprocess.run(
            ["ninja", "-k", "0", "-j", str(jobs), "-C", str(ninja_file.parent)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        log += rest.stdout + rest.stderr
    seconds = time.perf_counter() - start
    errors = list(dict.fromkeys(line.strip() for line in log.splitlines() if re.search(r"\berror\b", line)))
    ok = done.returncode == 0 and "BUILT" in done.stdout
    return Build(ok=ok, seconds=seconds, errors=errors, log=log)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("nohook", "hook"), help="run one of the two builds")
    parser.add_argument("--fresh", action="store_true", help="a new extensions folder for each build")
    parser.add_argument("--jobs", type=int, default=2, help="parallel compiles (MAX_JOBS; default 2)")
    parser.add_argument("--keep", action="store_true", help="keep the build folders (printed)")
    parser.add_argument("--stop", action="store_true", help="stop at the first failed source, as torch does")
    args = parser.parse_args()
    try:
        start = time.perf_counter()
        require_host_compiler()
        home = cuda13_home()
        print(f"toolkit: {home} ({time.perf_counter() - start:.0f} s to install or find)")
    except ToolkitUnavailable as error:
        print(f"SKIPPED: {error}")
        return 2
    root = Path(tempfile.mkdtemp(prefix="nerfacc_cuda13_"))
    expected = {"nohook": False, "hook": True}
    failures = 0
    for name in [args.only] if args.only else ["nohook", "hook"]:
        extensions_dir = root / name if args.fresh else root / "shared"
        result = build(name == "hook", home, extensions_dir, jobs=args.jobs, keep_going=not args.stop)
        verdict = "as expected" if result.ok == expected[name] else "UNEXPECTED"
        failures += result.ok != expected[name]
        print(f"{name}: {'built' if result.ok else 'FAILED'} in {result.seconds:.0f} s ({verdict})")
        for line in result.errors:
            print(f"  {line}")
        if result.ok != expected[name]:
            print(result.log[-4000:])
    if args.keep:
        print(f"build folders: {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
