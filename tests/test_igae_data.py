"""The authors' release in either of its published forms (igae.scenes.sources.igae_data): a revision that holds one
archive, igae-data.tar (served by the local stand-in for the Hub, tests/fake_hub.py, built here in the official layout,
with and without a top-level folder), is fetched whole, resumably and verified against its LFS sha256, and only the
members a config needs are copied out; a local copy is accepted as the tar or as a folder; a broken archive (truncated,
not the release, a scene missing) is refused naming the file or member, and nothing half-written is left."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from fake_hub import REPO, FakeHub, png_bytes, serving, sha256_hex
from huggingface_hub import constants

from igae.scenes.cameras import look_at_c2w_opencv, orbit_positions
from igae.scenes.dataset_io import load_scene
from igae.scenes.sources.datasets import build_real_image_set, build_scene_dataset
from igae.scenes.sources.download import DownloadError
from igae.scenes.sources.igae_data import ARCHIVE, local_archive_root

SCENES = ["000-aaa", "001-bbb", "002-ccc", "003-ddd"]
VIEWS = 5
SIZE = 16
"""Side of the release's images here (the release's are 128 px); scenes are converted to 32 px."""
IMAGES = 6
MAP = "train/objaverse/dataset_map.json"


def release_files(scenes: list[str] = SCENES) -> dict[str, bytes]:
    """The release's files in its tree layout: a map of ``scenes``, each 5 views in rgb/, 6 ImageNet images."""
    rng = np.random.default_rng(0)
    focal = 1.09375 * SIZE
    camera = {"fl_x": focal, "fl_y": focal, "cx": SIZE / 2, "cy": SIZE / 2, "w": SIZE, "h": SIZE}
    files = {MAP: json.dumps({"objaverse": scenes}).encode()}
    for scene in scenes:
        c2w = [look_at_c2w_opencv(p).tolist() for p in orbit_positions(VIEWS, 1.3, seed=3)]
        frames = [{"file_path": f"rgb/{i:03d}.png", "transform_matrix": c2w[i], **camera} for i in range(VIEWS)]
        root = f"train/objaverse/square128/{scene}"
        files[f"{root}/transforms_opencv.json"] = json.dumps({"frames": frames}).encode()
        for i in range(VIEWS):
            files[f"{root}/rgb/{i:03d}.png"] = png_bytes(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8))
    for i in range(IMAGES):
        files[f"train/imagenet/square128/n0{i % 2}/img_{i}.png"] = png_bytes(
            rng.integers(0, 256, (20, 24, 3), np.uint8)
        )
    files["train/LOC_synset_mapping.txt"] = b"n00 a\nn01 b\n"
    return files


