"""Resumable, verified downloads of single files from a Hugging Face dataset repository (the authors' release,
``k-kassab/igae-data``).

What it guarantees, per file:
- only the files asked for are fetched (never a clone of the ~45 GB repository);
- ``{out_dir}/{path}`` only ever holds a verified file: the bytes go to ``{out_dir}/.igae-partial/{path}.<tag>.part``,
  are checked (size, then the caller's sha256, or else the content hash the Hub sends as ETag), then moved into place
  with ``os.replace``;
- an interrupted transfer resumes where it stopped, within the call (``retries``) and in a later call (an HTTP Range
  request from the size of the ``.part`` file). ``<tag>`` is derived from the remote ETag, so a partial file of an older
  version of the file is never extended;
- a failure raises :class:`DownloadError` quickly (one HEAD request without retry, bounded timeouts), naming the
  repository, the file and the endpoint, and saying what to do.

Why not ``hf_hub_download``: in the installed huggingface_hub (2.4) a failed transfer's temporary file has a
process-unique name and is deleted on failure, so the next call starts from zero; without a local copy it retries a
failed HEAD with a 60 s timeout and exponential back-off; and it puts the file at its final path before we can verify
it. huggingface_hub still provides the resolve URL (``endpoint`` or ``HF_ENDPOINT``), the auth headers, the HEAD
metadata call (ETag, X-Repo-Commit, X-Linked-Size, the CDN redirect), the error classes and the HTTP client (proxies,
``HF_HUB_OFFLINE``).

Calls that share an ``out_dir`` take turns (a file lock), so two jobs never append to the same ``.part`` file.
"""

from __future__ import annotations

import fcntl
import fnmatch
import glob
import hashlib
import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

try:  # huggingface_hub >= 2 runs on httpx2, 1.x on httpx; both have the same API
    import httpx2 as httpx
except ImportError:  # pragma: no cover
    import httpx

log = logging.getLogger(__name__)

PARTIAL_DIR = ".igae-partial"
LOCK_NAME = ".igae-download.lock"
"""Lock file in ``out_dir``: one download call at a time per cache folder, across processes."""
"""Folder under ``out_dir`` holding the partial downloads (same filesystem, so ``os.replace`` is atomic)."""
OFFLINE_HINT = (
    "Offline? Put a copy of the repository's files in a local folder and set the config entry's `path` to it "
    "(scenes.<name>.path or real_images.path; a filled download cache, resources/downloads/<repo>, works too)"
)
"""What a user without network can do instead; ends every network-related message."""
CHUNK = 1 << 20
"""Bytes per read when hashing."""
RETRY_PAUSE_S = 0.5
"""Pause before resuming an interrupted transfer within one call."""
MAX_TREE_PAGES = 10_000
"""Bound on the pages of one listing (the Hub serves 1000 entries a page)."""

_SHA256 = re.compile(r"[0-9a-f]{64}")
_GIT_SHA1 = re.compile(r"[0-9a-f]{40}")


class DownloadError(RuntimeError):
    """A release file could not be downloaded or verified; the message says which, from where, and what to do."""


@dataclass(frozen=True)
class ReleaseFile:
    """One file of a release, as the caller pins it."""

    path: str
    """Path inside the repository, POSIX and relative, e.g. ``train/objaverse/dataset_map.json``."""
    sha256: str | None = None
    """Expected SHA-256 of the content (hex). None: check the content against the Hub's hash (its ETag) instead."""
    size: int | None = None
    """Expected size in bytes. None: the size the Hub reports."""

    def __post_init__(self):
        parts = PurePosixPath(self.path).parts
        if not self.path or self.path.startswith("/") or "\\" in self.path or ".." in parts:
            raise ValueError(f"igae: ReleaseFile path {self.path!r} must be a relative POSIX path without '..'")
        if self.sha256 is not None and not _SHA256.fullmatch(self.sha256.lower()):
            raise ValueError(f"igae: ReleaseFile {self.path}: sha256 {self.sha256!r} is not 64 hex digits")


