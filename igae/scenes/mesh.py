"""Mesh scenes: any OBJ / GLB / GLTF / PLY / OFF / STL file rendered into a scene folder with the camera rig of the
procedural scenes, by Open3D's offscreen renderer (Filament; on a machine without a GPU it runs on Mesa's software
Vulkan driver, lavapipe). Nothing is ray-traced or rasterised here: this module places the object and the cameras.

What a mesh scene is:
- the object is centred (bounding-box centre) and scaled so that it fits in the ball of radius
  :data:`igae.scenes.procedural.OBJECT_RADIUS`, then turned so that its ``up_axis`` becomes the world's +z;
- the cameras are the procedural rig (:func:`igae.scenes.procedural.rig_cameras` with the scene's camera seed): same
  orbit radius, focal length and elevation band, so mesh scenes and procedural scenes are interchangeable;
- textures (OBJ + MTL, GLB/GLTF) and vertex colours (PLY) are kept; a mesh with neither is light grey;
- ``shading="lit"``: Filament's default PBR material under a fixed sun and ambient light (the look of Objaverse
  renders); ``"unlit"``: the albedo only (view-independent colours, the easiest case for a NeRF);
- each pixel averages ``supersample`` x ``supersample`` sub-pixels (the renderer draws at that multiple of the size);
- the background is white, as in every scene folder of this project.

System requirement: Open3D's renderer needs Debian's ``libusb-1.0-0`` (to import open3d at all) and, without a GPU,
``mesa-vulkan-drivers`` and ``libvulkan1`` (``envs/setup.sh`` installs them). :class:`MeshRendererUnavailable` says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from igae.provenance import file_sha256
from igae.scenes.dataset_io import is_complete_scene, write_scene
from igae.scenes.procedural import OBJECT_RADIUS, ProceduralSceneConfig, eval_count, rig_cameras, rig_intrinsics

MESH_SUFFIXES = (".obj", ".glb", ".gltf", ".ply", ".off", ".stl")
"""Files a mesh folder may hold (Open3D reads them)."""
SYSTEM_PACKAGES = "libusb-1.0-0 mesa-vulkan-drivers libvulkan1"
"""Debian packages Open3D's offscreen renderer needs on a machine without a GPU."""
UP_AXES = {
    "y": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),  # (x, y, z) -> (x, -z, y): +y becomes +z
    "z": np.eye(3),
}
"""Rotation taking a mesh's up axis to the world's +z (glTF and most OBJ files are y-up)."""
SUN_DIRECTION = np.array([-0.35, 0.45, -0.82])
"""Direction the sunlight travels (from the upper side, like the procedural scenes' light)."""


class MeshRendererUnavailable(RuntimeError):
    """Open3D's offscreen renderer cannot start on this machine; the message says what to install."""


@dataclass
class MeshSceneConfig:
    """How to render mesh scenes. The camera rig is the procedural scenes' (:class:`ProceduralSceneConfig`)."""

    views: int = 24
    """Cameras per scene."""
    image_size: int = 128
    """Side of the square images, in pixels."""
    eval_fraction: float = 0.125
    """The first ceil(views * eval_fraction) views are the eval views."""
    up_axis: str = "y"
    """The mesh's up axis, ``y`` (glTF, most OBJ exports) or ``z``; it becomes the world's +z."""
    shading: str = "lit"
    """``lit`` (PBR material, sun + ambient light) or ``unlit`` (albedo only)."""
    supersample: int = 2
    """Anti-aliasing: the renderer draws s x s sub-pixels per pixel, averaged."""

    def __post_init__(self) -> None:
        if self.up_axis not in UP_AXES:
            raise ValueError(f"igae: up_axis {self.up_axis!r} must be one of {sorted(UP_AXES)}")
        if self.shading not in ("lit", "unlit"):
            raise ValueError(f"igae: shading {self.shading!r} must be 'lit' or 'unlit'")
        _ = self.rig  # validates views, image_size and eval_fraction now

    @property
    def rig(self) -> ProceduralSceneConfig:
        """The procedural scenes' camera rig at these sizes: orbit radius, focal length, elevation band."""
        return ProceduralSceneConfig(views=self.views, image_size=self.image_size, eval_fraction=self.eval_fraction)


def scene_name(mesh_path: str | Path) -> str:
    """The scene folder name of a mesh file: its stem, with characters outside ``[A-Za-z0-9_-]`` replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9_\-]", "_", Path(mesh_path).stem)


def mesh_files(folder: str | Path) -> list[Path]:
    """The mesh files directly in ``folder``, sorted by name; FileNotFoundError when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"igae: mesh folder {folder} does not exist")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in MESH_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"igae: {folder} holds no mesh file ({', '.join(MESH_SUFFIXES)})")
    names = [scene_name(p) for p in files]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise ValueError(f"igae: {folder}: several mesh files map to the scene names {clashes}; rename them")
    return files


