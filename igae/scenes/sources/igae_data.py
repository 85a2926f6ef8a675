"""The authors' release ``k-kassab/igae-data`` (a Hugging Face dataset, ~45 GB): only the parts a config needs.

Layout read (docs/paper.md#training-data; the authors' ``datasets/dataset.py``)::

    train/objaverse/dataset_map.json                    {"objaverse": [scene ids ...]}
    train/objaverse/square128/{scene}/transforms_opencv.json   frames: file_path, transform_matrix (OpenCV c2w),
                                                               fl_x, fl_y, cx, cy, w, h
    train/objaverse/square128/{scene}/<images>          the images the frames name (folder name inferred: any)
    train/imagenet/square128/**.{png,jpg,jpeg}          the real images (ImageNet at 128 px)

Inferred, not documented: the image folder inside a scene (we take whatever the scene folder holds, and the frames'
``file_path`` decide), and that the listing's LFS sha256 pins every image.

**Two forms of the release.** A revision of the repository holds either that file tree or one uncompressed tar,
``igae-data.tar`` (42.7 GB, LFS: at least one revision, "Upload igae-data.tar with huggingface_hub", holds only it).
The top-level listing (one request, :func:`release_layout`) tells which:

- a **tree**: the dataset map, then each chosen scene's files, are downloaded one by one (verified, resumable);
- an **archive**: ``igae-data.tar`` is downloaded whole by the same transfer (:func:`igae.scenes.sources.download.
  download_release`: resumable, verified against the LFS sha256 the listing reports), its headers are read once by
  :mod:`tarfile` into an index of members (cached next to it), and only the members the config needs (the dataset
  map, the chosen scenes, the sampled real images) are copied out, whatever the archive's top-level folder
  (``train/...``, ``igae-data/train/...``). No member is read by HTTP range: see :data:`NO_RANGE_READING`.

Either way the files land in the download cache (``downloads/<repo>/train/...``) with their release paths, a scene
folder atomically with an inventory of its files; a re-run that finds them makes no request. ``path:`` takes a local
copy instead: an extracted folder (holding ``train/``, or one folder that does), the tar itself, or a folder holding
``igae-data.tar`` (a ``git clone`` of an archive revision); members of a local tar are copied into
``downloads/igae-data-archives/``.

Scenes are converted into this project's scene folders (:func:`igae.scenes.dataset_io.write_scene`): read with
:func:`igae.scenes.dataset_io.load_scene`, which names the file at fault (missing image, malformed transforms file,
image of the wrong size) before anything trains; resized to ``image_size`` when the release's size differs
(intrinsics scaled by the same float ratio); the first ceil(eval_fraction * V) views are the eval views.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
from PIL import Image

from igae.files import atomic_folder, atomic_write_bytes, atomic_write_json
from igae.images import resize_views
from igae.scenes.dataset_io import IMAGE_SUFFIXES, eval_count, is_complete_scene, load_scene, write_scene
from igae.scenes.sources.download import (
    ReleaseFile,
    cache_lock,
    download_release,
    list_release_files,
    list_release_top,
)
from igae.scenes.sources.source import RealImageSource, SceneSource

DEFAULT_REPO = "k-kassab/igae-data"
INVENTORY = ".igae-files.json"
"""Written into a cached scene folder once all its files are there (their repository paths)."""
ARCHIVE = "igae-data.tar"
"""The release as one uncompressed tar, at the top level of an archive revision (or of a local copy)."""
ARCHIVE_INDEX = ".igae-archive-index.json"
"""Next to the members copied out of an archive: the archive's member offsets, valid for its size and mtime."""
LOCAL_ARCHIVES = "igae-data-archives"
"""Folder of the download cache that receives the members of a local archive (``path:`` naming a tar)."""
IMAGENET = "train/imagenet/square128"
"""The release's real images (ImageNet at 128 px)."""
NO_RANGE_READING = (
    "Members are not read by HTTP range: (1) nothing could verify them (the LFS sha256 covers the whole 42.7 GB, a "
    "tar member has no checksum of its data, and this project only keeps verified downloads); (2) a tar has no "
    "index, so finding a scene means reading every member's 512-byte header from the start, one request each (the "
    "release has on the order of 10^5 members: hours of round trips), and the signed storage URLs the Hub redirects "
    "to expire within that time."
)
"""Why the archive is downloaded whole (README, "The paper's configuration")."""


