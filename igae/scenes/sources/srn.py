"""Convert ShapeNet scenes in the SRN layout (Sitzmann et al. 2019, the source of the authors' ShapeNet scenes) into
the scene folders of :mod:`igae.scenes.dataset_io`.

SRN layout of one scene, ``{category}/{scene_id}/``::

    rgb/000000.png ...    RGB or RGBA, square
    pose/000000.txt ...   camera-to-world 4x4, OpenCV axes (x right, y down, z forward): 16 numbers, row-major
    intrinsics.txt        line 1: "f cx cy 0."   focal length and principal point, in pixels
                          line 2: "x y z"        barycenter of SRN's voxel grid (ignored)
                          line 3: "s"            scale of SRN's voxel grid (ignored)
                          line 4: "H W"          the image size the intrinsics refer to
                          line 5 (optional): "1" when the poses are world-to-camera (SRN's world2cam_poses flag)

What this module assumes, after SRN's ``util.parse_intrinsics`` and the authors' ``1_preprocess_shapenet.py``:
- the intrinsics refer to line 4's size, which can differ from the size of the image files: SRN's ``cars_train``
  ships 128 px images with intrinsics at 512 px (f = 525, i.e. 131.25 at 128 px), and the authors' script
  hard-codes that 512. Without a line 4, the intrinsics refer to the image files' size (the ``igae`` block says so);
- fx = fy = f (SRN has one focal length); the principal point is passed on as is, i.e. read in our convention
  (pixel i spans [i, i + 1], so W / 2 is the image centre, where Blender puts it). cv2.resize keeps that convention
  (x' = x * scale), which is why the intrinsics scale by the same ratio as the images;
- frames pair by file stem (``rgb/000007.png`` with ``pose/000007.txt``) and are ordered by stem; the first
  ceil(eval_fraction * V) frames are the eval views, as in every scene of this project.

Images are composited on white (alpha), then resized with OpenCV (``area`` by default; the authors used
``cv2.resize``'s default, ``linear``, which aliases when shrinking 512 px images 4x); intrinsics are scaled by
image_size / line-4 size, a float ratio, never an integer division.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from igae.images import INTERPOLATIONS, load_rgb, resize_views
from igae.scenes.dataset_io import IMAGE_SUFFIXES, eval_count, is_complete_scene, write_scene
from igae.scenes.sources.source import SceneSource

RIGID_TOLERANCE = 1e-3
"""Largest |R^T R - I| entry (and |det R - 1|) accepted for a pose's rotation."""


@dataclass
class SrnIntrinsics:
    """The camera of one SRN scene, as ``intrinsics.txt`` states it."""

    focal: float
    """Focal length in pixels, at ``size``."""
    cx: float
    """Principal point, x, in pixels at ``size``."""
    cy: float
    """Principal point, y, in pixels at ``size``."""
    size: int | None
    """Side of the (square) image the values refer to (line 4); None if the file has no line 4."""
    world2cam: bool
    """Line 5's flag: the pose files hold world-to-camera matrices, to be inverted."""


