"""Mesh scenes: any OBJ / GLB / GLTF / PLY / OFF / STL file rendered into a scene folder with the camera rig of the
procedural scenes, by Open3D's offscreen renderer (Filament; on a machine without a GPU it runs on Mesa's software
Vulkan driver, lavapipe). Nothing is ray-traced or rasterised here: this module places the object and the cameras.
The config's ``mesh`` source (:mod:`igae.scenes.sources.mesh`) and the ``shapenet`` one render through it.

What a mesh scene is:
- the object is centred (bounding-box centre) and scaled so that it fits in the ball of radius
  :data:`igae.scenes.cameras.OBJECT_RADIUS`, then turned so that its ``up_axis`` becomes the world's +z;
- the cameras are the procedural scenes' rig (:func:`igae.scenes.cameras.rig_cameras` with the scene's camera seed):
  same orbit radius, focal length and elevation band, so mesh scenes and procedural scenes are interchangeable;
- textures (OBJ + MTL, GLB/GLTF) and vertex colours (PLY) are kept; a mesh with neither is light grey (0.8; an OBJ
  without MTL gets assimp's default material, 0.6);
- ``shading="lit"``: the albedo under a fixed sun and ambient light, Lambertian: each vertex's albedo is scaled by
  ``(AMBIENT + (1 - AMBIENT) * max(0, n . l)) ** (1 / 2.2)`` (the light adds up in linear units; colours are
  display values, gamma 2.2), with ``l`` fixed in the world, so a white object is white where the sun faces it and
  never darker than ``AMBIENT ** (1 / 2.2)`` of white, a texture keeps its brightness (mean over an object about
  0.82 of its albedo), and every view sees the same colours (no specular term, which a NeRF's view-dependent head
  would have to learn). ``"unlit"``: the albedo only;
- colours are the files' own values: Filament decodes albedo textures and material colours from sRGB to linear and,
  with post-processing off, writes the linear result: both are encoded once more before upload so that the decode
  gives back the stored values (without this a texture came out 2-4x darker); vertex colours pass unchanged;
- a mesh without normals gets smooth vertex normals, without texture coordinates zero ones (with none, lavapipe took
  ~10 s a view instead of ~0.05 s: a geometry-only OBJ seemed to hang), without vertex colours white ones (the renderer
  otherwise multiplied the albedo by 0.5); objects without faces are dropped;
- every view has a time limit (``view_timeout_s``; starting the renderer and loading the mesh, ``start_timeout_s``;
  both keys of the config entry): the renderer runs in a child process that is killed when a view takes longer, and
  :class:`MeshRenderTimeout` names the file (a hung native call cannot be interrupted from Python in its own thread);
- each pixel averages ``supersample`` x ``supersample`` sub-pixels (the renderer draws at that multiple of the size);
- the background is white, as in every scene folder of this project.

System requirement: Open3D's renderer needs Debian's ``libusb-1.0-0`` (to import open3d at all) and, without a GPU,
``mesa-vulkan-drivers`` and ``libvulkan1`` (``envs/setup.sh`` installs them). :class:`MeshRendererUnavailable` says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from igae.files import file_sha256
from igae.scenes.cameras import OBJECT_RADIUS, CameraRig, check_render_sizes, rig_cameras, rig_intrinsics
from igae.scenes.dataset_io import (
    check_distinct_scene_names,
    eval_count,
    is_complete_scene,
    safe_scene_name,
    write_scene,
)

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
AMBIENT = 0.5
"""Linear light a surface facing away from the sun still gets, as a fraction of full sunlight (``shading="lit"``)."""
DISPLAY_GAMMA = 2.2
LIGHTING = {"model": "lambert, per vertex", "ambient": AMBIENT, "sun_direction": SUN_DIRECTION.tolist(), "gamma": 2.2}
"""The lit scenes' light, in their transforms files (a scene rendered under other light is rendered again)."""


class MeshRendererUnavailable(RuntimeError):
    """Open3D's offscreen renderer cannot start on this machine; the message says what to install."""


class MeshRenderTimeout(RuntimeError):
    """A mesh took longer than its time limit to load or to render a view; the message names the file."""


