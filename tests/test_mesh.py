"""The mesh source: meshes that an installed package ships (pymeshlab's sample meshes: a textured OBJ, a
vertex-coloured PLY) and meshes the tests write (a textured OBJ + MTL + PNG, a white OBJ, a geometry-only OBJ of 15
objects, a PLY) rendered by Open3D's offscreen renderer into scene folders with the procedural camera rig: colours and
brightness kept, every view under a time limit.

Open3D's renderer needs Debian's libusb-1.0-0, mesa-vulkan-drivers and libvulkan1 (envs/setup.sh installs them); without
them these tests fail with MeshRendererUnavailable saying so.
"""

from __future__ import annotations

import time
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from igae.scenes.cameras import OBJECT_RADIUS, project_points, rig_cameras, rig_intrinsics
from igae.scenes.dataset_io import load_scene
from igae.scenes.mesh import MeshRenderTimeout, MeshSceneConfig, build_mesh_dataset, camera_seed, scene_name

SAMPLES = Path(find_spec("pymeshlab").submodule_search_locations[0]) / "tests" / "sample_meshes"
"""Meshes shipped in pymeshlab's wheel (a nerfstudio dependency)."""
SIZE = 48
VIEWS = 4


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> list[Path]:
    """The textured bunny (OBJ + MTL + PNG texture) and the vertex-coloured airplane (PLY), 4 views at 48 px."""
    out = tmp_path_factory.mktemp("meshes")
    config = MeshSceneConfig(views=VIEWS, image_size=SIZE, eval_fraction=0.25)
    return build_mesh_dataset(out, [SAMPLES / "bunny10k_textured.obj", SAMPLES / "colored_airplane.ply"], config)


def foreground(images: np.ndarray) -> np.ndarray:
    """(V, H, W) pixels that are not the white background."""
    return (images < 0.98).any(axis=-1)


def test_the_scenes_have_the_rig_cameras_and_an_object_in_every_view(rendered):
    config = MeshSceneConfig(views=VIEWS, image_size=SIZE)
    for folder in rendered:
        scene = load_scene(folder)
        assert scene.images.shape == (VIEWS, SIZE, SIZE, 3)
        expected = rig_cameras(config.rig, camera_seed(folder.name, 0))
        np.testing.assert_allclose(scene.c2w_opencv, expected, atol=1e-6)
        assert scene.eval_indices.tolist() == [0] and scene.train_indices.tolist() == [1, 2, 3]
        coverage = foreground(scene.images).mean(axis=(1, 2))  # (V,) fraction of object pixels per view
        assert (coverage > 0.03).all() and (coverage < 0.9).all(), coverage
        assert foreground(scene.images)[:, [0, -1]].sum() == 0  # the object stays inside the frame
        assert scene.meta["source"] == "mesh" and len(scene.meta["mesh_sha256"]) == 64


def test_textures_and_vertex_colours_are_rendered(rendered):
    bunny, airplane = (load_scene(folder) for folder in rendered)
    for scene in (bunny, airplane):
        pixels = scene.images[foreground(scene.images)]  # (N, 3)
        saturation = pixels.max(axis=1) - pixels.min(axis=1)
        assert np.percentile(saturation, 90) > 0.2, "colours were lost: the object renders grey"
    assert bunny.meta["mesh"] == "bunny10k_textured.obj" and scene_name("a b.glb") == "a_b"


def test_a_mesh_lands_where_the_cameras_project_it(tmp_path):
    """A red ball left of a blue ball (x axis, up_axis z): each ball's pixels centre on its projected centre."""
    import open3d as o3d

    red = o3d.geometry.TriangleMesh.create_sphere(radius=0.2, resolution=30).translate([-0.6, 0.0, 0.0])
    blue = o3d.geometry.TriangleMesh.create_sphere(radius=0.2, resolution=30).translate([0.6, 0.0, 0.0])
    red.paint_uniform_color([1.0, 0.0, 0.0])
    blue.paint_uniform_color([0.0, 0.0, 1.0])
    path = tmp_path / "balls.ply"
    o3d.io.write_triangle_mesh(str(path), red + blue)
    config = MeshSceneConfig(views=VIEWS, image_size=64, up_axis="z", shading="unlit")
    (folder,) = build_mesh_dataset(tmp_path / "out", [path], config)
    scene = load_scene(folder)
    scale = OBJECT_RADIUS / 0.8  # the object is scaled into the object ball: its farthest point is 0.8 from the centre
    intrinsics = rig_intrinsics(64, config.rig.focal_normalized)
    camera = [intrinsics[key] for key in ("fl_x", "fl_y", "cx", "cy")]
    for image, c2w in zip(scene.images, scene.c2w_opencv, strict=True):
        for x, channel in ((-0.6, 0), (0.6, 2)):
            mask = (image[..., channel] > 0.5) & (image.sum(axis=-1) < 1.5)  # (H, W) pixels of that ball only
            if mask.sum() < 20:  # hidden behind the other ball in this view
                continue
            rows, cols = np.nonzero(mask)
            centre = np.array([cols.mean() + 0.5, rows.mean() + 0.5])  # pixel i covers [i, i + 1]
            expected = project_points(np.array([[x * scale, 0.0, 0.0]]), c2w, *camera)[0]
            assert np.linalg.norm(centre - expected) < 1.0, (centre, expected)


