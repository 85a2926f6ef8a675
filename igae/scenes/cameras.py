"""Camera rig and conventions shared by every scene source.

The rig (:class:`CameraRig`) is the rendered sources' (procedural, mesh): cameras on a sphere about the origin, looking
at it, an object inside the ball of radius :data:`OBJECT_RADIUS`; the authors' Objaverse rig.

Conventions (the same as the authors' IG-AE code and nerfstudio):
- world up is +z;
- ``c2w_opencv``: camera-to-world 4x4, camera axes x right, y down, z forward (``transforms_opencv.json``);
- ``c2w_opengl``: camera-to-world 4x4, camera axes x right, y up, z backward (nerfstudio's ``transforms.json``);
- pixel coordinates: u to the right, v down, the centre of pixel i is at i + 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OPENCV_TO_OPENGL = np.diag([1.0, -1.0, -1.0, 1.0])
"""Right-multiplying a c2w by this flips the camera's y and z axes; the matrix is its own inverse."""

GOLDEN_ANGLE = np.pi * (3.0 - np.sqrt(5.0))
"""Azimuth increment of the Fibonacci spiral, in radians."""


def look_at_c2w_opencv(
    position: np.ndarray | tuple[float, float, float],
    target: np.ndarray | tuple[float, float, float] = (0.0, 0.0, 0.0),
    up: np.ndarray | tuple[float, float, float] = (0.0, 0.0, 1.0),
) -> np.ndarray:
    """Camera-to-world matrix (OpenCV axes) of a camera at ``position`` looking at ``target``.

    The image's "up" (-y) is the projection of ``up`` on the image plane. Returns a (4, 4) float64 array.
    """
    position = np.asarray(position, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    up = np.asarray(up, dtype=np.float64)
    forward = target - position
    distance = np.linalg.norm(forward)
    if distance < 1e-12:
        raise ValueError(f"look_at_c2w_opencv: position {position.tolist()} equals target; the view is undefined")
    forward = forward / distance
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-8:  # looking straight along `up`: any horizontal axis will do
        right = np.cross(forward, np.array([0.0, 1.0, 0.0]) if abs(forward[1]) < 0.9 else np.array([1.0, 0.0, 0.0]))
    right = right / np.linalg.norm(right)
    down = np.cross(forward, right)  # x cross y = z for a right-handed (right, down, forward) frame
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, down, forward, position
    return c2w


def opencv_to_opengl(c2w: np.ndarray) -> np.ndarray:
    """Convert camera-to-world matrices (..., 4, 4) between OpenCV and OpenGL camera axes (the map is an involution)."""
    c2w = np.asarray(c2w, dtype=np.float64)
    return c2w @ OPENCV_TO_OPENGL


opengl_to_opencv = opencv_to_opengl
"""The inverse conversion is the same flip."""


def orbit_positions(
    n: int,
    radius: float,
    seed: int,
    elevation_range_deg: tuple[float, float] = (-30.0, 60.0),
) -> np.ndarray:
    """Deterministic camera centres on a sphere of ``radius`` around the origin, shape (n, 3).

    The points follow a Fibonacci spiral over the band of elevations ``elevation_range_deg`` (uniform in area, so the
    views cover the band evenly), turned by a seeded azimuth, then listed in a seeded random order: the first views,
    which the authors' split rule keeps for evaluation, are spread over the band instead of bunched at its bottom.
    """
    if n < 1:
        raise ValueError(f"orbit_positions: n = {n}; ask for at least one camera")
    low, high = np.deg2rad(elevation_range_deg[0]), np.deg2rad(elevation_range_deg[1])
    if not -np.pi / 2 <= low < high <= np.pi / 2:
        raise ValueError(
            f"orbit_positions: elevation_range_deg = {elevation_range_deg} must be increasing in [-90, 90]"
        )
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x0C4A]))
    azimuth_offset = rng.uniform(0.0, 2.0 * np.pi)
    order = rng.permutation(n)
    spiral = np.arange(n)
    z = np.sin(low) + (spiral + 0.5) / n * (np.sin(high) - np.sin(low))  # (n,) uniform in height = uniform in area
    azimuth = azimuth_offset + spiral * GOLDEN_ANGLE
    ring = np.sqrt(1.0 - z**2)
    points = np.stack([ring * np.cos(azimuth), ring * np.sin(azimuth), z], axis=-1)  # (n, 3) unit vectors
    return radius * points[order]


