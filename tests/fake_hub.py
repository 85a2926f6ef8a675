"""A local stand-in for the Hugging Face Hub (HEAD/GET on /datasets/{repo}/resolve/..., and the tree API), on
127.0.0.1, for the download tests.

It answers as the Hub answers huggingface_hub: ETag (sha256 for LFS files, git blob sha1 for plain files),
X-Repo-Commit, Content-Length, Range requests (206 + Content-Range; ``bytes=a-`` and ``bytes=a-b``), X-Error-Code on
404s, and the tree API (a folder's files, and its sub-folders as ``directory`` entries when not recursive). It counts
the body bytes it sends (``bytes_sent``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

REPO = "k-kassab/igae-data"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
RESOLVE = re.compile(r"/datasets/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)")
TREE = re.compile(r"/api/datasets/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)(?:/(?P<path>.+))?")


LFS_SUFFIXES = (".png", ".glb", ".gz", ".tar")
"""Files the stand-in serves as LFS files (ETag and tree ``lfs.oid``: the sha256), as the Hub does for binaries."""


def png_bytes(rgb) -> bytes:
    """A (H, W, 3) uint8 array as the bytes of a PNG file (what the release's files hold)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FakeHub:
    """What the stand-in serves, and the log of what it was asked."""

    def __init__(
        self, files: dict[str, bytes], repo: str = REPO, other_repos: dict[str, dict[str, bytes]] | None = None
    ):
        self.files = files
        """Repository path -> true content (its ETag is computed from it), of the repository ``repo``."""
        self.repos = {repo: files, **(other_repos or {})}
        """Every repository served: id -> files."""
        self.corrupt: dict[str, bytes] = {}
        """Repository path -> the bytes actually sent (a corrupted transfer)."""
        self.cut_once: set[str] = set()
        """Paths whose next full GET stops after half the body and closes the connection."""
        self.log: list[tuple[str, str, str | None]] = []
        """(method, url path, Range header) of every request."""
        self.bytes_sent: dict[str, int] = {}
        """Repository path -> body bytes sent for it (GETs of the file, all together)."""
        self.endpoint = ""

    def etag(self, path: str, repo: str = REPO) -> str:
        data = self.repos[repo][path]
        if path.endswith(LFS_SUFFIXES):  # stored in LFS on the Hub: the ETag is the sha256
            return sha256_hex(data)
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
            self._count(len(body))

    def _count(self, sent: int) -> None:
        match = RESOLVE.fullmatch(unquote(urlsplit(self.path).path))
        if match is not None:
            hub: FakeHub = self.server.hub
            hub.bytes_sent[match["path"]] = hub.bytes_sent.get(match["path"], 0) + sent

    def _error(self, code: str, send_body: bool) -> None:
        body = json.dumps({"error": code}).encode()
        self._reply(404, {"X-Error-Code": code, "Content-Type": "application/json"}, body, send_body)

    def _serve(self, send_body: bool) -> None:
        hub: FakeHub = self.server.hub
        url = urlsplit(self.path)
        path = unquote(url.path)
        hub.log.append((self.command, path, self.headers.get("Range")))
        match = RESOLVE.fullmatch(path) or TREE.fullmatch(path)
        if match is None or match["repo"] not in hub.repos:
            return self._error("RepoNotFound", send_body)
        files = hub.repos[match["repo"]]
        if match["rev"] not in ("main", COMMIT):
            return self._error("RevisionNotFound", send_body)
        if match.re is TREE:
            recursive = parse_qs(url.query).get("recursive") == ["true"]
            return self._tree(match["repo"], match["path"] or "", recursive, send_body)
        name = match["path"]
        if name not in files:
            return self._error("EntryNotFound", send_body)
        data = hub.corrupt.get(name, files[name])
        headers = {
            "ETag": f'"{hub.etag(name, match["repo"])}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        status, start, end = 200, 0, len(data)
        requested = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range") or "")
        if requested and send_body:
            start = int(requested.group(1))
            end = min(int(requested.group(2)) + 1, len(data)) if requested.group(2) else len(data)
            if start >= len(data) or end <= start:
                return self._reply(416, {"Content-Range": f"bytes */{len(data)}"}, b"", send_body)
            status, headers["Content-Range"] = 206, f"bytes {start}-{end - 1}/{len(data)}"
        body = data[start:end]
        if send_body and name in hub.cut_once and not requested:
            hub.cut_once.discard(name)
            self.send_response(200)
            for key, value in {**headers, "Content-Length": str(len(body)), "X-Repo-Commit": COMMIT}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])  # then hang up: the client sees a short body
            self.wfile.flush()
            self._count(len(body) // 2)
            self.close_connection = True
            return
        self._reply(status, headers, body, send_body)

    def _tree(self, repo: str, folder: str, recursive: bool, send_body: bool) -> None:
        hub: FakeHub = self.server.hub
        prefix = folder + "/" if folder else ""
        entries, folders = [], set()
        for path, data in sorted(hub.repos[repo].items()):
            rest = path[len(prefix) :]
            if not path.startswith(prefix):
                continue
            if not recursive and "/" in rest:
                folders.add(prefix + rest.split("/", 1)[0])
                continue
            entry = {"type": "file", "path": path, "size": len(data), "oid": hub.etag(path, repo)}
            if path.endswith(LFS_SUFFIXES):
                entry["oid"] = "f" * 40
                entry["lfs"] = {"oid": sha256_hex(data), "size": len(data), "pointerSize": 130}
            entries.append(entry)
        entries += [{"type": "directory", "path": folder, "oid": "d" * 40} for folder in sorted(folders)]
        if not entries:
            return self._error("EntryNotFound", send_body)
        self._reply(200, {"Content-Type": "application/json"}, json.dumps(entries).encode(), send_body)


@contextlib.contextmanager
def serving(hub: FakeHub):
    """Serve ``hub`` on a free port of 127.0.0.1 (``hub.endpoint``) for the duration of the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HubHandler)  # port 0: a free port
    server.daemon_threads = True
    server.hub = hub
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    hub.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
