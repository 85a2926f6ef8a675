"""Read and write one scene folder in the nerfstudio format, with the authors' OpenCV twin.

Layout of ``{folder}/``::

    images/r_000.png ...        RGB uint8, white background
    transforms.json             nerfstudio: OpenGL c2w, intrinsics at the top level, the fixed split as
                                train_filenames / val_filenames / test_filenames (val == test == the eval views)
    transforms_opencv.json      the same cameras, OpenCV c2w, frames carrying fl_x, fl_y, cx, cy, w, h (authors' layout)

Both files carry an ``igae`` block describing where the scene came from.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from igae.files import atomic_folder
from igae.images import load_rgb
from igae.scenes.cameras import opencv_to_opengl, opengl_to_opencv

INTRINSIC_KEYS = ("fl_x", "fl_y", "cx", "cy", "w", "h")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
"""Image files a source folder may hold."""


@dataclass
class SceneData:
    """One scene in memory, as IG-AE training and the latent encoders read it."""

    folder: Path
    """The scene folder it was read from."""
    images: np.ndarray
    """(V, H, W, 3) float32 RGB in [0, 1], composited on white where the files had alpha."""
    c2w_opencv: np.ndarray
    """(V, 4, 4) float32 camera-to-world, OpenCV axes (x right, y down, z forward)."""
    intrinsics_normalized: np.ndarray
    """(V, 3, 3) float32: [[fx/W, 0, cx/W], [0, fy/H, cy/H], [0, 0, 1]] (the authors' 25-vector convention)."""
    file_paths: list[str]
    """Image paths relative to ``folder``, in frame order."""
    train_indices: np.ndarray
    """(T,) int64 frame indices of the train views."""
    eval_indices: np.ndarray
    """(E,) int64 frame indices of the eval views."""
    image_size: int
    """Side of the square images, in pixels."""
    meta: dict = field(default_factory=dict)
    """The ``igae`` block of the transforms file (empty for scenes from elsewhere)."""

    @property
    def cameras_25(self) -> np.ndarray:
        """(V, 25) float32: flattened OpenCV c2w (16) then normalized intrinsics (9), as the authors' code reads."""
        count = len(self.c2w_opencv)
        return np.concatenate([self.c2w_opencv.reshape(count, 16), self.intrinsics_normalized.reshape(count, 9)], 1)


def safe_scene_name(name: str) -> str:
    """A scene folder name made from a file's or folder's name: characters outside ``[A-Za-z0-9_-]`` become ``_``."""
    return re.sub(r"[^A-Za-z0-9_\-]", "_", name)


def check_distinct_scene_names(names: list[str], where: str | Path, what: str) -> None:
    """ValueError when two sources (``what``: "mesh files", "folders") of ``where`` make one scene name."""
    clashes = sorted({name for name in names if names.count(name) > 1})
    if clashes:
        raise ValueError(f"igae: {where}: several {what} map to the scene names {clashes}; rename them")


def eval_count(views: int, eval_fraction: float) -> int:
    """The authors' ObjectDataset rule: the first ceil(views * eval_fraction) views are the eval views, at least one,
    leaving at least one train view."""
    count = int(np.ceil(views * eval_fraction - 1e-9))
    return min(max(count, 1), views - 1)


def official_eval_count(views: int, eval_fraction: float) -> int:
    """The official code's rule (``ObjectDataset``: ``n_train = ceil(views * split_ratio)``, the rest eval), with
    split_ratio = 1 - eval_fraction: floor(views * eval_fraction) eval views, the first ones, at least one (the
    official code would train on every view and warn), leaving at least one train view. ``parity: official``."""
    count = views - int(np.ceil(views * (1 - eval_fraction) - 1e-9))
    return min(max(count, 1), views - 1)


def _frame_name(index: int, count: int) -> str:
    return f"images/r_{index:0{max(3, len(str(count - 1)))}d}.png"


def _json_ready(value):
    """JSON-serialisable copy (numpy scalars and arrays to Python)."""
    return json.loads(json.dumps(value, default=lambda x: x.tolist() if hasattr(x, "tolist") else str(x)))


def write_scene(
    folder: str | Path,
    images: np.ndarray,
    c2w_opencv: np.ndarray,
    intrinsics: dict,
    eval_count: int,
    meta: dict,
) -> Path:
    """Write a scene folder atomically: everything goes to a temporary sibling folder, renamed at the end.

    Args:
        folder: the scene folder; an existing one is replaced.
        images: RGB uint8 (V, H, W, 3).
        c2w_opencv: camera-to-world (V, 4, 4), OpenCV axes.
        intrinsics: ``fl_x, fl_y, cx, cy`` in pixels and ``w, h``; the same for every view.
        eval_count: the first ``eval_count`` views are the eval views (val == test), the others train.
        meta: written as the ``igae`` block of both transforms files.
    """
    folder = Path(folder)
    images = np.asarray(images)
    c2w_opencv = np.asarray(c2w_opencv, dtype=np.float64)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"igae: write_scene({folder}): images must be uint8 (V, H, W, 3), got {images.dtype} {images.shape}"
        )
    count, height, width = images.shape[:3]
    if c2w_opencv.shape != (count, 4, 4):
        raise ValueError(
            f"igae: write_scene({folder}): c2w_opencv has shape {c2w_opencv.shape}, expected ({count}, 4, 4)"
        )
    missing = [key for key in INTRINSIC_KEYS if key not in intrinsics]
    if missing:
        raise ValueError(f"igae: write_scene({folder}): intrinsics lack {missing}")
    if (int(intrinsics["w"]), int(intrinsics["h"])) != (width, height):
        raise ValueError(
            f"igae: write_scene({folder}): intrinsics say {intrinsics['w']}x{intrinsics['h']} but images are "
            f"{width}x{height}"
        )
    if not 1 <= eval_count < count:
        raise ValueError(f"igae: write_scene({folder}): eval_count = {eval_count} must lie in [1, {count - 1}]")

    camera = {
        "fl_x": float(intrinsics["fl_x"]),
        "fl_y": float(intrinsics["fl_y"]),
        "cx": float(intrinsics["cx"]),
        "cy": float(intrinsics["cy"]),
        "w": int(width),
        "h": int(height),
    }
    names = [_frame_name(i, count) for i in range(count)]
    split = {
        "train_filenames": names[eval_count:],
        "val_filenames": names[:eval_count],
        "test_filenames": names[:eval_count],
    }
    meta = _json_ready(meta)
    transforms_opengl = {
        "camera_model": "OPENCV",
        **camera,
        "frames": [
            {"file_path": name, "transform_matrix": opencv_to_opengl(c2w).tolist()}
            for name, c2w in zip(names, c2w_opencv, strict=True)
        ],
        **split,
        "igae": meta,
    }
    transforms_opencv = {
        "camera_model": "OPENCV",
        **camera,
        "frames": [
            {"file_path": name, "transform_matrix": c2w.tolist(), **camera}
            for name, c2w in zip(names, c2w_opencv, strict=True)
        ],
        **split,
        "igae": meta,
    }

    with atomic_folder(folder) as temporary:
        (temporary / "images").mkdir()
        for name, image in zip(names, images, strict=True):
            Image.fromarray(image).save(temporary / name)
        (temporary / "transforms.json").write_text(json.dumps(transforms_opengl, indent=2))
        (temporary / "transforms_opencv.json").write_text(json.dumps(transforms_opencv, indent=2))
    return folder


