"""Source ``blender``: scenes in the NeRF-synthetic layout (Mildenhall et al. 2020; what Blender scripts for NeRF
write), converted into a scene folder of this project (:mod:`igae.scenes.sources.posed`: crop, resize, split).

Read::

    {path}/transforms_train.json   camera_angle_x (horizontal field of view, radians; camera_angle_y optional),
    {path}/transforms_test.json    frames: file_path (relative, the ``.png`` usually left out: ``./train/r_0``),
    {path}/transforms_val.json             transform_matrix (OpenGL camera-to-world)
    {path}/train/r_0.png ...       RGBA renders on a transparent background

- the principal point is the image centre, the focal length ``0.5 * W / tan(0.5 * camera_angle_x)`` (``fl_y`` from
  ``camera_angle_y`` when given, else the same);
- the split is kept: ``transforms_train.json`` trains, ``transforms_test.json`` evaluates (``transforms_val.json``
  when there is no test file); the val frames are otherwise left out, as NeRF-synthetic benchmarks leave them;
- transparent pixels are composited onto ``background`` (white by default, as NeRF-synthetic results are reported).

``path`` is one such folder (scene name: its name; e.g. ``nerf_synthetic/lego``) or a folder of them (``folders``
picks some, e.g. ``[lego, chair]``): the folder is listed when the workflow is planned, never read further.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from igae.files import file_sha256
from igae.images import open_image
from igae.scenes.cameras import opengl_to_opencv
from igae.scenes.dataset_io import read_transforms
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

MARKER = "transforms_train.json"
"""The file that makes a folder a Blender-layout scene."""

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["source", "path"],
    "description": "NeRF-synthetic layout: transforms_train/test(/val).json with camera_angle_x, RGBA renders",
    "properties": {
        "source": {"const": "blender"},
        **FOLDER_PROPERTIES,
    },
}


def image_file(folder: Path, file_path: str) -> Path:
    """The image a frame names: ``file_path`` as written, else with ``.png`` added (Blender's scripts leave it out)."""
    path = Path(os.path.normpath(folder / file_path))
    if path.is_file() or path.suffix.lower() in (".png", ".jpg", ".jpeg"):
        return path
    return path.with_name(path.name + ".png")


def read_split(folder: Path, split: str) -> list[PosedFrame]:
    """The frames of ``transforms_{split}.json``, in its order; errors name the file and the frame."""
    path = folder / f"transforms_{split}.json"
    transforms = read_transforms(path, remedy="fix the file")
    angles = {}
    for key in ("camera_angle_x", "camera_angle_y"):
        if key in transforms:
            angles[key] = float(transforms[key])
            if not 0.0 < angles[key] < math.pi:
                raise ValueError(f"igae: {path}: {key} = {angles[key]} must be a field of view in (0, pi) radians")
    if "camera_angle_x" not in angles:
        raise ValueError(f"igae: {path} has no camera_angle_x (the horizontal field of view, in radians)")
    frames = []
    for number, frame in enumerate(transforms["frames"]):
        where = f"{path}: frame {number}"
        if "file_path" not in frame:
            raise ValueError(f"igae: {where} has no file_path")
        image = image_file(folder, frame["file_path"])
        if not image.is_file():
            raise FileNotFoundError(f"igae: {where} points to {frame['file_path']}, which does not exist ({image})")
        with open_image(image) as opened:  # the header only: the size
            width, height = opened.size
        fl_x = 0.5 * width / math.tan(0.5 * angles["camera_angle_x"])
        fl_y = 0.5 * height / math.tan(0.5 * angles["camera_angle_y"]) if "camera_angle_y" in angles else fl_x
        camera = {"fl_x": fl_x, "fl_y": fl_y, "cx": width / 2.0, "cy": height / 2.0, "w": width, "h": height}
        frames.append(PosedFrame(image, opengl_to_opencv(c2w_matrix(frame, where)), camera, None, where))
    return frames


def scene_names(spec: dict) -> list[str]:
    """The names of the entry's folders (``path`` is listed: it is local)."""
    return [folder_scene_name(folder) for folder in scene_folders(spec, MARKER)]


def build(spec: dict, out_dir: Path, image_size: int, downloads: Path, log=print) -> list[Path]:
    """Convert every folder of the entry into ``{out_dir}/{name}`` (kept when converted before with these settings)."""
    background, interpolation = background_of(spec), spec.get("interpolation", "area")
    folders = []
    for source in scene_folders(spec, MARKER):
        eval_split = "test" if (source / "transforms_test.json").is_file() else "val"
        if not (source / f"transforms_{eval_split}.json").is_file():
            raise FileNotFoundError(f"igae: {source} has {MARKER} but neither transforms_test.json nor _val.json")
        meta = {
            "source": "blender",
            "folder": source.name,
            "transforms_sha256": {
                split: file_sha256(source / f"transforms_{split}.json") for split in ("train", eval_split)
            },
            "split": f"train: transforms_train.json, eval: transforms_{eval_split}.json",
            "image_size": image_size,
            "crop": "largest centred square",
            "background": background,
            "interpolation": interpolation,
        }
        folder = out_dir / folder_scene_name(source)
        convert_posed_scene(folder, read_split(source, eval_split), read_split(source, "train"), image_size,
                            background, interpolation, meta, source, log)  # fmt: skip
        folders.append(folder)
    return folders


def check(spec: dict, where: str) -> None:
    """``path`` is a Blender-layout folder or a folder of them."""
    check_folders(spec, where, MARKER)


SOURCE = SceneSource(name="blender", schema=SCHEMA, scene_names=scene_names, build=build, check=check, rig_units=False)
