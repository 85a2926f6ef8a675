"""A built-in, offline, deterministic scene source: textured primitives rendered by an analytic ray caster.

Two families, as in the paper (many training scenes for IG-AE; held-out, out-of-distribution scenes for NeRFs):
- ``primitives`` (training): 1-3 spheres, boxes and cylinders at random poses and sizes, with procedural textures
  (stripes, checkers, solid colours);
- ``photo`` (held-out): other shapes (pedestal, capsule, stacked boxes, snowman, table) built from the same
  primitives, textured with crops of the photos that scikit-image ships.

A scene is a function of (family, index, seed) only. The renderer is fixed Lambertian shading under a world-fixed
directional light plus ambient light (no specular, so the appearance is view-consistent), 2x2 super-sampling, and a
pure white background. Objects fit inside the ball of radius 0.5 (so inside [-0.5, 0.5]^3, and inside every view).
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from igae.scenes.cameras import (
    OBJECT_RADIUS,
    CameraRig,
    camera_rays_opencv,
    check_render_sizes,
    rig_cameras,
    rig_intrinsics,
)
from igae.scenes.dataset_io import eval_count, is_complete_scene, write_scene
from igae.scenes.photos import load_photo

FAMILIES = ("primitives", "photo")
"""Scene families: ``primitives`` for IG-AE training, ``photo`` for held-out NeRF evaluation."""

TEXTURE_PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "motorcycle_left",
    "hubble_deep_field",
    "retina",
    "immunohistochemistry",
)
"""Colour photos (names in :data:`igae.scenes.photos.PHOTO_FILES`) that texture the ``photo`` family."""

LIGHT_DIRECTION = np.array([0.35, -0.45, 0.82]) / np.linalg.norm([0.35, -0.45, 0.82])
"""Unit vector towards the directional light, fixed in the world (+z is up)."""
AMBIENT = 0.4
"""Ambient light: the shade of a surface facing away from the light."""
DIFFUSE = 0.6
"""Directional light: a surface facing the light gets AMBIENT + DIFFUSE = 1."""
TEXTURE_SIZE = 256
"""Photo crops are resized to this square size before texturing."""

_FAMILY_CODES = {"primitives": 1, "photo": 2}


@dataclass
class ProceduralSceneConfig:
    """How to render procedural scenes; the camera rig mirrors the authors' Objaverse rig."""

    family: str = "primitives"
    """Scene family, one of FAMILIES."""
    views: int = 24
    """Cameras per scene."""
    image_size: int = 128
    """Side of the square images, in pixels."""
    eval_fraction: float = 0.125
    """The first ceil(views * eval_fraction) views are the eval views (the authors' ObjectDataset rule)."""
    radius: float = CameraRig.radius
    """Distance of the cameras from the origin."""
    focal_normalized: float = CameraRig.focal_normalized
    """Focal length divided by the image side (140 px at 128 px, a 49.1 degree field of view)."""
    supersample: int = 2
    """Anti-aliasing: s x s rays per pixel, averaged."""
    elevation_range_deg: tuple[float, float] = CameraRig.elevation_range_deg
    """Cameras are spread over this band of elevations."""

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"igae: scene family {self.family!r} is unknown (known: {', '.join(FAMILIES)})")
        check_render_sizes(self.views, self.eval_fraction, self.image_size, self.supersample)

    @property
    def eval_count(self) -> int:
        """Number of eval views: ceil(views * eval_fraction), at least 1 and leaving at least 1 train view."""
        return eval_count(self.views, self.eval_fraction)

    @property
    def rig(self) -> CameraRig:
        """The cameras these settings describe."""
        return CameraRig(self.views, self.radius, self.focal_normalized, self.elevation_range_deg)


# --------------------------------------------------------------------------------------------------------------------
# Scene description
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class Texture:
    """Albedo as a function of a surface's (u, v) in [0, 1]^2."""

    kind: str
    """One of "solid", "stripes", "checkers", "image"."""
    colors: np.ndarray = field(default_factory=lambda: np.full((2, 3), 0.5))
    """(2, 3) RGB albedos in [0, 1]; "solid" uses the first."""
    frequency: tuple[int, int] = (1, 1)
    """Stripes or checker cells along u and v (stripes use the larger of the two)."""
    stripe_axis: int = 0
    """Stripes vary along u (0) or v (1)."""
    image: np.ndarray | None = None
    """(T, T, 3) float albedo for "image" textures."""


