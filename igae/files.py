"""The project's one way to write result files, and the hashes that identify them. Plain Python (no torch).

Result files are written with :func:`atomic_write_json`, :func:`atomic_write_text` or :func:`atomic_write_bytes`
(a temporary file in the same folder, then ``os.replace``), and result folders with :func:`atomic_folder`: a reader
never sees half a file, and an interrupted job leaves no truncated output. What produced a result is
:mod:`igae.provenance`.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_UMASK = os.umask(0)
os.umask(_UMASK)  # read the process umask once: result files get the usual 0o644-style mode, not mkstemp's 0o600


def to_jsonable(value: Any) -> Any:
    """json.dumps hook: dataclasses, paths, numpy scalars and tuples/sets become plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return value.item()
    raise TypeError(f"igae: cannot store a {type(value).__name__} ({value!r}) as JSON; use plain JSON values")


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes (64 hex)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"igae: cannot hash {path}: no such file")
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
        raise FileNotFoundError(f"igae: cannot hash {folder}: no file matches {pattern!r} in it")
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.relative_to(folder).as_posix().encode("utf-8") + b"\0")
        digest.update(file_sha256(file).encode("ascii") + b"\n")
    return digest.hexdigest()


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
        text = json.dumps(obj, default=to_jsonable, indent=2, allow_nan=False) + "\n"
    except ValueError as error:
        raise ValueError(
            f"igae: {path}: the result holds NaN or infinity, which JSON cannot store ({error}); "
            "write None for a missing value"
        ) from error
    return atomic_write_text(path, text)
