"""The mesh source: meshes that an installed package ships (pymeshlab's sample meshes: a textured OBJ, a
vertex-coloured PLY) rendered by Open3D's offscreen renderer into scene folders with the procedural camera rig.

Open3D's renderer needs Debian's libusb-1.0-0, mesa-vulkan-drivers and libvulkan1 (envs/setup.sh installs them); without
them these tests fail with MeshRendererUnavailable saying so.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

from igae.scenes import load_scene, project_points
from igae.scenes.mesh import MeshSceneConfig, build_mesh_dataset, camera_seed, scene_name
from igae.scenes.procedural import OBJECT_RADIUS, rig_cameras, rig_intrinsics

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