@dataclass
class Primitive:
    """A unit primitive mapped to the world by ``x_world = linear @ x_local + translation``.

    Unit primitives in local coordinates: "sphere" |x| <= 1; "box" [-1, 1]^3; "cylinder" x^2 + y^2 <= 1, |z| <= 1.
    """

    kind: str
    """One of "sphere", "box", "cylinder"."""
    linear: np.ndarray
    """(3, 3) local-to-world linear map (rotation times scales)."""
    translation: np.ndarray
    """(3,) world position of the local origin."""
    texture: Texture
    """Albedo on the surface."""


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random rotation matrix (3, 3), from a random unit quaternion."""
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def rotation_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rotation_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def random_color(rng: np.random.Generator, hue: float | None = None) -> np.ndarray:
    """A saturated, not-too-bright RGB albedo, so objects stand out from the white background."""
    hue = rng.uniform() if hue is None else hue % 1.0
    return np.array(colorsys.hsv_to_rgb(hue, rng.uniform(0.35, 0.95), rng.uniform(0.45, 0.95)))


def random_procedural_texture(rng: np.random.Generator) -> Texture:
    kind = rng.choice(["stripes", "checkers", "solid"], p=[0.4, 0.35, 0.25])
    first = random_color(rng)
    hue = colorsys.rgb_to_hsv(*first)[0]
    second = random_color(rng, hue + rng.uniform(0.25, 0.75))
    frequency = (2 * int(rng.integers(2, 6)), int(rng.integers(2, 7)))  # even along u: seamless around spheres
    return Texture(str(kind), np.stack([first, second]), frequency, stripe_axis=int(rng.integers(0, 2)))


@lru_cache(maxsize=16)
def _photo_float(name: str) -> np.ndarray:
    return load_photo(name).astype(np.float32) / 255.0


def random_photo_texture(rng: np.random.Generator) -> Texture:
    """A square crop (40-100 % of the short side) of a random photo of TEXTURE_PHOTOS, resized to TEXTURE_SIZE."""
    photo = _photo_float(TEXTURE_PHOTOS[int(rng.integers(len(TEXTURE_PHOTOS)))])
    height, width = photo.shape[:2]
    side = int(rng.uniform(0.4, 1.0) * min(height, width))
    y0, x0 = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
    crop = Image.fromarray((photo[y0 : y0 + side, x0 : x0 + side] * 255).round().astype(np.uint8))
    crop = crop.resize((TEXTURE_SIZE, TEXTURE_SIZE), Image.Resampling.LANCZOS)
    return Texture("image", image=np.asarray(crop, dtype=np.float32) / 255.0)


def _bounding_radius(primitive: Primitive) -> float:
    """Radius of a ball about the origin holding the primitive (exact for boxes, tight enough for the others)."""
    if primitive.kind == "sphere":
        return float(np.linalg.norm(primitive.translation) + np.linalg.norm(primitive.linear, ord=2))
    corners = np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1], indexing="ij")).reshape(3, -1).T  # (8, 3)
    return float(np.linalg.norm(corners @ primitive.linear.T + primitive.translation, axis=-1).max())


def fit_in_ball(primitives: list[Primitive], radius: float) -> list[Primitive]:
    """Centre the composition's bounding box at the origin and scale it to fit in the ball of ``radius``."""
    corners = []
    for primitive in primitives:
        half_extent = np.abs(primitive.linear).sum(axis=1)  # (3,) bounding box of the unit box/cylinder/sphere
        corners += [primitive.translation - half_extent, primitive.translation + half_extent]
    corners = np.stack(corners)
    centre = 0.5 * (corners.min(axis=0) + corners.max(axis=0))
    centred = [Primitive(p.kind, p.linear, p.translation - centre, p.texture) for p in primitives]
    scale = radius / max(_bounding_radius(p) for p in centred)
    return [Primitive(p.kind, p.linear * scale, p.translation * scale, p.texture) for p in centred]