def release_scene_name(subset: str, index: int) -> str:
    """Scene folder name of the ``index``-th scene of the release's dataset map (known before any download)."""
    return f"{subset}_{index:04d}"


def map_path(subset: str) -> str:
    """Release path of the dataset map of ``subset``."""
    return f"train/{subset}/dataset_map.json"


def scene_path(subset: str, scene: str) -> str:
    """Release path of the folder of one scene."""
    return f"train/{subset}/square128/{scene}"


def scene_ids(release_root: Path, subset: str) -> list[str]:
    """The scene ids of ``train/{subset}/dataset_map.json`` under a local copy of the release."""
    path = release_root / map_path(subset)
    if not path.is_file():
        raise FileNotFoundError(f"igae: {path} does not exist; is {release_root} a copy of {DEFAULT_REPO}?")
    try:
        ids = json.loads(path.read_text())[subset]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"igae: {path} is not a dataset map {{{subset!r}: [scene ids]}} ({error!r})") from error
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ValueError(f"igae: {path}: {subset!r} must map to a list of scene ids")
    return ids


def _window(ids: list[str], first: int, count: int, where: Path) -> list[str]:
    if first < 0 or count < 1 or first + count > len(ids):
        raise ValueError(
            f"igae: scenes {first}..{first + count - 1} were asked for, but {where} lists {len(ids)} scenes"
        )
    return ids[first : first + count]


def _scene_cached(root: Path, folder: str) -> bool:
    """Whether ``root/folder`` holds every file its inventory lists (written once the scene was complete)."""
    inventory = root / folder / INVENTORY
    return inventory.is_file() and all((root / path).is_file() for path in json.loads(inventory.read_text()))


# --------------------------------------------------------------------------------------------------------------------
# What a revision holds: the file tree or the archive
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseLayout:
    """What one revision of the release repository holds."""

    repo: str
    revision: str
    archive: ReleaseFile | None
    """``igae-data.tar`` pinned by the listing (size, LFS sha256), or None: the revision holds the file tree."""

    def describe(self) -> str:
        """``k-kassab/igae-data at revision 'main' holds the archive igae-data.tar`` (or ``the file tree``)."""
        what = f"the archive {ARCHIVE}" if self.archive is not None else "the file tree (train/)"
        return f"{self.repo} at revision {self.revision!r} holds {what}"


def release_layout(repo: str, revision: str = "main", endpoint: str | None = None) -> ReleaseLayout:
    """Which form of the release ``revision`` holds, from its top-level listing (one request); the tree wins when a
    revision holds both. FileNotFoundError when it holds neither, listing what it holds."""
    files, folders = list_release_top(repo, endpoint=endpoint, revision=revision)
    if "train" in folders:
        return ReleaseLayout(repo, revision, None)
    if ARCHIVE in files:
        return ReleaseLayout(repo, revision, files[ARCHIVE])
    top = sorted([*files, *(folder + "/" for folder in folders)])
    raise FileNotFoundError(
        f"igae: {repo} at revision {revision!r} holds neither the release's file tree (train/) nor its archive "
        f"{ARCHIVE}; its top level lists {top or 'nothing'}. Pin `revision:` to a commit that holds one, or set "
        "`path:` to a local copy"
    )