def read_srn_intrinsics(path: str | Path) -> SrnIntrinsics:
    """Parse an SRN ``intrinsics.txt`` (format in the module docstring); ValueError names the file and the line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"igae: {path} does not exist; every SRN scene folder has an intrinsics.txt")
    lines = [line.split() for line in path.read_text().splitlines()]
    lines = [line for line in lines if line]  # blank lines carry nothing
    expected = 'line 1 "f cx cy 0.", line 2 "x y z", line 3 "scale", line 4 "H W"'

    def numbers(index: int, count: int) -> list[float]:
        try:
            values = [float(value) for value in lines[index]]
        except ValueError as error:
            raise ValueError(f"igae: {path}: line {index + 1} {' '.join(lines[index])!r} is not numbers") from error
        if len(values) < count or not all(math.isfinite(value) for value in values):
            raise ValueError(
                f"igae: {path}: line {index + 1} {' '.join(lines[index])!r} needs {count} finite numbers ({expected})"
            )
        return values

    if not lines:
        raise ValueError(f"igae: {path} is empty; expected SRN intrinsics ({expected})")
    focal, cx, cy = numbers(0, 3)[:3]
    if focal <= 0:
        raise ValueError(f"igae: {path}: line 1 gives a focal length of {focal}; it must be positive")
    size = None
    if len(lines) >= 4:
        height, width = numbers(3, 2)[:2]
        if height != width or height < 1 or height != int(height):
            raise ValueError(f"igae: {path}: line 4 gives an image size {height:g} x {width:g}; expected square H W")
        size = int(height)
        if not (0 < cx < size and 0 < cy < size):
            raise ValueError(
                f"igae: {path}: principal point ({cx:g}, {cy:g}) lies outside the {size} px image of line 4; "
                "the intrinsics and the size line disagree"
            )
    world2cam = len(lines) >= 5 and numbers(4, 1)[0] != 0
    return SrnIntrinsics(focal=focal, cx=cx, cy=cy, size=size, world2cam=world2cam)


def read_srn_pose(path: str | Path, world2cam: bool = False) -> np.ndarray:
    """(4, 4) float64 camera-to-world (OpenCV axes) from an SRN pose file; inverted first when ``world2cam``."""
    path = Path(path)
    try:
        values = [float(value) for value in path.read_text().split()]
    except ValueError as error:
        raise ValueError(f"igae: {path} is not a list of numbers; expected 16 (a row-major 4x4 matrix)") from error
    if len(values) == 12:  # a 3x4 matrix: the last row is implied
        values += [0.0, 0.0, 0.0, 1.0]
    if len(values) != 16 or not all(math.isfinite(value) for value in values):
        raise ValueError(f"igae: {path} holds {len(values)} numbers; expected 16 finite ones (a row-major 4x4 matrix)")
    matrix = np.array(values, dtype=np.float64).reshape(4, 4)
    rotation = matrix[:3, :3]
    rigid = (
        np.allclose(matrix[3], [0.0, 0.0, 0.0, 1.0], atol=1e-6)
        and np.abs(rotation.T @ rotation - np.eye(3)).max() < RIGID_TOLERANCE
        and abs(np.linalg.det(rotation) - 1.0) < RIGID_TOLERANCE
    )
    if not rigid:
        raise ValueError(f"igae: {path} is not a rigid camera pose (rotation not orthonormal, or last row not 0 0 0 1)")
    return np.linalg.inv(matrix) if world2cam else matrix


def _frames(scene: Path) -> list[tuple[Path, Path]]:
    """(image, pose) pairs of an SRN scene, ordered by file stem."""
    rgb, pose = scene / "rgb", scene / "pose"
    if not rgb.is_dir():
        raise FileNotFoundError(f"igae: {rgb} does not exist; {scene} is not an SRN scene folder (rgb/, pose/)")
    images = sorted(p for p in rgb.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if len(images) < 2:
        raise ValueError(f"igae: {rgb} holds {len(images)} image(s); a scene needs at least 2 (train and eval views)")
    pairs = []
    for image in images:
        pose_file = pose / f"{image.stem}.txt"
        if not pose_file.is_file():
            raise FileNotFoundError(f"igae: {image} has no pose: {pose_file} does not exist")
        pairs.append((image, pose_file))
    return pairs


def _load_views(pairs: list[tuple[Path, Path]]) -> np.ndarray:
    """(V, S, S, 3) float32 RGB in [0, 1] on white; ValueError names a non-square or odd-sized image."""
    images = []
    for image_path, _ in pairs:
        image = load_rgb(image_path)  # (H, W, 3), alpha composited on white
        if image.shape[0] != image.shape[1]:
            raise ValueError(f"igae: {image_path} is {image.shape[1]}x{image.shape[0]}; SRN views must be square")
        if images and image.shape != images[0].shape:
            raise ValueError(
                f"igae: {image_path} is {image.shape[1]} px wide but {pairs[0][0]} is {images[0].shape[1]} px; "
                "all views of a scene must have one size"
            )
        images.append(image)
    return np.stack(images)


def _scene_meta(
    name: str, srn_scene: str, views: int, image_size: int, eval_fraction: float, interpolation: str
) -> dict:
    """The part of the ``igae`` block known before reading any image (what decides whether a scene is up to date)."""
    return {
        "source": "shapenet-srn",
        "scene": name,
        "srn_scene": srn_scene,
        "views": views,
        "image_size": image_size,
        "eval_fraction": eval_fraction,
        "interpolation": interpolation,
    }


def convert_srn_scene(
    srn_scene_dir: str | Path,
    out_dir: str | Path,
    image_size: int = 128,
    eval_fraction: float = 0.125,
    name: str | None = None,
    interpolation: str = "area",
) -> Path:
    """Convert one SRN scene folder into the scene folder ``{out_dir}/{name}`` (default name: the SRN folder's).

    Writes both ``transforms.json`` (OpenGL, nerfstudio) and ``transforms_opencv.json`` (the authors' OpenCV twin)
    through :func:`igae.scenes.dataset_io.write_scene`, atomically, replacing an existing folder. Raises
    FileNotFoundError or ValueError naming the file at fault (a missing pose, malformed intrinsics, a non-square
    image, a pose that is not rigid).
    """
    scene = Path(srn_scene_dir)
    if not scene.is_dir():
        raise FileNotFoundError(f"igae: SRN scene folder {scene} does not exist")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"igae: interpolation {interpolation!r} is not one of {sorted(INTERPOLATIONS)}")
    if image_size < 8:
        raise ValueError(f"igae: image_size = {image_size}; use at least 8 pixels")
    name = name or scene.name
    intrinsics = read_srn_intrinsics(scene / "intrinsics.txt")
    pairs = _frames(scene)
    c2w_opencv = np.stack([read_srn_pose(pose, intrinsics.world2cam) for _, pose in pairs])  # (V, 4, 4)
    images = _load_views(pairs)  # (V, S, S, 3) float
    original_size = images.shape[1]
    reference = intrinsics.size if intrinsics.size is not None else original_size
    if intrinsics.size is None and not (0 < intrinsics.cx < reference and 0 < intrinsics.cy < reference):
        raise ValueError(
            f"igae: {scene / 'intrinsics.txt'} has no size line and its principal point ({intrinsics.cx:g}, "
            f"{intrinsics.cy:g}) lies outside the {reference} px images; add line 4 'H W'"
        )
    scale = image_size / reference  # a float ratio: 128 / 512 = 0.25 exactly
    camera = {
        "fl_x": intrinsics.focal * scale,
        "fl_y": intrinsics.focal * scale,
        "cx": intrinsics.cx * scale,
        "cy": intrinsics.cy * scale,
        "w": image_size,
        "h": image_size,
    }
    meta = _scene_meta(name, scene.name, len(pairs), image_size, eval_fraction, interpolation)
    meta.update(
        {
            "srn_frames": [image.stem for image, _ in pairs],
            "original_image_size": original_size,
            "intrinsics_size": reference,
            "intrinsics_size_from": "intrinsics.txt" if intrinsics.size is not None else "the image files",
        }
    )
    images = resize_views(images, image_size, interpolation)  # (V, image_size, image_size, 3) uint8
    return write_scene(Path(out_dir) / name, images, c2w_opencv, camera, eval_count(len(pairs), eval_fraction), meta)


def _is_converted(folder: Path, meta: dict) -> bool:
    """Whether ``folder`` is a complete scene converted with the settings in ``meta`` (the rest of its block is
    what the conversion found: frames, sizes)."""
    try:
        written = json.loads((folder / "transforms_opencv.json").read_text()).get("igae", {})
    except (OSError, json.JSONDecodeError, AttributeError):
        return False
    return all(written.get(key) == value for key, value in meta.items()) and is_complete_scene(folder, written)


def convert_srn_category(
    srn_root: str | Path,
    out_dataset_dir: str | Path,
    limit: int | None = None,
    image_size: int = 128,
    eval_fraction: float = 0.125,
    interpolation: str = "area",
    prefix: str | None = None,
) -> list[Path]:
    """Convert the first ``limit`` scenes (by name; all when None) of an SRN category folder; return their folders.

    ``srn_root`` holds one SRN scene folder per object (``{srn_root}/{scene_id}/rgb`` ...). Scenes land in
    ``{out_dataset_dir}/{scene_id}``, or ``{out_dataset_dir}/{prefix}_{i:03d}`` with a ``prefix`` (names known before
    the folder is read, as the workflow needs); a scene already converted with the same settings is kept. Also writes
    ``{out_dataset_dir}/dataset_map.json`` = ``{category: [scene ids]}`` (the authors' map, category = the name of
    ``srn_root``).
    """
    root, out = Path(srn_root), Path(out_dataset_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"igae: SRN category folder {root} does not exist")
    scenes = sorted(p for p in root.iterdir() if p.is_dir() and (p / "rgb").is_dir())
    if not scenes:
        raise FileNotFoundError(f"igae: {root} holds no SRN scene folder (a folder with rgb/, pose/, intrinsics.txt)")
    if limit is not None:
        if limit < 1:
            raise ValueError(f"igae: limit = {limit}; ask for at least one scene")
        if limit > len(scenes):
            raise ValueError(f"igae: {root} holds {len(scenes)} SRN scenes, {limit} asked for; lower `count`")
        scenes = scenes[:limit]
    folders = []
    for index, scene in enumerate(scenes):
        name = scene.name if prefix is None else f"{prefix}_{index:03d}"
        folder = out / name
        views = sum(1 for p in (scene / "rgb").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not _is_converted(folder, _scene_meta(name, scene.name, views, image_size, eval_fraction, interpolation)):
            convert_srn_scene(scene, out, image_size, eval_fraction, name=name, interpolation=interpolation)
        folders.append(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / "dataset_map.json").write_text(json.dumps({root.name: [scene.name for scene in scenes]}, indent=2))
    return folders


SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["source", "path", "count"],
    "properties": {
        "source": {"const": "srn"},
        "path": {"type": "string", "description": "a local ShapeNet-SRN category folder (ShapeNet needs a licence)"},
        "count": {"type": "integer", "minimum": 1, "description": "the first `count` scenes, by folder name"},
        "eval_fraction": {"$ref": "#/$defs/split/eval_fraction"},
        "interpolation": {"enum": ["area", "linear", "cubic"], "default": "area"},
    },
}


def scene_names(spec: dict) -> list[str]:
    """``{category folder}_000`` ... ``count`` names: known before the folder is read."""
    return [f"{Path(spec['path']).name}_{index:03d}" for index in range(spec["count"])]


def build(spec: dict, out_dir: Path, image_size: int, downloads: Path, log=print) -> list[Path]:
    """Convert the category's first ``count`` scenes (by folder name)."""
    return convert_srn_category(spec["path"], out_dir, spec["count"], image_size, spec.get("eval_fraction", 0.125),
                                spec.get("interpolation", "area"), prefix=Path(spec["path"]).name)  # fmt: skip


SOURCE = SceneSource(name="srn", schema=SCHEMA, scene_names=scene_names, build=build)