def test_a_mesh_rendered_once_is_kept_and_a_missing_file_is_named(rendered, tmp_path):
    folder = rendered[0]
    stamp = (folder / "transforms.json").stat().st_mtime_ns
    config = MeshSceneConfig(views=VIEWS, image_size=SIZE, eval_fraction=0.25)
    build_mesh_dataset(folder.parent, [SAMPLES / "bunny10k_textured.obj"], config)
    assert (folder / "transforms.json").stat().st_mtime_ns == stamp
    with pytest.raises(FileNotFoundError, match="nope.obj does not exist"):
        build_mesh_dataset(tmp_path, [tmp_path / "nope.obj"], config)


# Meshes the tests write themselves, in the forms third-party files come in: a textured OBJ (+ MTL + PNG), a white OBJ,
# a geometry-only OBJ of 15 objects (no normals, no UVs, no material: it once kept the renderer busy for 14 minutes)
# and the same geometry as a PLY. Spheres, so that the object's silhouette in each view is known exactly.

YELLOW = (234, 193, 16)
"""The texture's colour: the third-party texture whose lit renders came out 3.6x darker averaged this."""
BRIGHTNESS_RANGE = (0.75, 1.1)
"""Mean foreground over the albedo, lit: the light is never above full sun (1) and never below AMBIENT (0.73 as a
display factor); a sphere seen from all around averages about 0.85."""


def uv_sphere(rings: int, segments: int, centre=(0.0, 0.0, 0.0), radius: float = 1.0):
    """Vertices (N, 3), texture coordinates (N, 2) and triangles (F, 3) of a UV sphere."""
    theta = np.pi * np.arange(rings + 1) / rings  # (R+1,) from +z down
    phi = 2 * np.pi * np.arange(segments + 1) / segments  # (S+1,) seam duplicated for the texture coordinates
    t, p = np.meshgrid(theta, phi, indexing="ij")  # (R+1, S+1)
    vertices = np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], -1).reshape(-1, 3)
    uvs = np.stack([p / (2 * np.pi), 1 - t / np.pi], -1).reshape(-1, 2)
    faces = []
    for i in range(rings):
        for j in range(segments):
            a, b = i * (segments + 1) + j, (i + 1) * (segments + 1) + j
            if i > 0:
                faces.append([a, b, a + 1])
            if i < rings - 1:
                faces.append([a + 1, b, b + 1])
    return vertices * radius + np.asarray(centre), uvs, np.asarray(faces)


def write_textured_obj(folder: Path, colour=YELLOW) -> Path:
    """A unit sphere with texture coordinates, an MTL and a PNG texture of one colour."""
    vertices, uvs, faces = uv_sphere(24, 48)
    Image.fromarray(np.full((32, 32, 3), colour, np.uint8)).save(folder / "yellow.png")
    (folder / "ball.mtl").write_text("newmtl skin\nKd 1 1 1\nmap_Kd yellow.png\n")
    lines = ["mtllib ball.mtl", "o ball", *(f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices)]
    lines += [f"vt {u:.6f} {v:.6f}" for u, v in uvs] + ["usemtl skin"]
    lines += [f"f {a}/{a} {b}/{b} {c}/{c}" for a, b, c in faces + 1]
    path = folder / "textured_ball.obj"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_white_obj(folder: Path) -> Path:
    """A unit sphere with a white material, no texture, no normals."""
    vertices, _, faces = uv_sphere(24, 48)
    (folder / "white.mtl").write_text("newmtl white\nKd 1 1 1\n")
    lines = ["mtllib white.mtl", "o ball", *(f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices), "usemtl white"]
    path = folder / "white_ball.obj"
    path.write_text("\n".join(lines + [f"f {a} {b} {c}" for a, b, c in faces + 1]) + "\n")
    return path


