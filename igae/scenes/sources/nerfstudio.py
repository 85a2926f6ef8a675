"""Source ``nerfstudio``: any folder in nerfstudio's data format, e.g. what ``ns-process-data images|video`` writes
from a capture, converted into a scene folder of this project (:mod:`igae.scenes.sources.posed`: crop, resize, split).

Read, as nerfstudio's own dataparser reads it::

    {path}/transforms.json    camera_model (a perspective one), fl_x, fl_y, cx, cy, w, h and the distortion
                              (k1, k2, k3, k4, p1, p2 or distortion_params) at the top level or in each frame;
                              frames: file_path (relative to the folder), transform_matrix (OpenGL camera-to-world);
                              optionally train_filenames / val_filenames / test_filenames
    {path}/images/...         the images the frames name

- frames are sorted by file path, as nerfstudio sorts them;
- the split is kept when the file has one: ``train_filenames`` train, ``test_filenames`` (else ``val_filenames``)
  evaluate, frames in neither are left out. Without one, a fixed split is made as nerfstudio's ``fraction`` eval
  mode makes it: ceil(eval_fraction * V) eval frames, the train frames evenly spaced from the first to the last, so a
  capture along a path has its eval views between train views, never a held-out stretch at one end;
- distortion (COLMAP's ``OPENCV`` camera, which ``ns-process-data`` writes) is undone; fisheye and other
  non-perspective cameras are refused (``ns-process-data --camera-type perspective`` makes a perspective capture);
- ``mask_path`` and ``depth_file_path`` are not used; ``images_2/`` ... (nerfstudio's downscaled copies) neither: the
  frames' own files are read.

``path`` is one such folder (scene name: its name) or a folder of them (one scene each, ``folders`` to pick some):
the folder is listed when the workflow is planned (it is local), never read further.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from igae.files import file_sha256
from igae.scenes.cameras import opengl_to_opencv
from igae.scenes.dataset_io import INTRINSIC_KEYS, eval_count, read_transforms
from igae.scenes.sources.posed import (
    FOLDER_PROPERTIES,
    PosedFrame,
    background_of,
    c2w_matrix,
    check_folders,
    convert_posed_scene,
    folder_scene_name,
    scene_folders,
)
from igae.scenes.sources.source import SceneSource

MARKER = "transforms.json"
"""The file that makes a folder a nerfstudio scene."""
PERSPECTIVE_MODELS = ("SIMPLE_PINHOLE", "PINHOLE", "SIMPLE_RADIAL", "RADIAL", "OPENCV")
"""nerfstudio's ``camera_model`` values of perspective cameras (the absent key means perspective too)."""
DISTORTION_KEYS = ("k1", "k2", "k3", "k4", "p1", "p2")
"""nerfstudio's distortion keys, in the order of its ``distortion_params``."""

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["source", "path"],
    "description": "nerfstudio-format folders (transforms.json + images, e.g. from ns-process-data)",
    "properties": {
        "source": {"const": "nerfstudio"},
        **FOLDER_PROPERTIES,
        "eval_fraction": {"$ref": "#/$defs/split/eval_fraction"},
    },
}


def distortion(frame: dict, transforms: dict, where: str) -> tuple[float, float, float, float, float] | None:
    """OpenCV's (k1, k2, p1, p2, k3) of a frame (top-level keys win, as in nerfstudio), None when all are zero."""
    owner = transforms if any(key in transforms for key in (*DISTORTION_KEYS, "distortion_params")) else frame
    if "distortion_params" in owner:
        values = dict(zip(DISTORTION_KEYS, map(float, owner["distortion_params"]), strict=False))
    else:
        values = {key: float(owner.get(key, 0.0)) for key in DISTORTION_KEYS}
    if values.get("k4", 0.0):
        raise ValueError(f"igae: {where}: k4 = {values['k4']} (an r^8 term) is not in OpenCV's radial-tangential model")
    coefficients = tuple(values.get(key, 0.0) for key in ("k1", "k2", "p1", "p2", "k3"))
    return coefficients if any(coefficients) else None