def local_release(path: Path) -> tuple[str, Path]:
    """``("tree", folder holding train/)`` or ``("archive", tar file)`` for a ``path:`` entry.

    A folder holding ``train/`` (or one sub-folder that does: an archive extracted with its top-level folder), a tar
    file, or a folder holding ``igae-data.tar`` (a ``git clone`` of an archive revision). FileNotFoundError otherwise.
    """
    if path.is_file():
        return "archive", path
    if (path / "train").is_dir():
        return "tree", path
    if (path / ARCHIVE).is_file():
        return "archive", path / ARCHIVE
    inner = [child for child in sorted(path.iterdir()) if (child / "train").is_dir()] if path.is_dir() else []
    if len(inner) == 1:
        return "tree", inner[0]
    state = "it does not exist" if not path.exists() else "it holds no train/ folder and no " + ARCHIVE
    raise FileNotFoundError(
        f"igae: {path} is neither a copy of {DEFAULT_REPO}'s file tree (a folder holding train/) nor its archive "
        f"({ARCHIVE}, or a folder holding it): {state}"
    )


def local_archive_root(tar: Path, downloads: Path) -> Path:
    """Where the members of the local archive ``tar`` are copied out to (one folder per archive path)."""
    return downloads / LOCAL_ARCHIVES / f"{tar.stem}-{hashlib.sha1(str(tar.resolve()).encode()).hexdigest()[:12]}"


# --------------------------------------------------------------------------------------------------------------------
# The archive: an index of its members, and copying some out
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchiveIndex:
    """The regular-file members of a release archive under ``train/``, by release path."""

    tar: Path
    top: str
    """The members' folder above ``train/``: ``""`` or e.g. ``"igae-data/"``."""
    members: dict[str, tuple[int, int]]
    """Release path (``train/...``) -> (offset of its data in the tar, size in bytes)."""

    def member(self, path: str) -> str:
        """The name in the archive of the release path ``path`` (for messages)."""
        return self.top + path

    def read(self, paths: list[str]):
        """Yield ``(path, bytes)`` of each member; ValueError naming the member when the tar ends inside it."""
        with open(self.tar, "rb") as archive:
            for path in paths:
                offset, size = self.members[path]
                archive.seek(offset)
                data = archive.read(size)
                if len(data) != size:
                    raise ValueError(
                        f"igae: {self.tar} is truncated: it ends inside member {self.member(path)} ({len(data)} of "
                        f"{size} bytes). Download or copy it again"
                    )
                yield path, data


def _scan(tar: Path) -> tuple[str, dict[str, tuple[int, int]]]:
    """(top-level folder, members) of ``tar``, read from its headers (tarfile seeks over every member's data)."""
    size, count = tar.stat().st_size, 0
    members, tops = {}, set()
    try:
        with tarfile.open(tar, mode="r:") as archive:
            for info in archive:
                count += 1
                parts = PurePosixPath(info.name).parts  # "./train/x" -> ("train", "x")
                if not info.isfile() or "train" not in parts[:2] or ".." in parts or info.name.startswith("/"):
                    continue
                at = parts.index("train")
                tops.add("".join(part + "/" for part in parts[:at]))
                members["/".join(parts[at:])] = (info.offset_data, info.size)
            end = archive.offset  # where the end-of-archive marker must start
        with open(tar, "rb") as handle:
            handle.seek(end)
            marker = handle.read(1024)
    except (tarfile.TarError, EOFError) as error:
        raise ValueError(
            f"igae: {tar} is not a whole uncompressed tar archive ({error}, after {count} members, {size} bytes): "
            f"a truncated or damaged copy, or not {ARCHIVE}. Download or copy it again"
        ) from error
    if marker != bytes(1024):
        what = "ends" if len(marker) < 1024 else "has a damaged header"
        raise ValueError(
            f"igae: {tar} is truncated or damaged: it {what} at byte {end} of {size}, after {count} members, without "
            "the end-of-archive marker. Download or copy it again"
        )
    if len(tops) > 1:
        raise ValueError(f"igae: {tar} has train/ folders under several top-level folders {sorted(tops)}; keep one")
    return (tops.pop() if tops else ""), members