def parts_geometry():
    """15 spheres along a helix: [(vertices (N, 3), triangles (F, 3)), ...], 2,520 triangles in all."""
    return [uv_sphere(8, 12, (2 * np.cos(k), 2 * np.sin(k), 0.3 * (k - 7)), 0.5)[::2] for k in range(15)]


def write_parts_obj(folder: Path) -> Path:
    """Geometry only: 15 ``o`` objects, vertices and faces, no normals, no texture coordinates, no material."""
    lines, offset = [], 1
    for k, (vertices, faces) in enumerate(parts_geometry()):
        lines += [f"o part_{k}", *(f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices)]
        lines += [f"f {a} {b} {c}" for a, b, c in faces + offset]
        offset += len(vertices)
    path = folder / "parts.obj"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_parts_ply(folder: Path) -> Path:
    """The same 15 spheres as one ASCII PLY: vertices and faces only."""
    parts = parts_geometry()
    vertices = np.concatenate([v for v, _ in parts])
    offsets = np.cumsum([0] + [len(v) for v, _ in parts[:-1]])
    faces = np.concatenate([f + o for (_, f), o in zip(parts, offsets, strict=True)])
    header = (
        f"ply\nformat ascii 1.0\nelement vertex {len(vertices)}\nproperty float x\nproperty float y\n"
        f"property float z\nelement face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n"
    )
    body = [f"{x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices] + [f"3 {a} {b} {c}" for a, b, c in faces]
    path = folder / "parts.ply"
    path.write_text(header + "\n".join(body) + "\n")
    return path


def sphere_masks(scene, shrink: float = 0.95) -> np.ndarray:
    """(V, H, W) pixels whose ray passes within ``shrink`` x the object radius of the origin: a sphere scaled into the
    object ball covers them (its anti-aliased rim left out)."""
    size = scene.image_size
    fx, cx = scene.intrinsics_normalized[0, 0, 0] * size, scene.intrinsics_normalized[0, 0, 2] * size
    fy, cy = scene.intrinsics_normalized[0, 1, 1] * size, scene.intrinsics_normalized[0, 1, 2] * size
    u, v = np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5)  # (H, W) pixel centres
    rays = np.stack([(u - cx) / fx, (v - cy) / fy, np.ones_like(u)], -1)  # (H, W, 3) camera frame
    masks = []
    for c2w in scene.c2w_opencv.astype(np.float64):
        d = rays @ c2w[:3, :3].T
        d /= np.linalg.norm(d, axis=-1, keepdims=True)
        origin = c2w[:3, 3]
        closest = origin + (-(d @ origin))[..., None] * d  # (H, W, 3) the ray's point nearest the centre
        masks.append(np.linalg.norm(closest, axis=-1) < shrink * OBJECT_RADIUS)
    return np.stack(masks)


def render(tmp_path: Path, mesh: Path, **settings):
    """The scene of ``mesh`` (4 views at 48 px, up axis z) and the seconds it took."""
    config = MeshSceneConfig(views=VIEWS, image_size=SIZE, eval_fraction=0.25, up_axis="z", **settings)
    start = time.perf_counter()
    (folder,) = build_mesh_dataset(tmp_path / f"{mesh.stem}_{config.shading}", [mesh], config)
    return load_scene(folder), time.perf_counter() - start


def test_lit_renders_keep_the_albedo_brightness_and_unlit_ones_the_exact_colours(tmp_path):
    """A white sphere lit is near white, a textured one keeps its texture's brightness (the foreground's mean over the
    albedo's in BRIGHTNESS_RANGE); unlit, the texture's colour comes out as stored."""
    textured, white = write_textured_obj(tmp_path), write_white_obj(tmp_path)
    albedo = np.asarray(YELLOW) / 255.0
    for shading in ("lit", "unlit"):
        scene, _ = render(tmp_path, textured, shading=shading)
        pixels = scene.images[sphere_masks(scene)]  # (N, 3)
        ratio = pixels.mean() / albedo.mean()
        if shading == "unlit":
            np.testing.assert_allclose(pixels.mean(0), albedo, atol=2 / 255)
        else:
            assert BRIGHTNESS_RANGE[0] < ratio < BRIGHTNESS_RANGE[1], (ratio, pixels.mean(0) * 255)
            hue = pixels.mean(0) / pixels.mean(0).max()
            np.testing.assert_allclose(hue, albedo / albedo.max(), atol=0.03)  # the same colour, only darker
    scene, _ = render(tmp_path, white, shading="lit")
    pixels = scene.images[sphere_masks(scene)]
    assert pixels.mean() > BRIGHTNESS_RANGE[0], pixels.mean()  # near white: the sunlit side is white
    assert np.percentile(pixels.mean(1), 90) > 0.97 and pixels.min() > 0.68