@dataclass
class MeshSceneConfig:
    """How to render mesh scenes. The camera rig is the procedural scenes' (:class:`igae.scenes.cameras.CameraRig`)."""

    views: int = 24
    """Cameras per scene."""
    image_size: int = 128
    """Side of the square images, in pixels."""
    eval_fraction: float = 0.125
    """The first ceil(views * eval_fraction) views are the eval views."""
    up_axis: str = "y"
    """The mesh's up axis, ``y`` (glTF, most OBJ exports) or ``z``; it becomes the world's +z."""
    shading: str = "lit"
    """``lit`` (the albedo under a fixed Lambertian sun + ambient light) or ``unlit`` (albedo only)."""
    supersample: int = 2
    """Anti-aliasing: the renderer draws s x s sub-pixels per pixel, averaged."""
    view_timeout_s: float = 30.0
    """Seconds one view may take; a mesh whose view takes longer fails (:class:`MeshRenderTimeout`)."""
    start_timeout_s: float = 120.0
    """Seconds starting the renderer and loading the mesh may take (the first view has this plus its own limit)."""
    focal_normalized: float = CameraRig.focal_normalized
    """Focal length over the image side: the procedural rig's 1.09375 (the authors' Objaverse camera); the ShapeNet
    source sets the official ShapeNet camera's 1.02."""

    def __post_init__(self) -> None:
        if not (self.view_timeout_s > 0 and self.start_timeout_s > 0):
            raise ValueError(f"igae: view_timeout_s and start_timeout_s must be > 0, got {self.view_timeout_s}, "
                             f"{self.start_timeout_s}")  # fmt: skip
        if self.up_axis not in UP_AXES:
            raise ValueError(f"igae: up_axis {self.up_axis!r} must be one of {sorted(UP_AXES)}")
        if self.shading not in ("lit", "unlit"):
            raise ValueError(f"igae: shading {self.shading!r} must be 'lit' or 'unlit'")
        check_render_sizes(self.views, self.eval_fraction, self.image_size, self.supersample)

    @property
    def rig(self) -> CameraRig:
        """The procedural scenes' camera rig with these views (and focal length): orbit radius, elevation band."""
        return CameraRig(views=self.views, focal_normalized=self.focal_normalized)


def scene_name(mesh_path: str | Path) -> str:
    """The scene folder name of a mesh file: its stem, with characters outside ``[A-Za-z0-9_-]`` replaced by ``_``."""
    return safe_scene_name(Path(mesh_path).stem)