def project_points(
    points_world: np.ndarray, c2w_opencv: np.ndarray, fx: float, fy: float, cx: float, cy: float
) -> np.ndarray:
    """Pixel coordinates (N, 2) as (u right, v down) of world points (N, 3) seen by one OpenCV camera.

    The centre of pixel i is at i + 0.5, so ``int(u), int(v)`` index the pixel that holds the point. Points behind
    the camera get NaN.
    """
    points_world = np.asarray(points_world, dtype=np.float64).reshape(-1, 3)
    c2w_opencv = np.asarray(c2w_opencv, dtype=np.float64)
    rotation, centre = c2w_opencv[:3, :3], c2w_opencv[:3, 3]
    points_camera = (points_world - centre) @ rotation  # (N, 3): R^T (p - c), row-wise
    depth = points_camera[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = fx * points_camera[:, 0] / depth + cx
        v = fy * points_camera[:, 1] / depth + cy
    uv = np.stack([u, v], axis=-1)
    uv[depth <= 0] = np.nan
    return uv


def camera_rays_opencv(
    c2w_opencv: np.ndarray, fx: float, fy: float, cx: float, cy: float, width: int, height: int, supersample: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """World-space rays through a grid of ``supersample`` x ``supersample`` sub-pixel centres of every pixel.

    Returns origins and unit directions, each (height * supersample, width * supersample, 3): the sub-pixels of pixel
    (row i, column j) are the block [i*s:(i+1)*s, j*s:(j+1)*s], centred at (j + (k + 0.5) / s, i + (l + 0.5) / s).
    """
    s = supersample
    u = (np.arange(width * s) + 0.5) / s  # (W*s,) continuous pixel coordinates
    v = (np.arange(height * s) + 0.5) / s  # (H*s,)
    uu, vv = np.meshgrid(u, v, indexing="xy")  # (H*s, W*s) each
    directions_camera = np.stack([(uu - cx) / fx, (vv - cy) / fy, np.ones_like(uu)], axis=-1)  # (H*s, W*s, 3)
    c2w_opencv = np.asarray(c2w_opencv, dtype=np.float64)
    directions = directions_camera @ c2w_opencv[:3, :3].T
    directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
    origins = np.broadcast_to(c2w_opencv[:3, 3], directions.shape)
    return origins, directions


OBJECT_RADIUS = 0.5
"""Every object of a rendered scene fits inside the ball of this radius about the origin (so inside every view)."""


@dataclass(frozen=True)
class CameraRig:
    """The cameras of a rendered scene: ``views`` cameras on a sphere of ``radius`` about the origin, looking at it."""

    views: int = 24
    """Cameras per scene."""
    radius: float = 1.3
    """Distance of the cameras from the origin."""
    focal_normalized: float = 1.09375
    """Focal length divided by the image side (140 px at 128 px, a 49.1 degree field of view)."""
    elevation_range_deg: tuple[float, float] = (-30.0, 60.0)
    """Cameras are spread over this band of elevations."""


def check_render_sizes(views: int, eval_fraction: float, image_size: int, supersample: int) -> None:
    """ValueError unless a rendered scene can be split (>= 2 views, 0 < eval_fraction < 1) and has pixels."""
    if views < 2:
        raise ValueError(f"igae: views = {views}; a scene needs at least 2 views (1 train, 1 eval)")
    if not 0.0 < eval_fraction < 1.0:
        raise ValueError(f"igae: eval_fraction = {eval_fraction} must lie in (0, 1)")
    if image_size < 1 or supersample < 1:
        raise ValueError(f"igae: image_size ({image_size}) and supersample ({supersample}) must be >= 1")


def rig_cameras(rig: CameraRig, camera_seed: int) -> np.ndarray:
    """Camera-to-world matrices (V, 4, 4), OpenCV axes, on the orbit of ``rig.radius`` looking at the origin."""
    positions = orbit_positions(rig.views, rig.radius, camera_seed, rig.elevation_range_deg)  # (V, 3)
    return np.stack([look_at_c2w_opencv(position) for position in positions])


def rig_intrinsics(image_size: int, focal_normalized: float) -> dict:
    """Pinhole intrinsics of a square image in the nerfstudio keys (pixels), principal point at the centre."""
    focal = focal_normalized * image_size
    return {
        "fl_x": focal,
        "fl_y": focal,
        "cx": image_size / 2.0,
        "cy": image_size / 2.0,
        "w": image_size,
        "h": image_size,
    }