def _import_open3d():
    """open3d with its renderer able to start without a display or GPU (software Vulkan)."""
    os.environ.setdefault("OPEN3D_CPU_RENDERING", "true")
    try:
        import open3d
        from open3d.visualization import rendering
    except (ImportError, OSError) as error:
        raise MeshRendererUnavailable(
            f"igae: cannot import open3d ({error}). Open3D's renderer needs the Debian packages {SYSTEM_PACKAGES} "
            "(bash envs/setup.sh installs them when run as root)"
        ) from error
    return open3d, rendering


class MeshRenderer:
    """One Open3D offscreen renderer for one mesh (:func:`render_in_fresh_process` makes one per mesh)."""

    def __init__(self, config: MeshSceneConfig):
        self.config = config
        self.open3d, self.rendering = _import_open3d()
        size = config.image_size * config.supersample
        try:
            self.renderer = self.rendering.OffscreenRenderer(size, size)
        except RuntimeError as error:
            raise MeshRendererUnavailable(
                f"igae: Open3D's offscreen renderer cannot start ({error}). Without a GPU it needs the Debian "
                f"packages {SYSTEM_PACKAGES} (bash envs/setup.sh installs them when run as root)"
            ) from error
        scene = self.renderer.scene
        scene.set_background([1.0, 1.0, 1.0, 1.0])
        scene.view.set_post_processing(False)  # no tone mapping: white stays white, albedo stays albedo
        if config.shading == "lit":
            scene.set_lighting(scene.LightingProfile.NO_SHADOWS, SUN_DIRECTION)

    def load(self, path: Path):
        """The mesh as an Open3D TriangleMeshModel, centred, scaled into the object ball, its up axis along +z."""
        o3d, rendering = self.open3d, self.rendering
        if path.suffix.lower() in (".ply", ".off", ".stl"):  # Open3D's model reader (assimp) lacks these formats
            mesh = o3d.io.read_triangle_mesh(str(path))
            model = rendering.TriangleMeshModel()
            material = rendering.MaterialRecord()
            material.base_color = [0.8, 0.8, 0.8, 1.0] if not mesh.has_vertex_colors() else [1.0, 1.0, 1.0, 1.0]
            model.meshes = [rendering.TriangleMeshModel.MeshInfo(mesh, path.stem, 0)]
            model.materials = [material]
        else:
            model = o3d.io.read_triangle_model(str(path))
        meshes = [info.mesh for info in model.meshes]
        if not meshes or not any(len(mesh.triangles) for mesh in meshes):
            raise ValueError(f"igae: {path} holds no triangles that Open3D can read; is it a valid mesh file?")
        vertices = np.concatenate([np.asarray(mesh.vertices) for mesh in meshes])  # (N, 3)
        if not np.isfinite(vertices).all():
            raise ValueError(f"igae: {path} has non-finite vertex coordinates")
        centre = (vertices.min(0) + vertices.max(0)) / 2.0
        extent = np.linalg.norm(vertices - centre, axis=1).max()
        if extent <= 0:
            raise ValueError(f"igae: {path}: all vertices coincide; there is nothing to render")
        rotation = UP_AXES[self.config.up_axis]
        transform = np.eye(4)
        transform[:3, :3] = rotation * (OBJECT_RADIUS / extent)
        transform[:3, 3] = -rotation @ centre * (OBJECT_RADIUS / extent)
        for info, material in zip(model.meshes, _materials_of(model), strict=True):
            info.mesh.transform(transform)
            if not info.mesh.has_vertex_normals():
                info.mesh.compute_vertex_normals()
            material.shader = "defaultLit" if self.config.shading == "lit" else "defaultUnlit"
        return model

    def render(self, path: Path, c2w_opencv: np.ndarray, intrinsics: dict) -> np.ndarray:
        """RGB uint8 (V, H, W, 3) of the mesh at ``path`` seen by every camera (V, 4, 4), on white."""
        s = self.config.supersample
        size = self.config.image_size
        # Filament's intrinsic camera: pixel i spans [i, i + 1], as in this project; scale K with the sub-pixel grid
        k = np.array(
            [[intrinsics["fl_x"] * s, 0.0, intrinsics["cx"] * s], [0.0, intrinsics["fl_y"] * s, intrinsics["cy"] * s],
             [0.0, 0.0, 1.0]]
        )  # fmt: skip
        self.renderer.scene.add_model("mesh", self.load(path))
        views = []
        for c2w in c2w_opencv:
            self.renderer.setup_camera(k, np.linalg.inv(c2w), size * s, size * s)  # extrinsic: world-to-camera
            image = np.asarray(self.renderer.render_to_image(), dtype=np.float32)  # (H*s, W*s, 3) in [0, 255]
            views.append(image.reshape(size, s, size, s, 3).mean(axis=(1, 3)))
        return np.clip(np.rint(np.stack(views)), 0, 255).astype(np.uint8)


