"""The release downloader against a local stand-in for the Hugging Face Hub (tests/fake_hub.py)."""

from __future__ import annotations

import io
import json
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from fake_hub import COMMIT, REPO, FakeHub, serving, sha256_hex
from huggingface_hub import constants
from PIL import Image

from igae.scenes.sources.download import (
    LOCK_NAME,
    DownloadError,
    ReleaseFile,
    download_release,
    list_release,
    list_release_files,
)

SCENE = "000-0a1b2c"
MAP = "train/objaverse/dataset_map.json"
TRANSFORMS = f"train/objaverse/square128/{SCENE}/transforms_opencv.json"
PNGS = [f"train/objaverse/square128/{SCENE}/rgb/{i:03d}.png" for i in range(2)]


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


@pytest.fixture(autouse=True)
def _online(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # the tests talk to 127.0.0.1 only


@pytest.fixture
def hub():
    with serving(FakeHub(_release())) as hub:
        yield hub


def _partials(out: Path) -> list[Path]:
    return sorted(out.rglob("*.part"))


def test_downloads_only_the_requested_files_verified(hub, tmp_path):
    out = tmp_path / "release"
    files = [ReleaseFile(path, sha256_hex(hub.files[path]), len(hub.files[path])) for path in PNGS]
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
    file = ReleaseFile(path, sha256_hex(hub.files[path]), len(hub.files[path]))
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
    assert [path.name for path in tmp_path.iterdir()] == [LOCK_NAME]  # nothing but the cache's lock file


def test_listing_gives_paths_and_lfs_pins_that_download(hub, tmp_path):
    pattern = "train/objaverse/square128/*/transforms_opencv.json"
    assert list_release(REPO, pattern, endpoint=hub.endpoint) == [TRANSFORMS]
    assert list_release(REPO, "train/objaverse/missing/*", endpoint=hub.endpoint) == []
    pngs = list_release_files(REPO, "train/objaverse/*.png", endpoint=hub.endpoint)
    assert pngs == [ReleaseFile(path, sha256_hex(hub.files[path]), len(hub.files[path])) for path in PNGS]
    for path in download_release(REPO, pngs, tmp_path, endpoint=hub.endpoint):
        assert path.read_bytes() == hub.files[path.relative_to(tmp_path).as_posix()]