def read_frames(folder: Path) -> tuple[list[PosedFrame], dict]:
    """The frames of a nerfstudio folder, sorted by file path, and its transforms file; errors name the frame."""
    path = folder / MARKER
    transforms = read_transforms(path, remedy="fix the file")
    model = transforms.get("camera_model", "OPENCV")
    if model not in PERSPECTIVE_MODELS:
        raise ValueError(
            f"igae: {path}: camera_model {model} is not a perspective camera ({', '.join(PERSPECTIVE_MODELS)}); "
            "scene folders hold pinhole images: process the capture with ns-process-data --camera-type perspective"
        )
    frames = []
    for number, frame in enumerate(transforms["frames"]):
        where = f"{path}: frame {number}"
        if "file_path" not in frame:
            raise ValueError(f"igae: {where} has no file_path")
        camera = {key: frame.get(key, transforms.get(key)) for key in INTRINSIC_KEYS}
        lacking = [key for key, value in camera.items() if value is None]
        if lacking:
            raise ValueError(f"igae: {where} has no {lacking}, neither in the frame nor at the top level")
        image = Path(os.path.normpath(folder / frame["file_path"]))
        if not image.is_file():
            raise FileNotFoundError(f"igae: {where} points to {frame['file_path']}, which does not exist ({image})")
        c2w_opencv = opengl_to_opencv(c2w_matrix(frame, where))
        frames.append(PosedFrame(image, c2w_opencv, camera, distortion(frame, transforms, where), where))
    return sorted(frames, key=lambda frame: frame.image), transforms


def split_frames(
    frames: list[PosedFrame], transforms: dict, folder: Path, eval_fraction: float
) -> tuple[list[PosedFrame], list[PosedFrame], str]:
    """(eval frames, train frames, how the split was decided): the file's own split, or nerfstudio's fraction rule."""
    path = folder / MARKER
    if any(f"{split}_filenames" in transforms for split in ("train", "val", "test")):
        eval_key = "test_filenames" if "test_filenames" in transforms else "val_filenames"
        if "train_filenames" not in transforms or eval_key not in transforms:
            raise ValueError(f"igae: {path} has a split without train_filenames and test_filenames (or val_filenames)")
        index = {frame.image: i for i, frame in enumerate(frames)}
        chosen = {}
        for key in ("train_filenames", eval_key):
            names = [Path(os.path.normpath(folder / name)) for name in transforms[key]]
            unknown = [name.name for name in names if name not in index]
            if unknown:
                raise ValueError(f"igae: {path}: {key} names {unknown[:3]}, which no frame has")
            chosen[key] = {index[name] for name in names}
        both = chosen["train_filenames"] & chosen[eval_key]
        if both:
            raise ValueError(f"igae: {path}: {frames[min(both)].image.name} is in train_filenames and {eval_key}")
        eval_frames = [frame for i, frame in enumerate(frames) if i in chosen[eval_key]]
        train_frames = [frame for i, frame in enumerate(frames) if i in chosen["train_filenames"]]
        return eval_frames, train_frames, f"{MARKER}: train_filenames, {eval_key}"
    if len(frames) < 2:
        raise ValueError(f"igae: {path} has {len(frames)} frame; a scene needs a train and an eval view")
    train = set(np.linspace(0, len(frames) - 1, len(frames) - eval_count(len(frames), eval_fraction), dtype=int))
    eval_frames = [frame for i, frame in enumerate(frames) if i not in train]
    train_frames = [frame for i, frame in enumerate(frames) if i in train]
    return eval_frames, train_frames, f"made: train frames evenly spaced, eval_fraction {eval_fraction}"


def scene_names(spec: dict) -> list[str]:
    """The names of the entry's folders (``path`` is listed: it is local)."""
    return [folder_scene_name(folder) for folder in scene_folders(spec, MARKER)]


def build(spec: dict, out_dir: Path, image_size: int, downloads: Path, log=print) -> list[Path]:
    """Convert every folder of the entry into ``{out_dir}/{name}`` (kept when converted before with these settings)."""
    eval_fraction = spec.get("eval_fraction", 0.125)
    background, interpolation = background_of(spec), spec.get("interpolation", "area")
    folders = []
    for source in scene_folders(spec, MARKER):
        frames, transforms = read_frames(source)
        eval_frames, train_frames, split = split_frames(frames, transforms, source, eval_fraction)
        meta = {
            "source": "nerfstudio",
            "folder": source.name,
            "transforms_sha256": file_sha256(source / MARKER),
            "camera_model": transforms.get("camera_model", "OPENCV"),
            "split": split,
            "image_size": image_size,
            "crop": "largest centred square",
            "background": background,
            "interpolation": interpolation,
        }
        folder = out_dir / folder_scene_name(source)
        convert_posed_scene(folder, eval_frames, train_frames, image_size, background, interpolation, meta, source,
                            log)  # fmt: skip
        folders.append(folder)
    return folders


def check(spec: dict, where: str) -> None:
    """``path`` is a nerfstudio folder or a folder of them."""
    check_folders(spec, where, MARKER)


SOURCE = SceneSource(
    name="nerfstudio", schema=SCHEMA, scene_names=scene_names, build=build, check=check, rig_units=False
)