def sample_primitives_scene(rng: np.random.Generator) -> list[Primitive]:
    """Family "primitives": 1-3 spheres, boxes or cylinders, random poses and sizes, procedural textures."""
    primitives = []
    for _ in range(int(rng.integers(1, 4))):
        kind = str(rng.choice(["sphere", "box", "cylinder"]))
        if kind == "sphere":
            scales = np.full(3, rng.uniform(0.15, 0.3))
        elif kind == "box":
            scales = rng.uniform(0.1, 0.3, size=3)
        else:
            radius = rng.uniform(0.08, 0.25)
            scales = np.array([radius, radius, rng.uniform(0.1, 0.3)])
        linear = random_rotation(rng) @ np.diag(scales)
        primitives.append(Primitive(kind, linear, rng.uniform(-0.2, 0.2, size=3), random_procedural_texture(rng)))
    return fit_in_ball(primitives, OBJECT_RADIUS * rng.uniform(0.85, 1.0))


def _prim(kind: str, scales, translation, rng: np.random.Generator, rotation: np.ndarray | None = None) -> Primitive:
    rotation = np.eye(3) if rotation is None else rotation
    linear = rotation @ np.diag(np.asarray(scales, dtype=np.float64))
    return Primitive(kind, linear, np.asarray(translation, dtype=np.float64), random_photo_texture(rng))


def sample_photo_scene(rng: np.random.Generator) -> list[Primitive]:
    """Family "photo": composed shapes textured with photo crops, then turned and tilted at random."""
    layout = str(rng.choice(["pedestal", "capsule", "stack", "snowman", "table"]))
    parts: list[Primitive] = []
    if layout == "pedestal":  # a cylinder with a ball on top
        radius, half_height, ball = rng.uniform(0.12, 0.25), rng.uniform(0.15, 0.3), rng.uniform(0.15, 0.28)
        parts.append(_prim("cylinder", [radius, radius, half_height], [0, 0, 0], rng))
        parts.append(_prim("sphere", [ball] * 3, [0, 0, half_height + 0.8 * ball], rng))
    elif layout == "capsule":  # a cylinder capped by two balls
        radius, half_length = rng.uniform(0.1, 0.2), rng.uniform(0.15, 0.35)
        parts.append(_prim("cylinder", [radius, radius, half_length], [0, 0, 0], rng))
        parts.append(_prim("sphere", [radius] * 3, [0, 0, half_length], rng))
        parts.append(_prim("sphere", [radius] * 3, [0, 0, -half_length], rng))
    elif layout == "stack":  # 2-3 boxes, each smaller and turned on the one below
        z, half_width = 0.0, rng.uniform(0.2, 0.3)
        for _ in range(int(rng.integers(2, 4))):
            half_height = rng.uniform(0.06, 0.14)
            size = [half_width * rng.uniform(0.8, 1.2), half_width, half_height]
            parts.append(_prim("box", size, [0, 0, z + half_height], rng, rotation_z(rng.uniform(0, np.pi))))
            z += 2 * half_height
            half_width *= rng.uniform(0.6, 0.85)
    elif layout == "snowman":  # 2-3 balls, each smaller, sitting on the one below
        z, radius = 0.0, rng.uniform(0.2, 0.3)
        for _ in range(int(rng.integers(2, 4))):
            parts.append(_prim("sphere", [radius] * 3, [0, 0, z], rng))
            next_radius = radius * rng.uniform(0.6, 0.8)
            z += 0.85 * (radius + next_radius)
            radius = next_radius
    else:  # table: a slab on four legs
        half_x, half_y, leg = rng.uniform(0.25, 0.35), rng.uniform(0.18, 0.3), rng.uniform(0.15, 0.3)
        parts.append(_prim("box", [half_x, half_y, 0.04], [0, 0, leg + 0.04], rng))
        for sx in (-1, 1):
            for sy in (-1, 1):
                parts.append(
                    _prim("cylinder", [0.035, 0.035, leg / 2], [sx * 0.8 * half_x, sy * 0.8 * half_y, leg / 2], rng)
                )
    pose = rotation_z(rng.uniform(0, 2 * np.pi)) @ rotation_x(rng.uniform(-0.35, 0.35))
    posed = [Primitive(p.kind, pose @ p.linear, pose @ p.translation, p.texture) for p in parts]
    return fit_in_ball(posed, OBJECT_RADIUS * rng.uniform(0.85, 1.0))


