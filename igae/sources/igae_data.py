"""The authors' release ``k-kassab/igae-data`` (a Hugging Face dataset, ~45 GB): only the parts a config needs.

Layout read (docs/paper.md#training-data; the authors' ``datasets/dataset.py``)::

    train/objaverse/dataset_map.json                    {"objaverse": [scene ids ...]}
    train/objaverse/square128/{scene}/transforms_opencv.json   frames: file_path, transform_matrix (OpenCV c2w),
                                                               fl_x, fl_y, cx, cy, w, h
    train/objaverse/square128/{scene}/<images>          the images the frames name (folder name inferred: any)
    train/imagenet/square128/**.{png,jpg,jpeg}          the real images (ImageNet at 128 px)

Inferred, not documented: the image folder inside a scene (we download whatever the scene folder holds, and the
frames' ``file_path`` decide), and that the listing's LFS sha256 pins every image.

Scenes are converted into this project's scene folders (:func:`igae.scenes.dataset_io.write_scene`): read with
:func:`igae.scenes.dataset_io.load_scene`, which names the file at fault (missing image, malformed transforms file,
image of the wrong size) before anything trains; resized to ``image_size`` when the release's size differs
(intrinsics scaled by the same float ratio); the first ceil(eval_fraction * V) views are the eval views.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from igae.provenance import atomic_write_json
from igae.scenes.dataset_io import IMAGE_SUFFIXES, eval_count, is_complete_scene, load_scene, write_scene
from igae.scenes.images import resize_views
from igae.sources.download import ReleaseFile, download_release, list_release_files
from igae.sources.registry import SceneSource

DEFAULT_REPO = "k-kassab/igae-data"
INVENTORY = ".igae-files.json"
"""Written into a cached scene folder once all its files are there (their repository paths)."""


def release_scene_name(subset: str, index: int) -> str:
    """Scene folder name of the ``index``-th scene of the release's dataset map (known before any download)."""
    return f"{subset}_{index:04d}"


def scene_ids(release_root: Path, subset: str) -> list[str]:
    """The scene ids of ``train/{subset}/dataset_map.json`` under a local copy of the release."""
    path = release_root / "train" / subset / "dataset_map.json"
    if not path.is_file():
        raise FileNotFoundError(f"igae: {path} does not exist; is {release_root} a copy of {DEFAULT_REPO}?")
    try:
        ids = json.loads(path.read_text())[subset]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"igae: {path} is not a dataset map {{{subset!r}: [scene ids]}} ({error!r})") from error
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ValueError(f"igae: {path}: {subset!r} must map to a list of scene ids")
    return ids


def fetch_release_scenes(
    repo: str, cache: Path, subset: str, first: int, count: int, revision: str = "main", endpoint: str | None = None
) -> list[str]:
    """Download the dataset map and scenes ``first .. first+count-1`` of it into ``cache``; return their ids.

    Only those scenes' files are fetched, each verified and resumable (:mod:`igae.sources.download`).
    """
    download_release(repo, [ReleaseFile(f"train/{subset}/dataset_map.json")], cache, endpoint, revision)
    ids = _window(scene_ids(cache, subset), first, count, cache / "train" / subset / "dataset_map.json")
    for scene in ids:
        folder = f"train/{subset}/square128/{scene}"
        inventory = cache / folder / INVENTORY
        if inventory.is_file() and all((cache / path).is_file() for path in json.loads(inventory.read_text())):
            continue  # fetched completely before: no request at all, so a re-run works offline
        files = list_release_files(repo, f"{folder}/*", endpoint=endpoint, revision=revision)
        if not files:
            raise FileNotFoundError(f"igae: {repo} lists no file under {folder}/")
        download_release(repo, files, cache, endpoint, revision)
        atomic_write_json(inventory, [file.path for file in files])
    return ids


def _window(ids: list[str], first: int, count: int, where: Path) -> list[str]:
    if first < 0 or count < 1 or first + count > len(ids):
        raise ValueError(
            f"igae: scenes {first}..{first + count - 1} were asked for, but {where} lists {len(ids)} scenes"
        )
    return ids[first : first + count]


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
    ids = _window(scene_ids(release_root, subset), first, count, release_root / "train" / subset / "dataset_map.json")
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
            convert_release_scene(release_root / "train" / subset / "square128" / scene, folder, image_size,
                                  eval_fraction, meta)  # fmt: skip
            log(f"{folder.name}: converted {scene}")
        folders.append(folder)
    return folders


IMAGENET = "train/imagenet/square128"
"""The release's real images (ImageNet at 128 px)."""


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

    The sample depends on the images' paths only, so a local copy (:func:`local_release_real_images`) gives the same.
    """
    listed = [
        file
        for file in list_release_files(repo, f"{IMAGENET}/*", endpoint=endpoint, revision=revision)
        if Path(file.path).suffix.lower() in IMAGE_SUFFIXES
    ]
    chosen = sample_images([file.path.removeprefix(IMAGENET + "/") for file in listed], count, seed)
    return download_release(repo, [listed[i] for i in chosen], cache, endpoint, revision)


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
    """The real-image layout of :mod:`igae.real_images` (train/, test/, manifest.json) from image files.

    The split is a seeded permutation (the authors' 0.9 / 0.1); images are centre-cropped square and resized to
    ``image_size``. A file that is not a readable image raises a ValueError naming it, and nothing is written.
    """
    from igae.real_images import write_image_folder

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
        "path": {"type": "string", "description": "a local copy of the release (no download)"},
        "repo": {"type": "string", "default": "k-kassab/igae-data"},
        "revision": {"type": "string", "default": "main"},
    },
}


def scene_names(spec: dict) -> list[str]:
    """``{subset}_{first:04d}`` ... ``count`` names: indices into the release's dataset map, known before download."""
    first = spec.get("first", 0)
    return [release_scene_name(spec.get("subset", "objaverse"), i) for i in range(first, first + spec["count"])]


def build(spec: dict, out_dir: Path, image_size: int, downloads: Path, log=print) -> list[Path]:
    """Convert the entry's scenes from ``path`` (a local copy), or from the files fetched into ``downloads``."""
    subset, first = spec.get("subset", "objaverse"), spec.get("first", 0)
    root = spec.get("path")
    if root is None:
        repo = spec.get("repo", DEFAULT_REPO)
        root = downloads / repo
        fetch_release_scenes(repo, root, subset, first, spec["count"], spec.get("revision", "main"))
    return build_release_dataset(out_dir, root, subset, first, spec["count"], image_size,
                                 spec.get("eval_fraction", 0.125), log)  # fmt: skip


SOURCE = SceneSource(name="igae-data", schema=SCHEMA, scene_names=scene_names, build=build)
