"""Scenes from folders of posed photographs or renders (the ``nerfstudio`` and ``blender`` sources): finding the
scene folders of a config entry, and converting their frames into the scene folders of :mod:`igae.scenes.dataset_io`.

A frame becomes a view of this project's layout in four steps:

1. read, its transparency composited onto the entry's ``background`` (white by default: the background every scene
   of this project has, and the one the latent NeRFs' background colour is computed from);
2. undistorted when its camera has lens distortion (OpenCV's radial-tangential model, the one COLMAP's ``OPENCV``
   camera and ``ns-process-data`` write); the principal point and focal lengths are kept;
3. cropped to the largest centred square (the layout, the AEs and the latent NeRFs take square images): a 16:9 capture
   loses its sides, a portrait one its top and bottom;
4. resized to ``image_size`` (OpenCV, ``interpolation``), the intrinsics scaled by the same float ratio:
   ``f' = f * s``, ``c' = (c - crop offset) * s`` with ``s = image_size / side`` (pixel i spans [i, i + 1]).

Every view of a scene must then share one camera (the layout holds one), and the split is kept: the source's eval
frames come first (the layout's eval views are its first ones), then its train frames, each group in the source's
order; the ``igae`` block lists which source file became which view. Poses are kept as they are, in the source's
units: the benchmark's NeRF fits centre and scale them (nerfstudio's dataparser, ``auto_scale_poses``). A scene
converted before from the same transforms file(s) with the same settings is kept (the images are not hashed).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from igae.images import WHITE, centre_square, load_rgb, resize_views
from igae.scenes.dataset_io import check_distinct_scene_names, is_complete_scene, safe_scene_name, write_scene

CAMERA_TOLERANCE = 1e-4
"""Largest difference, in pixels at ``image_size``, between two views' intrinsics that still counts as one camera."""
MIN_TRAIN_VIEWS = 4
"""Fewest train frames a converted scene may have: the rendered sources' minimum of views (a NeRF fitted to one view
has no 3D to learn: a single-view capture once fitted to about 7 dB without a word)."""


@dataclass
class PosedFrame:
    """One frame of a source scene, as the source states it."""

    image: Path
    """The image file."""
    c2w_opencv: np.ndarray
    """(4, 4) float64 camera-to-world, OpenCV axes (x right, y down, z forward)."""
    camera: dict
    """``fl_x, fl_y, cx, cy`` in pixels and ``w, h``, of the image file as stored (pixel i spans [i, i + 1])."""
    distortion: tuple[float, float, float, float, float] | None = None
    """OpenCV's (k1, k2, p1, p2, k3), or None for a pinhole camera."""
    where: str = ""
    """Where the frame is described ("transforms.json: frame 3"), for messages."""


def folder_scene_name(folder: Path) -> str:
    """The scene name of a source folder: its name, characters outside ``[A-Za-z0-9_-]`` replaced by ``_``."""
    return safe_scene_name(Path(os.path.abspath(folder)).name)  # abspath: "." has a name too


def scene_folders(spec: dict, marker: str) -> list[Path]:
    """The source scene folders of an entry: ``path`` itself when it holds ``marker``, else its sub-folders that hold
    it (sorted), or only those named in ``folders``. FileNotFoundError or ValueError say what is wrong."""
    root = Path(spec["path"])
    if not root.is_dir():
        raise FileNotFoundError(f"igae: {root} is not a folder")
    if (root / marker).is_file():
        if spec.get("folders"):
            raise ValueError(f"igae: {root} is itself a scene (it holds {marker}); `folders` picks sub-folders only")
        return [root]
    if spec.get("folders"):
        folders = [root / name for name in spec["folders"]]
        lacking = [folder.name for folder in folders if not (folder / marker).is_file()]
        if lacking:
            raise FileNotFoundError(f"igae: {root}: the folders {lacking} of `folders` hold no {marker}")
    else:
        folders = sorted(folder for folder in root.iterdir() if (folder / marker).is_file())
        if not folders:
            raise FileNotFoundError(f"igae: {root} holds no {marker}, nor does any of its sub-folders")
    check_distinct_scene_names([folder_scene_name(folder) for folder in folders], root, "folders")
    return folders


def check_folders(spec: dict, where: str, marker: str) -> None:
    """The config check of a folder source: ``path`` names a scene folder, or a folder of them (ValueError)."""
    try:
        scene_folders(spec, marker)
    except (FileNotFoundError, ValueError) as error:
        raise ValueError(f"{where}.path = {spec['path']!r}: {str(error).removeprefix('igae: ')}") from None


def c2w_matrix(frame: dict, where: str) -> np.ndarray:
    """(4, 4) float64 of a frame's ``transform_matrix`` (3x4 or 4x4); ValueError names the frame."""
    if "transform_matrix" not in frame:
        raise ValueError(f"igae: {where} has no transform_matrix")
    try:
        matrix = np.asarray(frame["transform_matrix"], dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"igae: {where}: transform_matrix is not a matrix of numbers") from error
    if matrix.shape == (3, 4):
        matrix = np.concatenate([matrix, [[0.0, 0.0, 0.0, 1.0]]])
    if matrix.shape != (4, 4) or not np.isfinite(matrix).all():
        raise ValueError(f"igae: {where}: transform_matrix has shape {matrix.shape}; expected 4x4 finite numbers")
    return matrix