def resolve_endpoint(endpoint: str | None = None) -> str:
    """The Hub a call asks: ``endpoint``, else ``HF_ENDPOINT`` (read now, not at import), else huggingface.co."""
    return (endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def _failure(repo_id: str, path: str, endpoint: str, what: str, action: str = "download") -> DownloadError:
    return DownloadError(f"igae: cannot {action} {path} of dataset repository {repo_id} from {endpoint}: {what}")


def _translate(
    error: BaseException, repo_id: str, path: str, endpoint: str, revision: str, timeout: float, action="download"
) -> DownloadError:
    """A DownloadError for an exception raised by huggingface_hub or the HTTP client."""
    if isinstance(error, DownloadError):
        return error
    if isinstance(error, OfflineModeIsEnabled):
        what = f"HF_HUB_OFFLINE is set, so no request leaves this machine. {OFFLINE_HINT}"
    elif isinstance(error, GatedRepoError):
        what = "the repository is gated: accept its terms on the Hub, then log in (hf auth login)"
    elif isinstance(error, RepositoryNotFoundError):
        what = (
            f"there is no dataset repository {repo_id!r} at {endpoint} (wrong id, or private). Check the repository "
            f"id and the endpoint. {OFFLINE_HINT}"
        )
    elif isinstance(error, RevisionNotFoundError):
        what = f"revision {revision!r} does not exist in {repo_id}; use a branch, tag or commit of that repository"
    elif isinstance(error, EntryNotFoundError):
        what = f"{path!r} is not in {repo_id} at revision {revision!r}; check the path (list_release lists the files)"
    elif isinstance(error, HfHubHTTPError):
        status = getattr(getattr(error, "response", None), "status_code", "?")
        what = f"HTTP {status} ({str(error).strip().splitlines()[0] if str(error).strip() else 'no message'})"
    elif isinstance(error, httpx.TimeoutException):
        what = f"no answer within {timeout:g} s ({type(error).__name__}). {OFFLINE_HINT}"
    elif isinstance(error, (httpx.TransportError, ConnectionError)):
        what = f"cannot reach the server ({type(error).__name__}: {error}). {OFFLINE_HINT}"
    elif isinstance(error, HFValidationError):
        what = f"{repo_id!r} is not a valid repository id ({error})"
    else:
        what = f"{type(error).__name__}: {error}"
    return _failure(repo_id, path, endpoint, what, action)


def _digests(path: Path) -> tuple[str, str]:
    """(sha256, git blob sha1) of a file in one pass: the Hub's ETag is one or the other (LFS or plain git file)."""
    sha256, sha1 = hashlib.sha256(), hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK):
            sha256.update(chunk)
            sha1.update(chunk)
    return sha256.hexdigest(), sha1.hexdigest()


def _is_already_there(final: Path, file: ReleaseFile) -> bool:
    """Whether ``final`` matches the pins; a file there without pins was verified when it was written."""
    if file.size is not None and final.stat().st_size != file.size:
        return False
    return file.sha256 is None or _digests(final)[0] == file.sha256.lower()


def _prune_empty(directory: Path, root: Path) -> None:
    """Remove ``directory`` and its parents up to ``root`` included, as long as they are empty."""
    while directory == root or root in directory.parents:
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent


class _Restart(Exception):
    """The server refused to resume (HTTP 416); the partial file was deleted and the transfer starts over."""


def _content_range_start(response) -> int | None:
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def _fetch(url: str, part: Path, size: int | None, headers: dict, timeout: float) -> None:
    """Bring ``part`` to the whole file, resuming from its current length; raises httpx errors when cut off."""
    have = part.stat().st_size if part.is_file() else 0
    if size is not None and have > size:  # longer than the file: not a prefix of it
        part.unlink()
        have = 0
    if size is not None and have == size:
        return
    request_headers = {**headers, "Accept-Encoding": "identity"}  # raw bytes, so Range offsets are file offsets
    if have:
        request_headers["Range"] = f"bytes={have}-"
    with get_session().stream(
        "GET", url, headers=request_headers, timeout=httpx.Timeout(timeout), follow_redirects=True
    ) as response:
        if response.status_code == 416:
            part.unlink(missing_ok=True)
            raise _Restart(f"the server refused to resume at byte {have} (HTTP 416)")
        if response.status_code >= 400:
            response.read()
            hf_raise_for_status(response)
        # 206 from where we stopped: append; 200 (the server ignored Range): the whole file again
        resumed = response.status_code == 206 and _content_range_start(response) == have
        part.parent.mkdir(parents=True, exist_ok=True)
        with open(part, "ab" if resumed else "wb") as sink:
            for chunk in response.iter_bytes():  # as received: a chunk buffered by the client is lost when cut off
                sink.write(chunk)


def _verify(part: Path, file: ReleaseFile, size: int | None, etag: str | None, fail) -> None:
    """Check a finished ``part``; on a mismatch delete it and raise."""
    got = part.stat().st_size
    if size is not None and got != size:
        part.unlink()
        raise fail(f"received {got} bytes, expected {size}; the partial file was deleted, run again")
    sha256, git_sha1 = _digests(part)
    if file.sha256 is not None:
        if sha256 != file.sha256.lower():
            part.unlink()
            raise fail(
                f"checksum mismatch: expected sha256 {file.sha256.lower()}, got {sha256}; the bad file was deleted. "
                "If the release changed on purpose, update the pinned sha256, or pin revision= to a commit"
            )
        return
    etag = (etag or "").lower()
    expected = sha256 if _SHA256.fullmatch(etag) else git_sha1 if _GIT_SHA1.fullmatch(etag) else None
    if expected is not None and expected != etag:
        part.unlink()
        raise fail(
            f"the content does not match the Hub's content hash {etag} (ETag) (got {expected}): a corrupted "
            "transfer. The bad file was deleted; run again"
        )