def scene_rng(family: str, index: int, seed: int) -> np.random.Generator:
    """The generator of one scene: a function of (family, index, seed), independent across indices."""
    if family not in _FAMILY_CODES:
        raise ValueError(f"igae: scene family {family!r} is unknown (known: {', '.join(FAMILIES)})")
    return np.random.default_rng(np.random.SeedSequence([seed, _FAMILY_CODES[family], index]))


def sample_scene(family: str, index: int, seed: int) -> tuple[list[Primitive], int]:
    """The primitives of one scene, and the seed of its camera rig."""
    rng = scene_rng(family, index, seed)
    camera_seed = int(rng.integers(2**31))
    primitives = sample_primitives_scene(rng) if family == "primitives" else sample_photo_scene(rng)
    return primitives, camera_seed


# --------------------------------------------------------------------------------------------------------------------
# Ray caster
# --------------------------------------------------------------------------------------------------------------------


def _safe(values: np.ndarray) -> np.ndarray:
    """Values with zeros nudged away from 0, so that divisions give large finite numbers."""
    return np.where(np.abs(values) < 1e-12, 1e-12, values)


def _intersect_sphere(o: np.ndarray, d: np.ndarray) -> np.ndarray:
    a = np.einsum("ni,ni->n", d, d)
    b = np.einsum("ni,ni->n", o, d)
    c = np.einsum("ni,ni->n", o, o) - 1.0
    discriminant = b * b - a * c
    root = np.sqrt(np.maximum(discriminant, 0.0))
    near, far = (-b - root) / a, (-b + root) / a
    t = np.where(near > 1e-9, near, far)
    return np.where((discriminant >= 0) & (t > 1e-9), t, np.inf)


def _intersect_box(o: np.ndarray, d: np.ndarray) -> np.ndarray:
    inverse = 1.0 / _safe(d)
    t1, t2 = (-1.0 - o) * inverse, (1.0 - o) * inverse
    t_enter = np.minimum(t1, t2).max(axis=1)
    t_exit = np.maximum(t1, t2).min(axis=1)
    t = np.where(t_enter > 1e-9, t_enter, t_exit)
    return np.where((t_exit >= t_enter) & (t > 1e-9), t, np.inf)


def _intersect_cylinder(o: np.ndarray, d: np.ndarray) -> np.ndarray:
    a = d[:, 0] ** 2 + d[:, 1] ** 2
    b = o[:, 0] * d[:, 0] + o[:, 1] * d[:, 1]
    c = o[:, 0] ** 2 + o[:, 1] ** 2 - 1.0
    discriminant = b * b - a * c
    root = np.sqrt(np.maximum(discriminant, 0.0))
    a_safe = _safe(a)
    t = np.full(len(o), np.inf)
    for t_side in ((-b - root) / a_safe, (-b + root) / a_safe):
        z = o[:, 2] + t_side * d[:, 2]
        valid = (discriminant >= 0) & (a > 1e-12) & (np.abs(z) <= 1.0) & (t_side > 1e-9)
        t = np.where(valid, np.minimum(t, t_side), t)
    dz = _safe(d[:, 2])
    for cap in (-1.0, 1.0):
        t_cap = (cap - o[:, 2]) / dz
        x, y = o[:, 0] + t_cap * d[:, 0], o[:, 1] + t_cap * d[:, 1]
        valid = (x * x + y * y <= 1.0) & (t_cap > 1e-9)
        t = np.where(valid, np.minimum(t, t_cap), t)
    return t


_INTERSECT = {"sphere": _intersect_sphere, "box": _intersect_box, "cylinder": _intersect_cylinder}


