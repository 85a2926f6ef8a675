"""Provenance of every result, and the project's one way to write result files.

Every result JSON carries ``"provenance": provenance(config, ae_sha256)``::

    {
      "config_hash": "3f2a9c0d81b4",          # sha256 of the canonical JSON of the config that made it, 12 hex
      "ae_sha256": "9d1e...",                 # folder_sha256 of the autoencoder's weights (null for RGB runs)
      "versions": "python=3.11.9;torch=2.14.1;torchvision=0.29.1;nerfstudio=1.1.5;...",
      "packages": {"python": "3.11.9", "torch": "2.14.1", ...},
      "device": "cpu (x86_64, 2 threads)" | "cuda:0 (NVIDIA H100 80GB HBM3)",
      "timestamp": "2026-11-25T13:40:12+00:00"
    }

Result files are written with :func:`atomic_write_json`, :func:`atomic_write_text` or :func:`atomic_write_bytes`
(a temporary file in the same folder, then ``os.replace``): a reader never sees half a file, and an interrupted job
leaves no truncated output.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

_UMASK = os.umask(0)
os.umask(_UMASK)  # read the process umask once: result files get the usual 0o644-style mode, not mkstemp's 0o600

TRACKED_PACKAGES = ("torch", "torchvision", "nerfstudio", "diffusers", "numpy", "snakemake")
"""Packages whose versions are recorded (when installed), after python and before igae."""


def _to_jsonable(value: Any) -> Any:
    """json.dumps hook: dataclasses, paths, numpy scalars and tuples/sets become plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return value.item()
    raise TypeError(f"igae.provenance: cannot hash a {type(value).__name__} ({value!r}); use plain JSON values")


def canonical_json(obj: Any) -> str:
    """Key-sorted, whitespace-free JSON of ``obj``: equal configs give equal strings."""
    return json.dumps(
        obj, default=_to_jsonable, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def config_hash(obj: Any) -> str:
    """First 12 hex digits of the sha256 of the canonical JSON of ``obj`` (a dict or dataclass config)."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()[:12]


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes (64 hex)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"igae.provenance: cannot hash {path}: no such file")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_sha256(path: str | os.PathLike, pattern: str = "*.safetensors") -> str:
    """sha256 over the files of a folder matching ``pattern`` (recursively): their relative paths and contents.

    Identifies an autoencoder by its weights only (config.json and card.json edits do not change it).
    """
    folder = Path(path)
    files = sorted(p for p in folder.rglob(pattern) if p.is_file())
    if not files:
        raise FileNotFoundError(f"igae.provenance: cannot hash {folder}: no file matches {pattern!r} in it")
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.relative_to(folder).as_posix().encode("utf-8") + b"\0")
        digest.update(file_sha256(file).encode("ascii") + b"\n")
    return digest.hexdigest()


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


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then os.replace). Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            os.fchmod(file.fileno(), 0o666 & ~_UMASK)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


@contextmanager
def atomic_folder(folder: str | os.PathLike) -> Iterator[Path]:
    """Build ``folder`` atomically: the block fills the empty temporary sibling it is given (``.{name}.tmp-*``).

    When the block ends normally the temporary folder replaces ``folder`` (a previous one is moved aside, then
    deleted); when it raises, the temporary folder is deleted and ``folder`` is left as it was. So a reader (or
    Snakemake) never finds a half-written folder at ``folder``. Temporaries of a killed earlier attempt (kill -9
    leaves them) are deleted when the folder is built again.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    for kind in ("tmp", "old"):  # what a killed job left behind: no other job writes this folder
        for stale in folder.parent.glob(f".{glob.escape(folder.name)}.{kind}-*"):
            shutil.rmtree(stale, ignore_errors=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    os.chmod(temporary, 0o777 & ~_UMASK)  # mkdtemp makes it private; results are shared like any folder
    try:
        yield temporary
        old = None
        if folder.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
            folder.rename(old / folder.name)
        temporary.rename(folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically. Returns the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically. NaN/inf are refused (strict JSON), naming the file."""
    try:
        text = json.dumps(obj, default=_to_jsonable, indent=2, allow_nan=False) + "\n"
    except ValueError as error:
        raise ValueError(
            f"igae.provenance: {path}: the result holds NaN or infinity, which JSON cannot store ({error}); "
            "write None for a missing value"
        ) from error
    return atomic_write_text(path, text)