def index_archive(tar: Path, root: Path) -> ArchiveIndex:
    """The index of ``tar``: from ``root/.igae-archive-index.json`` when made from this file (path, size, mtime),
    else read from its headers once and saved there (atomically)."""
    stat = tar.stat()
    key = {"archive": str(tar.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    saved = root / ARCHIVE_INDEX
    try:
        cached = json.loads(saved.read_text())
        if cached["key"] == key:
            return ArchiveIndex(tar, cached["top"], {path: tuple(at) for path, at in cached["members"].items()})
    except (OSError, ValueError, KeyError, TypeError):
        pass  # absent, of another archive, or unreadable: read the headers again
    top, members = _scan(tar)
    atomic_write_json(saved, {"key": key, "top": top, "members": members})
    return ArchiveIndex(tar, top, members)


def _archive_map(index: ArchiveIndex, root: Path, subset: str) -> Path:
    """Copy the dataset map out of the archive into ``root``; ValueError when the archive has none (not the release)."""
    path = map_path(subset)
    if path not in index.members:
        found = sorted({p.split("/")[1] for p in index.members if p.count("/") > 1})
        raise ValueError(
            f"igae: {index.tar} holds no member {path} (nor */{path}): it is not the release's archive ({ARCHIVE} of "
            f"{DEFAULT_REPO}) or has no subset {subset!r} (its train/ holds {found or 'no folder'})"
        )
    for _, data in index.read([path]):
        atomic_write_bytes(root / path, data)
    return root / path


def extract_archive_scenes(tar: Path, root: Path, subset: str, first: int, count: int) -> list[str]:
    """Copy the dataset map and scenes ``first .. first+count-1`` of it out of the archive ``tar`` into ``root`` (their
    release paths, each scene folder atomically with its inventory); return their ids.

    A scene the map names without any member in the archive raises FileNotFoundError naming the member expected.
    """
    with cache_lock(root):
        index = index_archive(tar, root)
        where = _archive_map(index, root, subset)
        ids = _window(scene_ids(root, subset), first, count, where)
        for number, scene in zip(range(first, first + count), ids, strict=True):
            folder = scene_path(subset, scene)
            if _scene_cached(root, folder):
                continue
            paths = sorted(path for path in index.members if path.startswith(folder + "/"))
            if not paths:
                raise FileNotFoundError(
                    f"igae: {tar} has no member {index.member(folder)}/: scene {number} ({scene!r}) of "
                    f"{index.member(map_path(subset))} is missing from the archive (an incomplete or damaged copy). "
                    "Download or copy it again"
                )
            with atomic_folder(root / folder) as temporary:
                for path, data in index.read(paths):
                    target = temporary / path.removeprefix(folder + "/")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
                (temporary / INVENTORY).write_text(json.dumps(paths))
    return ids


# --------------------------------------------------------------------------------------------------------------------
# Fetching from the Hub, either form
# --------------------------------------------------------------------------------------------------------------------


def fetch_release_scenes(
    repo: str, cache: Path, subset: str, first: int, count: int, revision: str = "main", endpoint: str | None = None
) -> list[str]:
    """Bring the dataset map and scenes ``first .. first+count-1`` of it into ``cache``; return their ids.

    Scenes fetched before (their inventories complete) need no request at all, so a re-run works offline. Otherwise
    the revision's form decides (:func:`release_layout`): from a tree only those scenes' files are fetched, each
    verified and resumable; from an archive, ``igae-data.tar`` is fetched (verified against its LFS sha256, resumable)
    and those scenes are copied out of it. An archive already in the cache (verified when it was written) is used
    without any request.
    """
    if (cache / map_path(subset)).is_file():
        ids = _window(scene_ids(cache, subset), first, count, cache / map_path(subset))
        if all(_scene_cached(cache, scene_path(subset, scene)) for scene in ids):
            return ids
    if not (cache / ARCHIVE).is_file():
        layout = release_layout(repo, revision, endpoint)
        if layout.archive is None:
            return _fetch_tree_scenes(layout, cache, subset, first, count, endpoint)
        download_release(repo, [layout.archive], cache, endpoint, revision)
    return extract_archive_scenes(cache / ARCHIVE, cache, subset, first, count)


def _fetch_tree_scenes(
    layout: ReleaseLayout, cache: Path, subset: str, first: int, count: int, endpoint: str | None
) -> list[str]:
    """The file-tree form: the dataset map, then each scene folder's files (listed, verified, resumable)."""
    repo, revision = layout.repo, layout.revision
    download_release(repo, [ReleaseFile(map_path(subset))], cache, endpoint, revision)
    ids = _window(scene_ids(cache, subset), first, count, cache / map_path(subset))
    for number, scene in zip(range(first, first + count), ids, strict=True):
        folder = scene_path(subset, scene)
        if _scene_cached(cache, folder):
            continue  # fetched completely before
        files = list_release_files(repo, f"{folder}/*", endpoint=endpoint, revision=revision)
        if not files:
            raise FileNotFoundError(
                f"igae: {layout.describe()}, which lists no file under {folder}/: scene {number} ({scene!r}) of "
                f"{map_path(subset)} is missing from it"
            )
        download_release(repo, files, cache, endpoint, revision)
        atomic_write_json(cache / folder / INVENTORY, [file.path for file in files])
    return ids


def prepared_release(spec: dict, downloads: Path) -> Path:
    """A folder holding the entry's scenes under ``train/`` (with its dataset map): the local copy of ``path``, the
    members copied out of a local archive, or the download cache, filled first."""
    subset, first, count = spec.get("subset", "objaverse"), spec.get("first", 0), spec["count"]
    if spec.get("path"):
        kind, where = local_release(Path(spec["path"]))
        if kind == "tree":
            return where
        root = local_archive_root(where, downloads)
        extract_archive_scenes(where, root, subset, first, count)
        return root
    repo = spec.get("repo", DEFAULT_REPO)
    fetch_release_scenes(repo, downloads / repo, subset, first, count, spec.get("revision", "main"))
    return downloads / repo


def convert_release_scene(scene_dir: Path, out_folder: Path, image_size: int, eval_fraction: float, meta: dict) -> Path:
    """One release scene folder -> one scene folder of this project (both transforms files), atomically."""
    scene = load_scene(scene_dir)  # raises naming the file at fault
    intrinsics = scene.intrinsics_normalized  # (V, 3, 3), normalised by the image side
    if not np.allclose(intrinsics, intrinsics[:1], atol=1e-6):
        raise ValueError(f"igae: {scene_dir / 'transforms_opencv.json'}: the views have different intrinsics")
    camera = {
        "fl_x": float(intrinsics[0, 0, 0]) * image_size,
        "fl_y": float(intrinsics[0, 1, 1]) * image_size,
        "cx": float(intrinsics[0, 0, 2]) * image_size,
        "cy": float(intrinsics[0, 1, 2]) * image_size,
        "w": image_size,
        "h": image_size,
    }
    images = resize_views(scene.images, image_size)  # (V, image_size, image_size, 3) uint8
    return write_scene(out_folder, images, scene.c2w_opencv, camera, eval_count(len(images), eval_fraction), meta)


def build_release_dataset(
    out_dir: str | Path,
    release_root: str | Path,
    subset: str,
    first: int,
    count: int,
    image_size: int,
    eval_fraction: float,
    log=print,
) -> list[Path]:
    """Convert scenes ``first .. first+count-1`` of a local copy of the release into ``{out_dir}/{subset}_{i:04d}``.

    A scene already converted with the same settings is kept.
    """
    release_root, out_dir = Path(release_root), Path(out_dir)
    ids = _window(scene_ids(release_root, subset), first, count, release_root / map_path(subset))
    folders = []
    for index, scene in zip(range(first, first + count), ids, strict=True):
        folder = out_dir / release_scene_name(subset, index)
        meta = {
            "source": "igae-data",
            "subset": subset,
            "scene_id": scene,
            "image_size": image_size,
            "eval_fraction": eval_fraction,
        }
        if not is_complete_scene(folder, meta):
            convert_release_scene(release_root / scene_path(subset, scene), folder, image_size, eval_fraction, meta)
            log(f"{folder.name}: converted {scene}")
        folders.append(folder)
    return folders


def sample_images(relative_paths: list[str], count: int, seed: int) -> list[int]:
    """Indices of a seeded sample of ``count`` images, the same whatever order the paths were listed in."""
    if len(relative_paths) < count:
        raise ValueError(f"igae: {len(relative_paths)} images under {IMAGENET}/, {count} asked for (real_images.count)")
    order = sorted(range(len(relative_paths)), key=lambda i: relative_paths[i])
    chosen = np.random.default_rng(seed).choice(len(order), size=count, replace=False)
    return [order[i] for i in sorted(chosen)]


def fetch_release_real_images(
    repo: str, cache: Path, count: int, seed: int, revision: str = "main", endpoint: str | None = None
) -> list[Path]:
    """A seeded sample of ``count`` ImageNet images of the release (the authors sample 45,000 with seed 1234).

    The sample depends on the images' paths only, so a local copy (:func:`local_release_real_images`) and the archive
    (:func:`extract_archive_real_images`) give the same. From an archive revision (or an archive already in the
    cache, then without any request) the images are copied out of ``igae-data.tar``.
    """
    if not (cache / ARCHIVE).is_file():
        layout = release_layout(repo, revision, endpoint)
        if layout.archive is None:
            listed = [
                file
                for file in list_release_files(repo, f"{IMAGENET}/*", endpoint=endpoint, revision=revision)
                if Path(file.path).suffix.lower() in IMAGE_SUFFIXES
            ]
            chosen = sample_images([file.path.removeprefix(IMAGENET + "/") for file in listed], count, seed)
            return download_release(repo, [listed[i] for i in chosen], cache, endpoint, revision)
        download_release(repo, [layout.archive], cache, endpoint, revision)
    return extract_archive_real_images(cache / ARCHIVE, cache, count, seed)


def extract_archive_real_images(tar: Path, root: Path, count: int, seed: int) -> list[Path]:
    """The seeded sample of :func:`sample_images` from the archive ``tar``, copied out into ``root`` (release paths,
    each file atomically; a file already there with the member's size is kept)."""
    with cache_lock(root):
        index = index_archive(tar, root)
        listed = sorted(
            path
            for path in index.members
            if path.startswith(IMAGENET + "/") and PurePosixPath(path).suffix.lower() in IMAGE_SUFFIXES
        )
        if not listed:
            raise FileNotFoundError(f"igae: {tar} has no image member under {index.member(IMAGENET)}/")
        chosen = [listed[i] for i in sample_images([path.removeprefix(IMAGENET + "/") for path in listed], count, seed)]
        missing = [
            path
            for path in chosen
            if not ((root / path).is_file() and (root / path).stat().st_size == index.members[path][1])
        ]
        for path, data in index.read(missing):
            atomic_write_bytes(root / path, data)
    return [root / path for path in chosen]


def release_real_images(spec: dict, downloads: Path) -> list[Path]:
    """The image files of the ``real_images`` entry's sample: from ``path`` (a local copy of either form) or fetched."""
    count, seed = spec["count"], spec.get("seed", 0)
    if spec.get("path"):
        kind, where = local_release(Path(spec["path"]))
        if kind == "tree":
            return local_release_real_images(where, count, seed)
        return extract_archive_real_images(where, local_archive_root(where, downloads), count, seed)
    repo = spec.get("repo", DEFAULT_REPO)
    return fetch_release_real_images(repo, downloads / repo, count, seed, spec.get("revision", "main"))


def local_release_real_images(release_root: Path, count: int, seed: int) -> list[Path]:
    """The same seeded sample as :func:`fetch_release_real_images`, from a local copy of the release."""
    folder = release_root / IMAGENET
    if not folder.is_dir():
        raise FileNotFoundError(f"igae: {folder} does not exist; is {release_root} a copy of {DEFAULT_REPO}?")
    files = [p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES]
    chosen = sample_images([p.relative_to(folder).as_posix() for p in files], count, seed)
    return [files[i] for i in chosen]


def write_real_image_set(
    files: list[Path], out_dir: str | Path, image_size: int, test_fraction: float, seed: int, source: str
) -> dict:
    """The real-image layout of :mod:`igae.scenes.real_images` (train/, test/, manifest.json) from image files.

    The split is a seeded permutation (the authors' 0.9 / 0.1); images are centre-cropped square and resized to
    ``image_size``. A file that is not a readable image raises a ValueError naming it, and nothing is written.
    """
    from igae.scenes.real_images import write_image_folder

    if len(files) < 2:
        raise ValueError(f"igae: {len(files)} real images; the train/test split needs at least 2")
    order = np.random.default_rng(seed).permutation(len(files))
    test_count = min(max(1, int(round(test_fraction * len(files)))), len(files) - 1)  # both splits non-empty

    def squares():
        for rank, index in enumerate(order):
            path = files[index]
            try:
                with Image.open(path) as image:
                    rgb = np.asarray(image.convert("RGB"))
            except OSError as error:
                raise ValueError(f"igae: {path} is not a readable image ({error})") from error
            side = min(rgb.shape[:2])
            top, left = (rgb.shape[0] - side) // 2, (rgb.shape[1] - side) // 2
            square = rgb[top : top + side, left : left + side]  # (side, side, 3) centre crop
            if side != image_size:
                square = cv2.resize(square, (image_size, image_size), interpolation=cv2.INTER_AREA)
            yield f"{'test' if rank < test_count else 'train'}/{rank:06d}.png", square, path.name

    parameters = {"source": source, "seed": seed, "image_size": image_size, "test_fraction": test_fraction}
    return write_image_folder(out_dir, squares(), parameters)


SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["source", "count"],
    "properties": {
        "source": {"const": "igae-data"},
        "subset": {"type": "string", "default": "objaverse"},
        "first": {
            "type": "integer",
            "minimum": 0,
            "default": 0,
            "description": "index of the first scene in dataset_map.json",
        },
        "count": {"type": "integer", "minimum": 1},
        "eval_fraction": {"$ref": "#/$defs/split/eval_fraction"},
        "path": {
            "type": "string",
            "description": "a local copy of the release (no download): a folder holding train/, or igae-data.tar",
        },
        "repo": {"type": "string", "default": "k-kassab/igae-data"},
        "revision": {"type": "string", "default": "main"},
    },
}


def scene_names(spec: dict) -> list[str]:
    """``{subset}_{first:04d}`` ... ``count`` names: indices into the release's dataset map, known before download."""
    first = spec.get("first", 0)
    return [release_scene_name(spec.get("subset", "objaverse"), i) for i in range(first, first + spec["count"])]


def build(spec: dict, out_dir: Path, image_size: int, downloads: Path, log=print) -> list[Path]:
    """Convert the entry's scenes from ``path`` (a local copy: a folder or the archive), or from the Hub."""
    root = prepared_release(spec, downloads)
    return build_release_dataset(out_dir, root, spec.get("subset", "objaverse"), spec.get("first", 0), spec["count"],
                                 image_size, spec.get("eval_fraction", 0.125), log)  # fmt: skip


def check(spec: dict, where: str) -> None:
    """A ``path`` is a local copy of the release in one of its forms (:func:`local_release`)."""
    if spec.get("path"):
        try:
            local_release(Path(spec["path"]))
        except FileNotFoundError as error:
            raise ValueError(f"{where}.path = {spec['path']!r}: {str(error).removeprefix('igae: ')}") from None


SOURCE = SceneSource(name="igae-data", schema=SCHEMA, scene_names=scene_names, build=build, check=check)


def build_real_images(spec: dict, out_dir: Path, image_size: int, downloads: Path) -> dict:
    """The ``real_images`` set of the release's ImageNet subset: a seeded sample of ``count`` images (downloaded, or
    from a local copy at ``path``), split by ``test_fraction``."""
    files = release_real_images(spec, downloads)
    seed = spec.get("seed", 0)
    return write_real_image_set(files, out_dir, image_size, spec.get("test_fraction", 0.1), seed, "igae-data")


REAL_IMAGE_SOURCE = RealImageSource(
    name="igae-data",
    keys=("count", "seed", "test_fraction", "path", "repo", "revision"),
    build=build_real_images,
)
