"""The release downloader against a local stand-in for the Hugging Face Hub (HEAD/GET on /datasets/{repo}/resolve/...).

The stand-in answers as the Hub answers huggingface_hub: ETag (sha256 for LFS files, git blob sha1 for plain files),
X-Repo-Commit, Content-Length, Range requests (206 + Content-Range), X-Error-Code on 404s, and the tree API.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
import pytest
from huggingface_hub import constants
from PIL import Image

from igae.sources.download import DownloadError, ReleaseFile, download_release, list_release, list_release_files

REPO = "k-kassab/igae-data"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
SCENE = "000-0a1b2c"
MAP = "train/objaverse/dataset_map.json"
TRANSFORMS = f"train/objaverse/square128/{SCENE}/transforms_opencv.json"
PNGS = [f"train/objaverse/square128/{SCENE}/rgb/{i:03d}.png" for i in range(2)]
RESOLVE = re.compile(r"/datasets/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)")
TREE = re.compile(r"/api/datasets/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)(?:/(?P<path>.+))?")


def _png(seed: int, size: int = 96) -> bytes:
    """An incompressible RGB PNG of ~28 kB, so that a cut mid-body leaves a real partial file."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _release() -> dict[str, bytes]:
    """A tiny release in the authors' layout (dataset map, one scene: OpenCV transforms + 2 views)."""
    camera = {"fl_x": 140.0, "fl_y": 140.0, "cx": 64.0, "cy": 64.0, "w": 128, "h": 128}
    frames = [{"file_path": f"rgb/{i:03d}.png", "transform_matrix": np.eye(4).tolist(), **camera} for i in range(2)]
    return {
        MAP: json.dumps({"objaverse": [SCENE]}).encode(),
        TRANSFORMS: json.dumps({"frames": frames}, indent=2).encode(),
        **{path: _png(i) for i, path in enumerate(PNGS)},
    }


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FakeHub:
    """What the stand-in serves, and the log of what it was asked."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        """Repository path -> true content (its ETag is computed from it)."""
        self.corrupt: dict[str, bytes] = {}
        """Repository path -> the bytes actually sent (a corrupted transfer)."""
        self.cut_once: set[str] = set()
        """Paths whose next full GET stops after half the body and closes the connection."""
        self.log: list[tuple[str, str, str | None]] = []
        """(method, url path, Range header) of every request."""
        self.endpoint = ""

    def etag(self, path: str) -> str:
        data = self.files[path]
        if path.endswith(".png"):  # stored in LFS on the Hub: the ETag is the sha256
            return _sha256(data)
        return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # plain git file: the blob sha1

    def gets(self, path: str) -> list[str | None]:
        """Range headers of the GETs of ``path``, in order."""
        return [rng for method, url, rng in self.log if method == "GET" and url.endswith("/" + path)]


class _HubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5  # seconds: a client that goes silent cannot hold a server thread

    def log_message(self, *args):  # keep pytest's output clean
        pass

    def do_HEAD(self):
        self._serve(send_body=False)

    def do_GET(self):
        self._serve(send_body=True)

    def _reply(self, status: int, headers: dict, body: bytes, send_body: bool) -> None:
        self.send_response(status)
        for key, value in {**headers, "Content-Length": str(len(body)), "X-Repo-Commit": COMMIT}.items():
            self.send_header(key, value)
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _error(self, code: str, send_body: bool) -> None:
        body = json.dumps({"error": code}).encode()
        self._reply(404, {"X-Error-Code": code, "Content-Type": "application/json"}, body, send_body)

    def _serve(self, send_body: bool) -> None:
        hub: FakeHub = self.server.hub
        url = urlsplit(self.path)
        path = unquote(url.path)
        hub.log.append((self.command, path, self.headers.get("Range")))
        match = RESOLVE.fullmatch(path) or TREE.fullmatch(path)
        if match is None or match["repo"] != REPO:
            return self._error("RepoNotFound", send_body)
        if match["rev"] not in ("main", COMMIT):
            return self._error("RevisionNotFound", send_body)
        if match.re is TREE:
            return self._tree(match["path"] or "", parse_qs(url.query).get("recursive") == ["true"], send_body)
        name = match["path"]
        if name not in hub.files:
            return self._error("EntryNotFound", send_body)
        data = hub.corrupt.get(name, hub.files[name])
        headers = {"ETag": f'"{hub.etag(name)}"', "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
        status, start = 200, 0
        requested = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if requested and send_body:
            start = int(requested.group(1))
            if start >= len(data):
                return self._reply(416, {"Content-Range": f"bytes */{len(data)}"}, b"", send_body)
            status, headers["Content-Range"] = 206, f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        if send_body and name in hub.cut_once and not requested:
            hub.cut_once.discard(name)
            self.send_response(200)
            for key, value in {**headers, "Content-Length": str(len(body)), "X-Repo-Commit": COMMIT}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])  # then hang up: the client sees a short body
            self.wfile.flush()
            self.close_connection = True
            return
        self._reply(status, headers, body, send_body)

    def _tree(self, folder: str, recursive: bool, send_body: bool) -> None:
        hub: FakeHub = self.server.hub
        prefix = folder + "/" if folder else ""
        entries = []
        for path, data in sorted(hub.files.items()):
            rest = path[len(prefix) :]
            if not path.startswith(prefix) or (not recursive and "/" in rest):
                continue
            entry = {"type": "file", "path": path, "size": len(data), "oid": hub.etag(path)}
            if path.endswith(".png"):
                entry["oid"] = "f" * 40
                entry["lfs"] = {"oid": _sha256(data), "size": len(data), "pointerSize": 130}
            entries.append(entry)
        if not entries:
            return self._error("EntryNotFound", send_body)
        self._reply(200, {"Content-Type": "application/json"}, json.dumps(entries).encode(), send_body)


@pytest.fixture(autouse=True)
def _online(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # the tests talk to 127.0.0.1 only


@pytest.fixture
def hub():
    hub = FakeHub(_release())
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HubHandler)  # port 0: a free port
    server.daemon_threads = True
    server.hub = hub
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    hub.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    yield hub
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _partials(out: Path) -> list[Path]:
    return sorted(out.rglob("*.part"))


def test_downloads_only_the_requested_files_verified(hub, tmp_path):
    out = tmp_path / "release"
    files = [ReleaseFile(path, _sha256(hub.files[path]), len(hub.files[path])) for path in PNGS]
    files.append(ReleaseFile(TRANSFORMS))  # no pins: checked against the git blob sha1 the Hub sends as ETag
    paths = download_release(REPO, files, out, endpoint=hub.endpoint, revision=COMMIT)

    assert paths == [out / file.path for file in files]
    for file, path in zip(files, paths, strict=True):
        assert path.read_bytes() == hub.files[file.path]
    assert not (out / MAP).exists() and not hub.gets(MAP)
    assert not (out / ".igae-partial").exists()  # emptied and removed

    requests = len(hub.log)
    download_release(REPO, files, out, endpoint=hub.endpoint, revision=COMMIT)
    assert len(hub.log) == requests  # verified files on disk: no request at all


@pytest.mark.parametrize("retries", [0, 2], ids=["in-a-later-call", "within-the-call"])
def test_an_interrupted_transfer_resumes_where_it_stopped(hub, tmp_path, retries):
    out, path = tmp_path / "release", PNGS[0]
    file = ReleaseFile(path, _sha256(hub.files[path]), len(hub.files[path]))
    hub.cut_once.add(path)
    if retries == 0:
        with pytest.raises(DownloadError, match="run again to resume"):
            download_release(REPO, [file], out, endpoint=hub.endpoint, retries=0)
        assert not (out / path).exists()
        (partial,) = _partials(out)
        assert 0 < partial.stat().st_size < len(hub.files[path])
    download_release(REPO, [file], out, endpoint=hub.endpoint, retries=retries)

    assert (out / path).read_bytes() == hub.files[path]
    first, second = hub.gets(path)
    half = (len(hub.files[path])) // 2
    assert first is None and second == f"bytes={half}-"  # the second GET asked only for the missing half
    assert not _partials(out)


def test_a_checksum_mismatch_deletes_the_file(hub, tmp_path):
    out, path = tmp_path / "release", PNGS[1]
    with pytest.raises(DownloadError, match=r"checksum mismatch: expected sha256 0{64}.*the bad file was deleted"):
        download_release(REPO, [ReleaseFile(path, "0" * 64, len(hub.files[path]))], out, endpoint=hub.endpoint)
    assert not (out / path).exists() and not _partials(out)


def test_a_corrupted_transfer_is_caught_by_the_hubs_content_hash(hub, tmp_path):
    out, path = tmp_path / "release", PNGS[0]
    data = bytearray(hub.files[path])
    data[100] ^= 0xFF
    hub.corrupt[path] = bytes(data)
    with pytest.raises(DownloadError, match=r"does not match the Hub's content hash"):
        download_release(REPO, [ReleaseFile(path)], out, endpoint=hub.endpoint)
    assert not (out / path).exists() and not _partials(out)


def test_a_size_pin_that_disagrees_with_the_hub_fails_before_any_transfer(hub, tmp_path):
    with pytest.raises(DownloadError, match=r"the Hub reports \d+ bytes.*pinned size is 7"):
        download_release(REPO, [ReleaseFile(MAP, size=7)], tmp_path, endpoint=hub.endpoint)
    assert not hub.gets(MAP)


def test_server_down_fails_fast_naming_the_endpoint(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{probe.getsockname()[1]}"
    start = time.monotonic()
    with pytest.raises(DownloadError) as raised:
        download_release(REPO, [ReleaseFile(MAP)], tmp_path, endpoint=endpoint, timeout=2.0)
    assert time.monotonic() - start < 10
    message = str(raised.value)
    assert endpoint in message and REPO in message and MAP in message and "scenes.<name>.path" in message
    assert not (tmp_path / MAP).exists()


def test_an_unknown_repository_or_file_is_named(hub, tmp_path):
    with pytest.raises(DownloadError, match=r"no dataset repository 'nobody/not-igae-data'"):
        download_release("nobody/not-igae-data", [ReleaseFile(MAP)], tmp_path, endpoint=hub.endpoint)
    with pytest.raises(DownloadError, match=r"'train/objaverse/nope\.json' is not in k-kassab/igae-data"):
        download_release(REPO, [ReleaseFile("train/objaverse/nope.json")], tmp_path, endpoint=hub.endpoint)
    assert not any(tmp_path.iterdir())


def test_listing_gives_paths_and_lfs_pins_that_download(hub, tmp_path):
    pattern = "train/objaverse/square128/*/transforms_opencv.json"
    assert list_release(REPO, pattern, endpoint=hub.endpoint) == [TRANSFORMS]
    assert list_release(REPO, "train/objaverse/missing/*", endpoint=hub.endpoint) == []
    pngs = list_release_files(REPO, "train/objaverse/*.png", endpoint=hub.endpoint)
    assert pngs == [ReleaseFile(path, _sha256(hub.files[path]), len(hub.files[path])) for path in PNGS]
    for path in download_release(REPO, pngs, tmp_path, endpoint=hub.endpoint):
        assert path.read_bytes() == hub.files[path.relative_to(tmp_path).as_posix()]