def read_transforms(path: Path, remedy: str = "rebuild the scene") -> dict:
    """A transforms file (a JSON object with a non-empty ``frames`` list); the error names the file and ``remedy``."""
    if not path.is_file():
        raise FileNotFoundError(f"igae: {path} does not exist")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"igae: {path} is not valid JSON ({error}); {remedy}") from error
    if not isinstance(data, dict) or not isinstance(data.get("frames"), list) or not data["frames"]:
        raise ValueError(f"igae: {path} has no 'frames' list; it is not a transforms file")
    return data


def is_complete_scene(folder: str | Path, meta: dict) -> bool:
    """Whether ``folder`` holds a whole scene written with this ``igae`` block (both transforms files, all images)."""
    folder = Path(folder)
    try:
        opencv = read_transforms(folder / "transforms_opencv.json")
        opengl = read_transforms(folder / "transforms.json")
    except (FileNotFoundError, ValueError):
        return False
    wanted = _json_ready(meta)
    if opencv.get("igae") != wanted or opengl.get("igae") != wanted:
        return False
    return all((folder / frame.get("file_path", "")).is_file() for frame in opencv["frames"])


def load_scene(folder: str | Path) -> SceneData:
    """Read a scene folder written by :func:`write_scene` (or any nerfstudio folder with a fixed split).

    Reads ``transforms_opencv.json``, or converts ``transforms.json`` when only that one exists. The split comes from
    ``train_filenames`` and ``val_filenames``; without them, the authors' rule applies (the first ceil(10 %) of the
    views are eval views). Raises FileNotFoundError or ValueError naming the file at fault.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"igae: scene folder {folder} does not exist")
    opencv_path, opengl_path = folder / "transforms_opencv.json", folder / "transforms.json"
    if opencv_path.is_file():
        path, is_opengl = opencv_path, False
    elif opengl_path.is_file():
        path, is_opengl = opengl_path, True
    else:
        raise FileNotFoundError(f"igae: {opencv_path} does not exist (nor {opengl_path.name}); rebuild the scene")
    transforms = read_transforms(path)

    images, c2ws, intrinsics, file_paths = [], [], [], []
    for number, frame in enumerate(transforms["frames"]):
        where = f"{path}: frame {number}"
        if "file_path" not in frame or "transform_matrix" not in frame:
            raise ValueError(f"igae: {where} lacks 'file_path' or 'transform_matrix'")
        camera = {key: frame.get(key, transforms.get(key)) for key in INTRINSIC_KEYS}
        lacking = [key for key, value in camera.items() if value is None]
        if lacking:
            raise ValueError(f"igae: {where} has no {lacking}, neither in the frame nor at the top level")
        image_path = folder / frame["file_path"]
        if not image_path.is_file():
            raise FileNotFoundError(
                f"igae: {where} points to {frame['file_path']}, which does not exist ({image_path})"
            )
        image = load_rgb(image_path)  # (H, W, 3), transparency on white
        width, height = int(camera["w"]), int(camera["h"])
        if image.shape[:2] != (height, width):
            raise ValueError(
                f"igae: {image_path} is {image.shape[1]}x{image.shape[0]} but {where} says {width}x{height}; "
                "rebuild the scene"
            )
        matrix = np.asarray(frame["transform_matrix"], dtype=np.float64)
        if matrix.shape == (3, 4):
            matrix = np.concatenate([matrix, [[0.0, 0.0, 0.0, 1.0]]])
        if matrix.shape != (4, 4):
            raise ValueError(f"igae: {where} has a transform_matrix of shape {matrix.shape}, expected 4x4")
        c2ws.append(opengl_to_opencv(matrix) if is_opengl else matrix)
        intrinsics.append(
            [
                [camera["fl_x"] / width, 0.0, camera["cx"] / width],
                [0.0, camera["fl_y"] / height, camera["cy"] / height],
                [0.0, 0.0, 1.0],
            ]
        )
        images.append(image)
        file_paths.append(frame["file_path"])

    sizes = {image.shape[:2] for image in images}
    if len(sizes) != 1 or next(iter(sizes))[0] != next(iter(sizes))[1]:
        raise ValueError(f"igae: {path}: images must be square and of one size, found sizes {sorted(sizes)}")

    def normalise(name: str) -> str:
        return Path(name).as_posix().removeprefix("./")

    index_of = {normalise(name): i for i, name in enumerate(file_paths)}
    if "train_filenames" in transforms and "val_filenames" in transforms:
        splits = []
        for key in ("train_filenames", "val_filenames"):
            unknown = [name for name in transforms[key] if normalise(name) not in index_of]
            if unknown:
                raise ValueError(f"igae: {path}: {key} names {unknown[:3]}, which no frame has")
            splits.append(np.array(sorted(index_of[normalise(name)] for name in transforms[key]), dtype=np.int64))
        train_indices, eval_indices = splits
    else:
        eval_views = eval_count(len(file_paths), 0.1)
        eval_indices, train_indices = np.arange(eval_views), np.arange(eval_views, len(file_paths))

    return SceneData(
        folder=folder,
        images=np.stack(images).astype(np.float32),
        c2w_opencv=np.stack(c2ws).astype(np.float32),
        intrinsics_normalized=np.asarray(intrinsics, dtype=np.float32),
        file_paths=file_paths,
        train_indices=train_indices,
        eval_indices=eval_indices,
        image_size=int(next(iter(sizes))[0]),
        meta=transforms.get("igae", {}),
    )


def scene_folders(dataset_dir) -> list[Path]:
    """The scene folders of a dataset, in name order (hidden leftovers of interrupted writes skipped)."""
    return sorted(p for p in Path(dataset_dir).iterdir() if p.is_dir() and not p.name.startswith("."))