def render_in_fresh_process(
    config: MeshSceneConfig, path: Path, c2w_opencv: np.ndarray, intrinsics: dict
) -> np.ndarray:
    """RGB uint8 (V, H, W, 3) of one mesh, rendered by a new Python process.

    Why: in one process, after a first mesh, the renders of a second one on Mesa's software Vulkan slowed down by
    orders of magnitude (a few views of 30 ms, then minutes per view); a process per mesh renders at full speed.
    """
    with tempfile.TemporaryDirectory(prefix="igae-mesh-") as work:
        work = Path(work)
        np.save(work / "c2w_opencv.npy", c2w_opencv)
        job = {"config": asdict(config), "path": str(path), "intrinsics": intrinsics}
        (work / "job.json").write_text(json.dumps(job))
        done = subprocess.run(
            [sys.executable, "-c", f"from igae.scenes.mesh import _render_job; _render_job({str(work)!r})"],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines() or ["(no output)"]
            ours = [line for line in lines if line.startswith(("igae", "RuntimeError"))]
            raise MeshRendererUnavailable(f"igae: rendering {path} failed: {(ours or lines)[-1]}")
        return np.load(work / "images.npy")


def _render_job(work: str) -> None:
    """The child process of :func:`render_in_fresh_process`."""
    work = Path(work)
    job = json.loads((work / "job.json").read_text())
    renderer = MeshRenderer(MeshSceneConfig(**job["config"]))
    images = renderer.render(Path(job["path"]), np.load(work / "c2w_opencv.npy"), job["intrinsics"])
    np.save(work / "images.npy", images)


def _materials_of(model) -> list:
    """The material of each mesh of a TriangleMeshModel, in mesh order."""
    return [model.materials[info.material_idx] for info in model.meshes]


def camera_seed(name: str, seed: int) -> int:
    """The camera rig's seed of the scene ``name`` in a dataset of seed ``seed`` (stable across runs and machines)."""
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:4], "little") % 2**31


def mesh_scene_meta(path: Path, config: MeshSceneConfig, seed: int) -> dict:
    """The ``igae`` block of a mesh scene's transforms files: the file's hash and every rendering setting."""
    return {
        "source": "mesh",
        "mesh": path.name,
        "mesh_sha256": file_sha256(path),
        "seed": seed,
        "views": config.views,
        "image_size": config.image_size,
        "eval_fraction": config.eval_fraction,
        "up_axis": config.up_axis,
        "shading": config.shading,
        "supersample": config.supersample,
        "radius": config.rig.radius,
        "focal_normalized": config.rig.focal_normalized,
        "elevation_range_deg": list(config.rig.elevation_range_deg),
        "renderer": "open3d " + _open3d_version(),
    }


def _open3d_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("open3d")
    except PackageNotFoundError as error:
        raise MeshRendererUnavailable("igae: open3d is not installed; bash envs/setup.sh installs it") from error


def build_mesh_dataset(
    out_dir: str | Path, mesh_paths: list[str | Path], config: MeshSceneConfig, seed: int = 0, log=print
) -> list[Path]:
    """Render every mesh file into ``{out_dir}/{scene_name(file)}`` and return the folders.

    A scene already rendered from the same file (sha256) with the same settings is kept; each is written atomically.
    """
    out_dir = Path(out_dir)
    folders = []
    for path in map(Path, mesh_paths):
        if not path.is_file():
            raise FileNotFoundError(f"igae: mesh file {path} does not exist")
        name = scene_name(path)
        folder = out_dir / name
        meta = mesh_scene_meta(path, config, seed)
        if not is_complete_scene(folder, meta):
            rig = config.rig
            c2w_opencv = rig_cameras(rig, camera_seed(name, seed))  # (V, 4, 4)
            intrinsics = rig_intrinsics(rig.image_size, rig.focal_normalized)
            images = render_in_fresh_process(config, path, c2w_opencv, intrinsics)
            write_scene(folder, images, c2w_opencv, intrinsics, eval_count(config.views, config.eval_fraction), meta)
            log(f"{name}: rendered {config.views} views of {path}")
        folders.append(folder)
    return folders