def square_view(
    frame: PosedFrame, image_size: int, background: tuple[float, float, float], interpolation: str
) -> tuple[np.ndarray, dict]:
    """One frame as a view of the layout: RGB uint8 (image_size, image_size, 3) and its intrinsics (steps 1-4 of the
    module docstring)."""
    rgb = load_rgb(frame.image, background)  # (H, W, 3) float32 in [0, 1]
    height, width = rgb.shape[:2]
    camera = frame.camera
    if (width, height) != (int(camera["w"]), int(camera["h"])):
        raise ValueError(
            f"igae: {frame.image} is {width}x{height} but {frame.where} says {int(camera['w'])}x{int(camera['h'])}"
        )
    if frame.distortion is not None and any(frame.distortion):
        rgb = undistort(rgb, camera, frame.distortion)
    left, top, side = centre_square(width, height)
    square = rgb[top : top + side, left : left + side]  # (side, side, 3)
    scale = image_size / side
    intrinsics = {
        "fl_x": float(camera["fl_x"]) * scale,
        "fl_y": float(camera["fl_y"]) * scale,
        "cx": (float(camera["cx"]) - left) * scale,
        "cy": (float(camera["cy"]) - top) * scale,
        "w": image_size,
        "h": image_size,
    }
    return resize_views(square[None], image_size, interpolation)[0], intrinsics


def undistort(rgb: np.ndarray, camera: dict, distortion: tuple[float, ...]) -> np.ndarray:
    """(H, W, 3) image of a lens with OpenCV's (k1, k2, p1, p2, k3) -> the pinhole image of the same intrinsics.

    Pixels that the lens did not see (near corners, for barrel distortion) repeat the nearest edge pixel.
    """
    import cv2

    height, width = rgb.shape[:2]
    # OpenCV puts pixel centres at integers; this project, nerfstudio and COLMAP at i + 0.5: shift the principal point
    k = np.array([[camera["fl_x"], 0.0, camera["cx"] - 0.5], [0.0, camera["fl_y"], camera["cy"] - 0.5], [0, 0, 1.0]])
    map_x, map_y = cv2.initUndistortRectifyMap(k, np.asarray(distortion), None, k, (width, height), cv2.CV_32FC1)
    return cv2.remap(rgb, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def convert_posed_scene(
    folder: Path,
    eval_frames: list[PosedFrame],
    train_frames: list[PosedFrame],
    image_size: int,
    background: tuple[float, float, float],
    interpolation: str,
    meta: dict,
    source_root: Path,
    log=print,
) -> Path:
    """Write the frames as the scene ``folder`` (eval frames first), unless it is complete with this ``meta``.

    The ``igae`` block is ``meta`` plus ``frames``: each view's source image, relative to ``source_root``.
    """
    if not eval_frames or not train_frames:
        raise ValueError(
            f"igae: {source_root}: {len(train_frames)} train and {len(eval_frames)} eval frames; a scene needs both"
        )
    if len(train_frames) < MIN_TRAIN_VIEWS:
        raise ValueError(
            f"igae: {source_root}: {len(train_frames)} train frame(s) ({meta.get('split', 'the split')}); a scene "
            f"needs at least {MIN_TRAIN_VIEWS} train views for a NeRF to fit. Add train frames, or leave the folder "
            "out (`folders`)"
        )
    frames = [*eval_frames, *train_frames]
    meta = {**meta, "frames": [Path(os.path.relpath(frame.image, source_root)).as_posix() for frame in frames]}
    if is_complete_scene(folder, meta):
        log(f"{folder.name}: kept (converted from {source_root} with these settings before)")
        return folder
    images, cameras = [], []
    for frame in frames:
        image, camera = square_view(frame, image_size, background, interpolation)  # (S, S, 3) uint8, intrinsics
        images.append(image)
        cameras.append(camera)
    reference = np.array([cameras[0][key] for key in ("fl_x", "fl_y", "cx", "cy")])
    for frame, camera in zip(frames, cameras, strict=True):
        values = np.array([camera[key] for key in ("fl_x", "fl_y", "cx", "cy")])
        if np.abs(values - reference).max() > CAMERA_TOLERANCE:
            raise ValueError(
                f"igae: {frame.where} has other intrinsics than {frames[0].where} (fl_x, fl_y, cx, cy at "
                f"{image_size} px: {values.round(4).tolist()} vs {reference.round(4).tolist()}); a scene folder holds "
                "one camera: convert a capture of one camera"
            )
    c2w_opencv = np.stack([frame.c2w_opencv for frame in frames])  # (V, 4, 4)
    write_scene(folder, np.stack(images), c2w_opencv, cameras[0], len(eval_frames), meta)
    log(f"{folder.name}: converted {len(train_frames)} train and {len(eval_frames)} eval frames of {source_root}")
    return folder


def background_of(spec: dict) -> tuple[float, float, float]:
    """The entry's ``background`` (RGB in [0, 1]), white by default."""
    return tuple(float(value) for value in spec.get("background", WHITE))


FOLDER_PROPERTIES = {
    "path": {"type": "string", "description": "a scene folder, or a folder of scene folders (one scene each)"},
    "folders": {
        "type": "array",
        "items": {"type": "string"},
        "minItems": 1,
        "uniqueItems": True,
        "description": "only these sub-folders of `path`",
    },
    "background": {
        "type": "array",
        "items": {"type": "number", "minimum": 0, "maximum": 1},
        "minItems": 3,
        "maxItems": 3,
        "default": [1, 1, 1],
        "description": "RGB in [0, 1] under transparent pixels (white: what the latent NeRFs assume)",
    },
    "interpolation": {"enum": ["area", "linear", "cubic"], "default": "area"},
}
"""Schema properties the folder sources share (each source's schema lists them: the schema file shows them all)."""