def mesh_files(folder: str | Path) -> list[Path]:
    """The mesh files directly in ``folder``, sorted by name; FileNotFoundError when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"igae: mesh folder {folder} does not exist")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in MESH_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"igae: {folder} holds no mesh file ({', '.join(MESH_SUFFIXES)})")
    check_distinct_scene_names([scene_name(p) for p in files], folder, "mesh files")
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
        # every material is unlit: the light of shading="lit" is baked into the vertex colours (load)

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
        model.meshes = [info for info in model.meshes if len(info.mesh.triangles)]  # objects without faces: nothing
        meshes = [info.mesh for info in model.meshes]
        if not meshes:
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
        for info in model.meshes:
            mesh = info.mesh
            mesh.transform(transform)
            if not mesh.has_triangle_uvs():
                # Without texture coordinates the renderer samples the (blank) texture at undefined ones: on lavapipe
                # views then took ~10 s each instead of ~0.05 s (a 24-view scene ran for minutes: "hung").
                mesh.triangle_uvs = o3d.utility.Vector2dVector(np.zeros((3 * len(mesh.triangles), 2)))
            # vertex colours multiply the albedo in the unlit shader; absent, the renderer used 0.5 (half brightness)
            albedo = np.asarray(mesh.vertex_colors) if mesh.has_vertex_colors() else np.ones((len(mesh.vertices), 3))
            if self.config.shading == "lit":
                if not mesh.has_vertex_normals():
                    mesh.compute_vertex_normals()
                albedo = albedo * lambert_shade(np.asarray(mesh.vertex_normals))[:, None]  # (N, 3)
            mesh.vertex_colors = o3d.utility.Vector3dVector(albedo)
        for material in model.materials:  # the renderer decodes both from sRGB: encode them once more
            material.shader = "defaultUnlit"
            base = np.asarray(material.base_color, dtype=np.float64)  # (4,) RGBA
            material.base_color = [*srgb_encode(np.clip(base[:3], 0.0, 1.0)), base[3]]
            if material.albedo_img is not None and np.asarray(material.albedo_img).size:
                material.albedo_img = o3d.geometry.Image(srgb_encode_uint8(np.asarray(material.albedo_img)))
        return model

    def render(self, path: Path, c2w_opencv: np.ndarray, intrinsics: dict, progress=None) -> np.ndarray:
        """RGB uint8 (V, H, W, 3) of the mesh at ``path`` seen by every camera (V, 4, 4), on white.

        ``progress``: called with no argument after loading and after each view (the time limits' watchdog)."""
        s = self.config.supersample
        size = self.config.image_size
        # Filament's intrinsic camera: pixel i spans [i, i + 1], as in this project; scale K with the sub-pixel grid
        k = np.array(
            [[intrinsics["fl_x"] * s, 0.0, intrinsics["cx"] * s], [0.0, intrinsics["fl_y"] * s, intrinsics["cy"] * s],
             [0.0, 0.0, 1.0]]
        )  # fmt: skip
        progress = progress or (lambda: None)
        self.renderer.scene.add_model("mesh", self.load(path))
        progress()
        views = []
        for c2w in c2w_opencv:
            self.renderer.setup_camera(k, np.linalg.inv(c2w), size * s, size * s)  # extrinsic: world-to-camera
            image = np.asarray(self.renderer.render_to_image(), dtype=np.float32)  # (H*s, W*s, 3) in [0, 255]
            views.append(image.reshape(size, s, size, s, 3).mean(axis=(1, 3)))
            progress()
        return np.clip(np.rint(np.stack(views)), 0, 255).astype(np.uint8)


def render_in_fresh_process(
    config: MeshSceneConfig, path: Path, c2w_opencv: np.ndarray, intrinsics: dict
) -> np.ndarray:
    """RGB uint8 (V, H, W, 3) of one mesh, rendered by a new Python process under the config's time limits.

    Why a process: in one process, after a first mesh, the renders of a second one on Mesa's software Vulkan slowed
    down by orders of magnitude (a few views of 30 ms, then minutes per view); a process per mesh renders at full
    speed. And a native call that hangs cannot be interrupted from Python in its own thread: the child reports each
    step (loaded, each view) and is killed when a step exceeds its limit, :class:`MeshRenderTimeout` naming the file.
    """
    views = len(c2w_opencv)
    with tempfile.TemporaryDirectory(prefix="igae-mesh-") as work:
        work = Path(work)
        np.save(work / "c2w_opencv.npy", c2w_opencv)
        job = {"config": asdict(config), "path": str(path), "intrinsics": intrinsics, "parent": os.getpid()}
        (work / "job.json").write_text(json.dumps(job))
        progress = work / "progress"  # one byte per step: loaded, then each view
        progress.touch()
        with open(work / "stderr.txt", "w") as stderr:
            child = subprocess.Popen(
                [sys.executable, "-c", f"from igae.scenes.mesh import _render_job; _render_job({str(work)!r})"],
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,  # its own process group: killed with everything it started
            )
            try:
                _watch(child, progress, config, path, views)
            finally:
                if child.poll() is None:
                    os.killpg(child.pid, signal.SIGKILL)
                    child.wait()
        if child.returncode != 0:
            lines = (work / "stderr.txt").read_text(errors="replace").strip().splitlines() or ["(no output)"]
            ours = [line for line in lines if line.startswith(("igae", "RuntimeError", "ValueError"))]
            raise MeshRendererUnavailable(f"igae: rendering {path} failed: {(ours or lines)[-1]}")
        return np.load(work / "images.npy")


def _watch(child: subprocess.Popen, progress: Path, config: MeshSceneConfig, path: Path, views: int) -> None:
    """Wait for the child; MeshRenderTimeout when a step (loading, then each view) exceeds its time limit."""
    steps, started = 0, time.monotonic()
    deadline = started + config.start_timeout_s
    while child.poll() is None:
        now = time.monotonic()
        done = progress.stat().st_size
        if done > steps:
            steps, deadline = done, now + config.view_timeout_s
        elif now > deadline:
            if steps == 0:
                what = f"starting the renderer and loading the mesh took more than {config.start_timeout_s:g} s"
            else:
                what = f"view {steps} of {views} took more than {config.view_timeout_s:g} s"
            raise MeshRenderTimeout(
                f"igae: rendering {path} stopped: {what} ({now - started:.0f} s in all, {max(steps - 1, 0)} views "
                "done). A mesh this slow for this machine's renderer is too large or malformed for it: simplify it, "
                "or raise view_timeout_s / start_timeout_s"
            )
        time.sleep(0.02)


def _render_job(work: str) -> None:
    """The child process of :func:`render_in_fresh_process`."""
    work = Path(work)
    job = json.loads((work / "job.json").read_text())
    if sys.platform.startswith("linux"):  # die with the parent (killed, or its job cancelled): no orphan renderer
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != job["parent"]:
            return
    config = MeshSceneConfig(**job["config"])
    with open(work / "progress", "ab", buffering=0) as progress:
        stall = int(os.environ.get("IGAE_MESH_TEST_STALL_AT_VIEW", "0"))  # tests only: hang before this view

        def step() -> None:
            progress.write(b".")
            if stall and progress.tell() == stall:
                signal.pause()  # as a hung native call: the watchdog must kill the process

        renderer = MeshRenderer(config)
        images = renderer.render(Path(job["path"]), np.load(work / "c2w_opencv.npy"), job["intrinsics"], step)
    np.save(work / "images.npy", images)


def lambert_shade(normals: np.ndarray) -> np.ndarray:
    """(N,) factor that scales a display-valued albedo under the fixed sun and ambient light, for normals (N, 3).

    Linear light ``AMBIENT + (1 - AMBIENT) * max(0, n . l)`` (1: full sun, head-on), as a display factor: its
    ``1 / DISPLAY_GAMMA`` power (with display = linear ** (1 / 2.2), scaling the linear light by s scales the display
    value by s ** (1 / 2.2), whatever the albedo). Zero-length normals get the ambient light only.
    """
    to_light = -SUN_DIRECTION / np.linalg.norm(SUN_DIRECTION)
    length = np.linalg.norm(normals, axis=1)  # (N,)
    cosine = np.where(length > 0, normals @ to_light / np.maximum(length, 1e-12), 0.0)
    return (AMBIENT + (1.0 - AMBIENT) * np.clip(cosine, 0.0, 1.0)) ** (1.0 / DISPLAY_GAMMA)


def srgb_encode(x: np.ndarray) -> np.ndarray:
    """The sRGB encoding (linear to display) of values in [0, 1]."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.maximum(x, 0.0) ** (1 / 2.4) - 0.055)


def srgb_encode_uint8(image: np.ndarray) -> np.ndarray:
    """The sRGB encoding of a uint8 image's colour channels (alpha kept), so that the sRGB-to-linear decode Filament
    applies to albedo textures gives back the stored values."""
    image = np.asarray(image)
    if image.dtype != np.uint8:  # 16-bit or float textures: to 8 bits first
        scale = 65535.0 if image.dtype == np.uint16 else 1.0
        image = np.clip(np.rint(image.astype(np.float64) / scale * 255.0), 0, 255).astype(np.uint8)
    table = np.clip(np.rint(srgb_encode(np.arange(256) / 255.0) * 255.0), 0, 255).astype(np.uint8)  # each level
    encoded = image.copy()
    channels = 3 if image.ndim == 3 and image.shape[2] >= 3 else None
    if channels is None:
        encoded = table[image]
    else:
        encoded[..., :channels] = table[image[..., :channels]]
    return np.ascontiguousarray(encoded)


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
        "lighting": LIGHTING if config.shading == "lit" else None,
        "colours": "as stored (textures and material colours encoded against the renderer's sRGB decode)",
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
        meta = mesh_scene_meta(path, config, seed)
        folders.append(render_mesh_scene(out_dir / scene_name(path), path, config, seed, meta, log))
    return folders


def render_mesh_scene(folder: Path, path: Path, config: MeshSceneConfig, seed: int, meta: dict, log=print) -> Path:
    """Render the mesh file ``path`` into the scene ``folder`` (atomically), with the rig cameras of the folder's name
    and ``seed``, unless the folder is complete with this ``meta`` (its ``igae`` block)."""
    if not is_complete_scene(folder, meta):
        rig = config.rig
        c2w_opencv = rig_cameras(rig, camera_seed(folder.name, seed))  # (V, 4, 4)
        intrinsics = rig_intrinsics(config.image_size, rig.focal_normalized)
        images = render_in_fresh_process(config, path, c2w_opencv, intrinsics)
        write_scene(folder, images, c2w_opencv, intrinsics, eval_count(config.views, config.eval_fraction), meta)
        log(f"{folder.name}: rendered {config.views} views of {path}")
    return folder