def _download_one(
    repo_id: str, file: ReleaseFile, out_dir: Path, endpoint: str, revision: str, timeout: float, retries: int
) -> Path:
    final = out_dir / file.path
    if final.is_file() and _is_already_there(final, file):
        return final

    def fail(what: str) -> DownloadError:
        return _failure(repo_id, file.path, endpoint, what)

    # Metadata: one HEAD, no retry (fail fast when the network is down)
    try:
        url = hf_hub_url(repo_id, file.path, repo_type="dataset", revision=revision, endpoint=endpoint)
        metadata = get_hf_file_metadata(url, timeout=timeout, endpoint=endpoint, retry_on_errors=False)
    except Exception as error:
        raise _translate(error, repo_id, file.path, endpoint, revision, timeout) from error
    if file.size is not None and metadata.size is not None and metadata.size != file.size:
        raise fail(
            f"the Hub reports {metadata.size} bytes at revision {revision!r}, the pinned size is {file.size}: the "
            "release changed or the pin is wrong. Pin revision= to the commit the pins came from"
        )
    size = file.size if file.size is not None else metadata.size
    headers = build_hf_headers()
    if metadata.location != url and not metadata.location.startswith(endpoint + "/"):
        headers.pop("authorization", None)  # a signed CDN URL: the token stays on the Hub

    tag = hashlib.sha1((metadata.etag or "no-etag").encode()).hexdigest()[:12]
    part = out_dir / PARTIAL_DIR / f"{file.path}.{tag}.part"
    part.parent.mkdir(parents=True, exist_ok=True)
    for stale in part.parent.glob(glob.escape(final.name) + ".*.part"):
        if stale != part:  # a partial file of another version of this file
            stale.unlink(missing_ok=True)

    for attempt in range(retries + 1):
        try:
            _fetch(metadata.location, part, size, headers, timeout)
            break
        except (httpx.TransportError, _Restart) as error:
            have = part.stat().st_size if part.is_file() else 0
            if attempt == retries:
                raise fail(
                    f"the transfer was interrupted ({type(error).__name__}: {error}) after {attempt + 1} attempt(s); "
                    f"{have} of {size if size is not None else '?'} bytes are kept in {part}: run again to resume. "
                    f"{OFFLINE_HINT}"
                ) from error
            log.warning("%s: %s; resuming from byte %d", file.path, error, have)
            time.sleep(RETRY_PAUSE_S)
        except Exception as error:
            raise _translate(error, repo_id, file.path, endpoint, revision, timeout) from error

    try:
        _verify(part, file, size, metadata.etag, fail)
    except DownloadError:
        _prune_empty(part.parent, out_dir / PARTIAL_DIR)
        raise
    with open(part, "rb") as written:
        os.fsync(written.fileno())
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(part, final)
    _prune_empty(part.parent, out_dir / PARTIAL_DIR)
    log.info("%s: downloaded from %s@%s (commit %s)", file.path, repo_id, revision, metadata.commit_hash)
    return final


def download_release(
    repo_id: str,
    files: list[ReleaseFile],
    out_dir: str | Path,
    endpoint: str | None = None,
    revision: str = "main",
    timeout: float = 10.0,
    retries: int = 2,
) -> list[Path]:
    """Download ``files`` of the dataset repository ``repo_id`` to ``{out_dir}/{file.path}``; return those paths.

    A file already at its final path and matching its pins is kept without any request. Otherwise one HEAD request
    (no retry) gets its metadata, then the bytes are fetched into a ``.part`` file, resumed after an interruption up
    to ``retries`` times in this call (and from where it stopped in a later call), verified, and moved into place.

    Args:
        repo_id: the dataset repository, e.g. ``k-kassab/igae-data``.
        files: the files to fetch, with their pins.
        out_dir: the local copy of the release; files keep their repository paths below it.
        endpoint: the Hub (or a mirror) to ask; default ``HF_ENDPOINT``, else https://huggingface.co.
        revision: branch, tag or commit; pin a commit for reproducible downloads.
        timeout: seconds to connect, and to wait for each read, before giving up.
        retries: resumptions of an interrupted transfer within this call; a failed HEAD is never retried.

    Raises:
        DownloadError: network down or server unreachable, unknown repository, revision or file, size or checksum
            mismatch (the bad file is deleted), or a transfer still interrupted after the retries (the partial file
            is kept, and the next call resumes it).
    """
    if retries < 0 or not timeout > 0:
        raise ValueError(f"igae: download_release: retries = {retries} must be >= 0, timeout = {timeout} must be > 0")
    out_dir = Path(out_dir)
    endpoint = resolve_endpoint(endpoint)
    with cache_lock(out_dir):  # two jobs sharing a cache (scenes and real images) take turns
        return [_download_one(repo_id, file, out_dir, endpoint, revision, timeout, retries) for file in files]