def release_tar(files: dict[str, bytes], top: str = "") -> bytes:
    """An uncompressed tar of ``files`` as ``tar cf`` writes a folder: a member per folder, then per file."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        folders = sorted({"/".join(path.split("/")[:i]) for path in files for i in range(1, path.count("/") + 1)})
        for folder in ([top.rstrip("/")] if top else []) + [top + folder for folder in folders]:
            info = tarfile.TarInfo(folder)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for path, data in files.items():
            info = tarfile.TarInfo(top + path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def archive_revision(top: str = "", files: dict[str, bytes] | None = None) -> dict[str, bytes]:
    """What an archive revision of the repository holds: .gitattributes, README.md and igae-data.tar."""
    return {
        ".gitattributes": b"*.tar filter=lfs diff=lfs merge=lfs -text\n",
        "README.md": b"# igae-data\n",
        ARCHIVE: release_tar(files or release_files(), top),
    }


@pytest.fixture(autouse=True)
def _online(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # the tests talk to 127.0.0.1 only


def _write(root: Path, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)


def _cached(cache: Path) -> set[str]:
    return {p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file() and not p.name.startswith(".")}


@pytest.mark.parametrize("top", ["", "igae-data/"], ids=["train-at-the-top", "under-igae-data"])
def test_an_archive_revision_is_fetched_once_and_only_the_needed_members_are_copied_out(tmp_path, monkeypatch, top):
    """3 scenes and a sample of 4 images: the whole tar is transferred once (no range reading), only those members
    land in the cache, the scenes and the sample equal those of the tree form, and a re-run makes no request."""
    served = archive_revision(top)
    dl = tmp_path / "dl"
    with serving(FakeHub(served)) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        spec = {"source": "igae-data", "count": 3, "first": 1, "eval_fraction": 0.2}
        folders = build_scene_dataset(spec, tmp_path / "scenes", image_size=32, downloads=dl)
        real = {"source": "igae-data", "count": 4, "seed": 1, "test_fraction": 0.25}
        manifest = build_real_image_set(real, tmp_path / "real", image_size=32, downloads=dl)
        assert hub.bytes_sent == {ARCHIVE: len(served[ARCHIVE])}  # once, whole, shared by both jobs
        requests = len(hub.log)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # a re-run finds everything in the cache
        again = build_scene_dataset(spec, tmp_path / "scenes2", image_size=32, downloads=dl)
        build_real_image_set(real, tmp_path / "real2", image_size=32, downloads=dl)
        assert len(hub.log) == requests and [f.name for f in again] == [f.name for f in folders]

    cache = dl / REPO
    scenes = _cached(cache) - {ARCHIVE}
    assert {path.split("/")[3] for path in scenes if "/square128/" in path and "imagenet" not in path} == set(
        SCENES[1:]
    )
    assert len([path for path in scenes if "imagenet" in path]) == 4 and "train/LOC_synset_mapping.txt" not in scenes
    _write(tmp_path / "tree", release_files())  # the same release as a file tree, read as a local copy
    tree = build_scene_dataset({**spec, "path": str(tmp_path / "tree")}, tmp_path / "tree_scenes", image_size=32)
    for folder, reference in zip(folders, tree, strict=True):
        scene, expected = load_scene(folder), load_scene(reference)
        assert scene.meta == expected.meta and np.array_equal(scene.images, expected.images)
    tree_real = build_real_image_set({**real, "path": str(tmp_path / "tree")}, tmp_path / "real3", image_size=32)
    assert [c["origin"] for c in manifest["crops"]] == [c["origin"] for c in tree_real["crops"]]


def test_an_interrupted_archive_transfer_resumes_where_it_stopped(tmp_path, monkeypatch):
    served = archive_revision()
    size = len(served[ARCHIVE])
    with serving(FakeHub(served)) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        hub.cut_once.add(ARCHIVE)  # the first GET stops after half the body and hangs up
        build_scene_dataset({"source": "igae-data", "count": 3}, tmp_path / "scenes", 32, downloads=tmp_path / "dl")
        assert hub.gets(ARCHIVE) == [None, f"bytes={size // 2}-"]  # the second GET asked for the missing half only
        assert hub.bytes_sent[ARCHIVE] == size // 2 + (size - size // 2)
    assert (tmp_path / "dl" / REPO / ARCHIVE).read_bytes() == served[ARCHIVE]
    assert not list((tmp_path / "dl").rglob("*.part"))


def test_a_corrupted_byte_of_the_archive_is_refused_against_its_lfs_sha256(tmp_path, monkeypatch):
    served = archive_revision()
    damaged = bytearray(served[ARCHIVE])
    damaged[len(damaged) // 3] ^= 0x01
    with serving(FakeHub(served)) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        hub.corrupt[ARCHIVE] = bytes(damaged)
        expected = sha256_hex(served[ARCHIVE])
        with pytest.raises(DownloadError, match=rf"{ARCHIVE}.*checksum mismatch: expected sha256 {expected}"):
            build_scene_dataset({"source": "igae-data", "count": 1}, tmp_path / "scenes", 32, downloads=tmp_path / "dl")
    assert not (tmp_path / "scenes").exists()
    assert not [p for p in (tmp_path / "dl").rglob("*") if p.is_file() and p.name != ".igae-download.lock"]


def test_a_revision_with_neither_form_or_without_a_scene_says_what_it_holds(tmp_path, monkeypatch):
    with serving(FakeHub({"README.md": b"# moved\n"})) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        with pytest.raises(FileNotFoundError, match=r"holds neither .*\(train/\) nor its archive igae-data.tar; "
                           r"its top level lists \['README.md'\]"):  # fmt: skip
            build_scene_dataset({"source": "igae-data", "count": 1}, tmp_path / "scenes", 32, downloads=tmp_path)
    tree = release_files(SCENES[:3])
    tree = {path: data for path, data in tree.items() if "/002-ccc/" not in path}  # the map names it, no file
    with serving(FakeHub(tree)) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        with pytest.raises(FileNotFoundError, match=r"revision 'main' holds the file tree \(train/\), which lists "
                           r"no file under train/objaverse/square128/002-ccc/: scene 2"):  # fmt: skip
            build_scene_dataset({"source": "igae-data", "count": 3}, tmp_path / "scenes", 32, downloads=tmp_path)
    assert not (tmp_path / "scenes").exists()


@pytest.mark.parametrize("form", ["tar", "folder-holding-the-tar", "extracted-with-its-top-folder"])
def test_a_local_copy_is_the_tar_or_a_folder(tmp_path, form):
    tar = release_tar(release_files(), "igae-data/")
    if form == "extracted-with-its-top-folder":
        with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
            archive.extractall(tmp_path / "copy", filter="data")
        path = tmp_path / "copy"
    else:
        (tmp_path / "copy").mkdir()
        (tmp_path / "copy" / ARCHIVE).write_bytes(tar)
        path = tmp_path / "copy" / ARCHIVE if form == "tar" else tmp_path / "copy"
    spec = {"source": "igae-data", "count": 2, "path": str(path)}
    folders = build_scene_dataset(spec, tmp_path / "scenes", image_size=32, downloads=tmp_path / "dl")
    assert [load_scene(f).meta["scene_id"] for f in folders] == SCENES[:2]
    copied = local_archive_root(tmp_path / "copy" / ARCHIVE, tmp_path / "dl")
    assert copied.is_dir() == (form != "extracted-with-its-top-folder")


def _truncate(tar: bytes, where: str) -> bytes:
    """The archive cut inside the data of a member, inside a header, or after a member (no end-of-archive marker)."""
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith("002-ccc/rgb/001.png"))
    return tar[: {"data": member.offset_data + 10, "header": member.offset + 100,
                  "boundary": member.offset}[where]]  # fmt: skip


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("data", r"not a whole uncompressed tar archive \(unexpected end of data"),
        ("header", r"truncated or damaged: it ends at byte \d+ of \d+, after \d+ members"),
        ("boundary", r"truncated or damaged: it ends at byte \d+ of \d+, after \d+ members"),
        ("not-the-release", r"holds no member train/objaverse/dataset_map.json .* not the release's archive"),
        ("scene-missing", r"has no member igae-data/train/objaverse/square128/002-ccc/: scene 2 \('002-ccc'\)"),
    ],
)
def test_a_broken_local_archive_is_refused_naming_the_file_or_member_and_nothing_is_left(tmp_path, damage, message):
    files = release_files()
    if damage == "not-the-release":
        tar = release_tar({"train/notes/readme.txt": b"hello", "photos/a.png": files[next(iter(files.keys()))]})
    elif damage == "scene-missing":
        tar = release_tar({path: data for path, data in files.items() if "/002-ccc/" not in path}, "igae-data/")
    else:
        tar = _truncate(release_tar(files, "igae-data/"), damage)
    (tmp_path / ARCHIVE).write_bytes(tar)
    spec = {"source": "igae-data", "count": 3, "path": str(tmp_path / ARCHIVE)}
    with pytest.raises((ValueError, FileNotFoundError), match=message) as raised:
        build_scene_dataset(spec, tmp_path / "scenes", image_size=32, downloads=tmp_path / "dl")
    assert str(tmp_path / ARCHIVE) in str(raised.value)
    assert not (tmp_path / "scenes").exists()
    leftovers = [p.name for p in (tmp_path / "dl").rglob("*") if p.name.startswith(".") and "tmp" in p.name]
    assert not leftovers  # no temporary folder or file of a half-copied scene