def _surface(kind: str, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local normal (N, 3), texture coordinates (N, 2) in [0, 1] and whether u wraps around (N,) at local points."""
    if kind == "sphere":
        normal = p / np.linalg.norm(p, axis=1, keepdims=True)
        u = np.arctan2(normal[:, 1], normal[:, 0]) / (2 * np.pi) + 0.5
        v = np.arccos(np.clip(normal[:, 2], -1.0, 1.0)) / np.pi
        return normal, np.stack([u, v], axis=1), np.ones(len(p), dtype=bool)
    if kind == "box":
        axis = np.abs(p).argmax(axis=1)  # (N,) the face's axis
        normal = np.zeros_like(p)
        normal[np.arange(len(p)), axis] = np.sign(p[np.arange(len(p)), axis])
        others = np.array([[1, 2], [0, 2], [0, 1]])[axis]  # (N, 2) the two in-face axes
        uv = (np.take_along_axis(p, others, axis=1) + 1.0) / 2.0
        return normal, uv, np.zeros(len(p), dtype=bool)
    # cylinder: caps where |z| reached 1, side elsewhere
    on_cap = np.abs(p[:, 2]) > 1.0 - 1e-6
    side = np.concatenate([p[:, :2], np.zeros((len(p), 1))], axis=1)
    side /= np.maximum(np.linalg.norm(side, axis=1, keepdims=True), 1e-12)
    cap = np.zeros_like(p)
    cap[:, 2] = np.sign(p[:, 2])
    normal = np.where(on_cap[:, None], cap, side)
    side_uv = np.stack([np.arctan2(p[:, 1], p[:, 0]) / (2 * np.pi) + 0.5, (p[:, 2] + 1.0) / 2.0], axis=1)
    cap_uv = (p[:, :2] + 1.0) / 2.0
    return normal, np.where(on_cap[:, None], cap_uv, side_uv), ~on_cap


def sample_texture(texture: Texture, uv: np.ndarray, wraps: np.ndarray) -> np.ndarray:
    """Albedo (N, 3) at texture coordinates (N, 2); ``wraps`` marks surfaces whose u goes round (sphere, tube)."""
    if texture.kind == "solid":
        return np.broadcast_to(texture.colors[0], (len(uv), 3))
    if texture.kind == "stripes":
        frequency = max(texture.frequency)
        band = np.floor(uv[:, texture.stripe_axis] * frequency).astype(int) % 2
        return texture.colors[band]
    if texture.kind == "checkers":
        cells = np.floor(uv * np.asarray(texture.frequency)).astype(int).sum(axis=1) % 2
        return texture.colors[cells]
    if texture.kind == "image":
        u = np.where(wraps, 1.0 - np.abs(2.0 * uv[:, 0] - 1.0), uv[:, 0])  # mirrored around: no seam
        return _bilinear(texture.image, u, uv[:, 1])
    raise ValueError(f"igae: texture kind {texture.kind!r} is unknown")


def _bilinear(image: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear lookup of image (T, T, 3) at (u right, v down) in [0, 1]; texel i is centred at (i + 0.5) / T."""
    height, width = image.shape[:2]
    x = np.clip(u * width - 0.5, 0.0, width - 1.0)
    y = np.clip(v * height - 0.5, 0.0, height - 1.0)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, width - 1), np.minimum(y0 + 1, height - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def render_view(
    primitives: list[Primitive],
    c2w_opencv: np.ndarray,
    intrinsics: dict,
    supersample: int = 2,
) -> np.ndarray:
    """Render one view of the primitives: RGB uint8 (h, w, 3) on a white background.

    ``intrinsics`` holds ``fl_x, fl_y, cx, cy, w, h`` in pixels (the nerfstudio keys).
    """
    width, height, s = int(intrinsics["w"]), int(intrinsics["h"]), supersample
    rays_o, rays_d = camera_rays_opencv(
        c2w_opencv, intrinsics["fl_x"], intrinsics["fl_y"], intrinsics["cx"], intrinsics["cy"], width, height, s
    )  # (H*s, W*s, 3) each
    rays_o, rays_d = rays_o.reshape(-1, 3), rays_d.reshape(-1, 3)  # (R, 3): R = H*s*W*s rays
    t_nearest = np.full(len(rays_o), np.inf)  # (R,)
    hit_index = np.full(len(rays_o), -1)  # (R,) index of the nearest primitive, -1 for the background
    inverses = [np.linalg.inv(p.linear) for p in primitives]
    for k, (primitive, inverse) in enumerate(zip(primitives, inverses, strict=True)):
        local_o = (rays_o - primitive.translation) @ inverse.T  # (R, 3): affine maps keep the ray parameter t
        local_d = rays_d @ inverse.T
        t = _INTERSECT[primitive.kind](local_o, local_d)
        closer = t < t_nearest
        t_nearest[closer], hit_index[closer] = t[closer], k

    colors = np.ones((len(rays_o), 3))  # (R, 3) white background
    for k, (primitive, inverse) in enumerate(zip(primitives, inverses, strict=True)):
        rays = np.nonzero(hit_index == k)[0]
        if len(rays) == 0:
            continue
        points = rays_o[rays] + t_nearest[rays, None] * rays_d[rays]  # (N, 3) world hit points
        local_points = (points - primitive.translation) @ inverse.T
        local_normal, uv, wraps = _surface(primitive.kind, local_points)
        normal = local_normal @ inverse  # (N, 3): normals map by the inverse transpose
        normal /= np.linalg.norm(normal, axis=1, keepdims=True)
        shade = AMBIENT + DIFFUSE * np.clip(normal @ LIGHT_DIRECTION, 0.0, None)  # (N,)
        colors[rays] = sample_texture(primitive.texture, uv, wraps) * shade[:, None]

    colors = colors.reshape(height, s, width, s, 3).mean(axis=(1, 3))  # (H, W, 3) averaged sub-pixels
    return (np.clip(colors, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def render_views(
    primitives: list[Primitive], c2w_opencv: np.ndarray, intrinsics: dict, supersample: int = 2
) -> np.ndarray:
    """Render every camera of ``c2w_opencv`` (V, 4, 4): RGB uint8 (V, h, w, 3)."""
    return np.stack([render_view(primitives, c2w, intrinsics, supersample) for c2w in c2w_opencv])


def render_scene(config: ProceduralSceneConfig, index: int, seed: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """Render scene ``index`` of ``config.family`` for the dataset ``seed``.

    Returns the images RGB uint8 (V, H, W, 3), the cameras c2w (V, 4, 4) in OpenCV axes, and the intrinsics
    (``fl_x, fl_y, cx, cy`` in pixels, ``w, h``). The result depends on (family, index, seed) and the config only.
    """
    primitives, camera_seed = sample_scene(config.family, index, seed)
    c2w_opencv = rig_cameras(config.rig, camera_seed)
    intrinsics = rig_intrinsics(config.image_size, config.focal_normalized)
    images = render_views(primitives, c2w_opencv, intrinsics, config.supersample)
    return images, c2w_opencv, intrinsics


def scene_meta(config: ProceduralSceneConfig, index: int, seed: int) -> dict:
    """The ``igae`` block of a procedural scene's transforms files."""
    return {
        "source": "procedural",
        "family": config.family,
        "index": index,
        "seed": seed,
        "views": config.views,
        "image_size": config.image_size,
        "eval_fraction": config.eval_fraction,
        "radius": config.radius,
        "focal_normalized": config.focal_normalized,
        "supersample": config.supersample,
        "elevation_range_deg": list(config.elevation_range_deg),
    }


def build_procedural_dataset(
    out_dir: str | Path,
    family: str,
    count: int,
    views: int = 24,
    image_size: int = 128,
    eval_fraction: float = 0.125,
    seed: int = 0,
) -> list[Path]:
    """Render ``count`` scenes ``{out_dir}/{family}_{index:03d}/`` and return their folders.

    Scene i depends on (family, i, seed) only, so adding scenes leaves the earlier ones unchanged. A scene folder that
    is already complete with the same parameters is kept; every scene is written atomically.
    """
    config = ProceduralSceneConfig(family=family, views=views, image_size=image_size, eval_fraction=eval_fraction)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    folders = []
    for index in range(count):
        folder = out_dir / f"{family}_{index:03d}"
        meta = scene_meta(config, index, seed)
        if not is_complete_scene(folder, meta):  # else keep it; write_scene replaces a stale or partial folder
            images, c2w_opencv, intrinsics = render_scene(config, index, seed)
            write_scene(folder, images, c2w_opencv, intrinsics, config.eval_count, meta)
        folders.append(folder)
    return folders