@pytest.mark.parametrize("writer", [write_parts_obj, write_parts_ply])
@pytest.mark.parametrize("shading", ["lit", "unlit"])
def test_geometry_only_multi_object_meshes_render_in_seconds(tmp_path, writer, shading):
    """No normals (computed), no texture coordinates, no material, 15 objects (OBJ) or one PLY: all 15 parts show."""
    scene, seconds = render(tmp_path, writer(tmp_path), shading=shading)
    assert seconds < 30, f"{seconds:.1f} s"  # ~2-4 s on a 2-core CPU, process start included
    foreground = (scene.images < 0.98).any(-1)  # (V, H, W)
    assert (foreground.mean(axis=(1, 2)) > 0.03).all()
    if shading == "lit":
        grey = scene.images[foreground]
        assert grey.std(axis=0).max() > 0.03  # shaded: the parts are not one flat colour


def test_a_view_over_its_time_limit_fails_naming_the_file(tmp_path, monkeypatch):
    """The renderer runs in a child process; a view that hangs (simulated: the child stops before its second view) is
    killed after view_timeout_s, and the error names the mesh file and the view."""
    mesh = write_white_obj(tmp_path)
    monkeypatch.setenv("IGAE_MESH_TEST_STALL_AT_VIEW", "2")
    start = time.perf_counter()
    with pytest.raises(MeshRenderTimeout, match=r"white_ball\.obj stopped: view 2 of 4 took more than 2 s"):
        render(tmp_path, mesh, view_timeout_s=2)
    assert time.perf_counter() - start < 60
    monkeypatch.delenv("IGAE_MESH_TEST_STALL_AT_VIEW")
    with pytest.raises(MeshRenderTimeout, match=r"white_ball\.obj stopped: starting the renderer and loading"):
        render(tmp_path, mesh, start_timeout_s=0.01)
    assert not list(tmp_path.glob("white_ball_*/white_ball"))  # no scene folder is left behind


def test_the_time_limits_are_keys_of_a_mesh_entry(tmp_path, monkeypatch):
    """`view_timeout_s` of a `source: mesh` entry reaches the renderer's watchdog; the schema takes both limits and
    writes no default for them into an entry without them (the entry is a rule param: a new key would re-run it)."""
    from snakemake.utils import validate
    from snakemake_interface_common.exceptions import WorkflowError

    from igae.scenes.sources.datasets import build_scene_dataset

    schema = str(Path(__file__).parents[1] / "workflow" / "schemas" / "config.schema.yaml")
    config = yaml.safe_load((Path(__file__).parent / "data" / "tiny_config.yaml").read_text())
    config["scenes"]["meshes"] = {"source": "mesh", "path": "meshes", "view_timeout_s": 2, "start_timeout_s": 60.5}
    config["scenes"]["plain"] = {"source": "mesh", "path": "meshes"}
    validate(config, schema)  # Snakemake's validation, which fills in defaults
    assert not {"view_timeout_s", "start_timeout_s"} & set(config["scenes"]["plain"])
    config["scenes"]["meshes"]["view_timeout_s"] = 0
    with pytest.raises(WorkflowError, match=r"0 is less than or equal to the minimum of 0"):
        validate(config, schema)

    (tmp_path / "meshes").mkdir()
    write_white_obj(tmp_path / "meshes")
    spec = {"source": "mesh", "path": str(tmp_path / "meshes"), "views": VIEWS, "up_axis": "z", "view_timeout_s": 2}
    monkeypatch.setenv("IGAE_MESH_TEST_STALL_AT_VIEW", "2")
    with pytest.raises(MeshRenderTimeout, match=r"white_ball\.obj stopped: view 2 of 4 took more than 2 s"):
        build_scene_dataset(spec, tmp_path / "scenes", image_size=SIZE)