@contextmanager
def cache_lock(out_dir: str | Path) -> Iterator[Path]:
    """Hold the lock of the cache folder ``out_dir`` (created) for the block: one writer at a time, across processes.

    :func:`download_release` takes it; so does whatever else writes into a download cache (the members extracted from
    a release archive). Not re-entrant: do not call :func:`download_release` on the same folder inside the block.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / LOCK_NAME, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield out_dir


def list_release_files(
    repo_id: str, pattern: str, endpoint: str | None = None, revision: str = "main", timeout: float = 10.0
) -> list[ReleaseFile]:
    """The files of ``repo_id`` whose path matches ``pattern``, pinned with the sizes and LFS sha256 the Hub lists.

    ``pattern`` is matched with :func:`fnmatch.fnmatchcase` on the whole path (``*`` also crosses ``/``), e.g.
    ``train/objaverse/square128/*/transforms_opencv.json``. Only the folder before the first wildcard is listed (the
    Hub's tree API, one request per 1000 entries, no retry). Files kept in plain git (not LFS) get ``sha256=None``:
    :func:`download_release` then checks them against their git hash. A folder that does not exist gives [].
    """
    magic = re.search(r"[*?\[]", pattern)
    literal = pattern if magic is None else pattern[: magic.start()]
    prefix = literal.rsplit("/", 1)[0] if "/" in literal else ""
    return [
        _release_file(entry)
        for entry in _tree_entries(repo_id, prefix, bool(magic), pattern, endpoint, revision, timeout)
        if entry.get("type") == "file" and fnmatch.fnmatchcase(entry["path"], pattern)
    ]


def list_release_top(
    repo_id: str, endpoint: str | None = None, revision: str = "main", timeout: float = 10.0
) -> tuple[dict[str, ReleaseFile], list[str]]:
    """The top level of ``repo_id`` at ``revision``: its files ({name: pinned file}) and its folders' names.

    One listing request (not recursive), so it tells cheaply what a revision holds (a file tree, or one archive).
    """
    files, folders = {}, []
    for entry in _tree_entries(repo_id, "", False, "the top level", endpoint, revision, timeout):
        if entry.get("type") == "file":
            files[entry["path"]] = _release_file(entry)
        elif entry.get("type") == "directory":
            folders.append(entry["path"])
    return files, folders


def _release_file(entry: dict) -> ReleaseFile:
    """The pinned file of one entry of the Hub's tree API (LFS files: their sha256; plain git files: none)."""
    lfs = entry.get("lfs") or {}
    return ReleaseFile(entry["path"], lfs.get("oid"), entry.get("size"))


def _tree_entries(
    repo_id: str, folder: str, recursive: bool, what: str, endpoint: str | None, revision: str, timeout: float
) -> list[dict]:
    """The Hub's tree API entries under ``folder`` (every page); [] when the folder does not exist. ``what`` names
    the listing in errors (DownloadError, no retry)."""
    endpoint = resolve_endpoint(endpoint)
    url = f"{endpoint}/api/datasets/{repo_id}/tree/{quote(revision, safe='')}"
    if folder:
        url += "/" + quote(folder, safe="")
    params: dict | None = {"recursive": "true" if recursive else "false", "expand": "false"}
    headers = build_hf_headers()
    found = []
    try:
        for _ in range(MAX_TREE_PAGES):
            response = get_session().get(
                url, params=params, headers=headers, timeout=httpx.Timeout(timeout), follow_redirects=True
            )
            try:
                hf_raise_for_status(response)
            except EntryNotFoundError:
                return []
            found.extend(response.json())
            next_url = response.links.get("next", {}).get("url")
            if not next_url:
                return found
            url, params = next_url, None  # the next link carries its own query
    except Exception as error:
        raise _translate(error, repo_id, what, endpoint, revision, timeout, "list") from error
    raise _failure(repo_id, what, endpoint, f"more than {MAX_TREE_PAGES} pages; narrow the pattern", "list")


def list_release(repo_id: str, pattern: str, endpoint: str | None = None, revision: str = "main") -> list[str]:
    """Paths of the files of ``repo_id`` that match ``pattern`` (see :func:`list_release_files`)."""
    return [file.path for file in list_release_files(repo_id, pattern, endpoint=endpoint, revision=revision)]
