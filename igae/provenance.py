"""Provenance of every result: what produced it.

Every result JSON carries ``"provenance": provenance(config, ae_sha256)``::

    {
      "config_hash": "3f2a9c0d81b4",          # sha256 of the canonical JSON of the config that made it, 12 hex
      "ae_sha256": "9d1e...",                 # folder_sha256 of the autoencoder's weights (null for RGB runs)
      "versions": "python=3.11.9;torch=2.14.1;torchvision=0.29.1;nerfstudio=1.1.5;...",
      "packages": {"python": "3.11.9", "torch": "2.14.1", ...},
      "device": "cpu (x86_64, 2 threads)" | "cuda:0 (NVIDIA H100 80GB HBM3)",
      "timestamp": "2026-11-25T13:40:12+00:00"
    }

Result files are written through :mod:`igae.files` (atomic writes, hashes).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
import re
from datetime import UTC, datetime
from typing import Any

import torch

from igae.files import to_jsonable

TRACKED_PACKAGES = ("torch", "torchvision", "nerfstudio", "diffusers", "numpy", "snakemake")
"""Packages whose versions are recorded (when installed), after python and before igae."""


def canonical_json(obj: Any) -> str:
    """Key-sorted, whitespace-free JSON of ``obj``: equal configs give equal strings."""
    return json.dumps(
        obj, default=to_jsonable, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def config_hash(obj: Any) -> str:
    """First 12 hex digits of the sha256 of the canonical JSON of ``obj`` (a dict or dataclass config)."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()[:12]


def package_versions() -> dict[str, str]:
    """Versions of python, the tracked packages that are installed, and igae."""
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    import igae

    versions["igae"] = getattr(igae, "__version__", "unknown")
    return versions


def versions_string(versions: dict[str, str]) -> str:
    """{"torch": "2.14.1", "numpy": "1.26.4"} -> "torch=2.14.1;numpy=1.26.4" (one CSV cell)."""
    return ";".join(f"{name}={version}" for name, version in versions.items())


def describe_device(device: torch.device | str | None = None) -> str:
    """'cuda:0 (NVIDIA H100 80GB HBM3)' or 'cpu (x86_64, 2 threads)'; None means CUDA if available, else CPU."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return f"{device.type} ({platform.machine()}, {torch.get_num_threads()} threads)"


def host_description() -> dict[str, str]:
    """The CPU model and the kernel path PyTorch's CPU operators take (``ATEN_CPU_CAPABILITY``: default, avx2,
    avx512, ...): on the same machine and path float32 results are bit-identical, across them they are not."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), model)
    except OSError:
        pass
    clean = lambda text: re.sub(r"[;=]", " ", text)  # noqa: E731  (the versions string's separators)
    return {"cpu": clean(model), "aten_cpu": clean(torch.backends.cpu.get_cpu_capability())}


def provenance(config: Any, ae_sha256: str | None = None, device: torch.device | str | None = None) -> dict[str, Any]:
    """What produced a result: config hash, AE weights hash, package versions with the host's CPU and kernel path
    (:func:`host_description`, in the versions string too, so every table row carries them), device and UTC time."""
    packages = package_versions()
    host = host_description()
    return {
        "config_hash": config_hash(config),
        "ae_sha256": ae_sha256,
        "versions": versions_string({**packages, **host}),
        "packages": packages,
        "host": host,
        "device": describe_device(device),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }
