"""The procedural scene source: cameras, renderer, nerfstudio-format folders, split, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from igae.scenes import dataset_io
from igae.scenes.cameras import look_at_c2w_opencv, orbit_positions, project_points, rig_intrinsics
from igae.scenes.dataset_io import load_scene, write_scene
from igae.scenes.procedural import (
    Primitive,
    ProceduralSceneConfig,
    Texture,
    build_procedural_dataset,
    render_scene,
    render_views,
)

SIZE = 32
VIEWS = 8
EVAL_FRACTION = 0.25  # ceil(8 * 0.25) = 2 eval views


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> list[Path]:
    """Two small "primitives" scenes, built once for the tests that only read them."""
    out = tmp_path_factory.mktemp("scenes")
    return build_procedural_dataset(out, "primitives", 2, views=VIEWS, image_size=SIZE, eval_fraction=EVAL_FRACTION)


def _tiny_sphere_scene(folder: Path, centre: np.ndarray, views: int = 6, size: int = 64) -> Path:
    """A white-background scene of one small dark sphere at ``centre``, seen by the standard rig."""
    sphere = Primitive("sphere", 0.03 * np.eye(3), centre, Texture("solid", np.zeros((2, 3))))
    c2w = np.stack([look_at_c2w_opencv(p) for p in orbit_positions(views, 1.3, seed=5)])
    intrinsics = rig_intrinsics(size, 1.09375)
    images = render_views([sphere], c2w, intrinsics, supersample=2)
    return write_scene(folder, images, c2w, intrinsics, eval_count=1, meta={"source": "test"})


def test_point_renders_where_project_points_says(tmp_path):
    centre = np.array([0.2, -0.1, 0.15])
    folder = _tiny_sphere_scene(tmp_path / "dot", centre)
    transforms = json.loads((folder / "transforms_opencv.json").read_text())
    for frame in transforms["frames"]:
        image = np.asarray(Image.open(folder / frame["file_path"]), dtype=np.float64)
        darkness = 1.0 - image.mean(axis=-1) / 255.0  # (H, W): 0 on the background
        rows, cols = np.mgrid[: image.shape[0], : image.shape[1]]
        centroid = np.array([(darkness * (cols + 0.5)).sum(), (darkness * (rows + 0.5)).sum()]) / darkness.sum()
        projected = project_points(
            centre[None], np.array(frame["transform_matrix"]), frame["fl_x"], frame["fl_y"], frame["cx"], frame["cy"]
        )[0]
        # measured error <= 0.12 px; 0.25 px catches a half-pixel slip in the pixel-centre convention
        assert np.linalg.norm(centroid - projected) < 0.25, (frame["file_path"], centroid, projected)


def test_world_up_is_image_up():
    c2w = look_at_c2w_opencv((1.3, 0.4, 0.2))
    below, above = project_points(np.array([[0, 0, -0.2], [0, 0, 0.2]]), c2w, 140, 140, 64, 64)
    assert above[1] < below[1] - 10  # v grows downwards
    assert abs(above[0] - below[0]) < 1e-6  # the world's vertical stays vertical in the image


def test_opengl_transforms_and_opencv_twin_describe_the_same_cameras(dataset):
    """nerfstudio's own rays, from transforms.json, pass through points where the OpenCV twin projects them."""
    from nerfstudio.cameras.cameras import Cameras, CameraType

    folder = dataset[0]
    opengl = json.loads((folder / "transforms.json").read_text())
    opencv = json.loads((folder / "transforms_opencv.json").read_text())
    c2w_opengl = torch.tensor([frame["transform_matrix"] for frame in opengl["frames"]], dtype=torch.float64)
    cameras = Cameras(
        camera_to_worlds=c2w_opengl[:, :3, :4],
        fx=opengl["fl_x"],
        fy=opengl["fl_y"],
        cx=opengl["cx"],
        cy=opengl["cy"],
        width=opengl["w"],
        height=opengl["h"],
        camera_type=CameraType.PERSPECTIVE,
    )
    points = np.random.default_rng(0).uniform(-0.4, 0.4, size=(5, 3))  # (P, 3)
    for index, frame in enumerate(opencv["frames"]):
        uv = project_points(
            points, np.array(frame["transform_matrix"]), frame["fl_x"], frame["fl_y"], frame["cx"], frame["cy"]
        )
        coords = torch.tensor(uv[:, ::-1].copy(), dtype=torch.float32)  # (P, 2) as nerfstudio's (y, x)
        rays = cameras.generate_rays(camera_indices=index, coords=coords)
        origins, directions = rays.origins.double().numpy(), rays.directions.double().numpy()  # (P, 3) each
        offsets = points - origins
        along = (offsets * directions).sum(-1, keepdims=True)
        distance_to_ray = np.linalg.norm(offsets - along * directions, axis=-1)
        assert (along > 0).all() and distance_to_ray.max() < 1e-4, (index, distance_to_ray)


def test_same_inputs_give_identical_pngs_and_more_scenes_leave_earlier_ones_unchanged(dataset, tmp_path):
    single = build_procedural_dataset(
        tmp_path, "primitives", 1, views=VIEWS, image_size=SIZE, eval_fraction=EVAL_FRACTION
    )
    for name in [f"images/r_{i:03d}.png" for i in range(VIEWS)] + ["transforms.json", "transforms_opencv.json"]:
        assert (single[0] / name).read_bytes() == (dataset[0] / name).read_bytes(), name


def test_different_index_gives_different_images():
    config = ProceduralSceneConfig(family="photo", views=2, image_size=SIZE)
    first, _, _ = render_scene(config, 0, seed=3)
    again, _, _ = render_scene(config, 0, seed=3)
    other, _, _ = render_scene(config, 1, seed=3)
    np.testing.assert_array_equal(first, again)
    assert np.abs(first.astype(int) - other.astype(int)).mean() > 5


@pytest.mark.parametrize("family", ["primitives", "photo"])
def test_every_view_shows_the_whole_object_on_white(family):
    images, _, _ = render_scene(ProceduralSceneConfig(family=family, views=6, image_size=SIZE), 4, seed=0)
    foreground = (images < 250).any(axis=-1)  # (V, H, W)
    coverage = foreground.mean(axis=(1, 2))
    assert (coverage > 0.03).all() and (coverage < 0.9).all(), coverage
    border = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], axis=1)
    assert (border == 255).all()  # nothing cut by the frame, background pure white


def test_split_is_the_first_views_and_nerfstudio_reads_it(dataset):
    from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig

    folder = dataset[0]
    names = [f"images/r_{i:03d}.png" for i in range(VIEWS)]
    parser = NerfstudioDataParserConfig(data=folder).setup()
    for split, expected in (("train", names[2:]), ("val", names[:2]), ("test", names[:2])):
        outputs = parser.get_dataparser_outputs(split)
        assert [p.relative_to(folder).as_posix() for p in outputs.image_filenames] == expected, split
    scene = load_scene(folder)
    assert scene.eval_indices.tolist() == [0, 1] and scene.train_indices.tolist() == list(range(2, VIEWS))


def test_load_scene_returns_what_was_rendered(tmp_path):
    config = ProceduralSceneConfig(views=3, image_size=SIZE)
    images, c2w, intrinsics = render_scene(config, 0, seed=1)
    write_scene(tmp_path / "scene", images, c2w, intrinsics, eval_count=1, meta={"source": "test"})
    scene = load_scene(tmp_path / "scene")
    np.testing.assert_allclose(scene.images, images / 255.0, atol=1e-6)
    np.testing.assert_allclose(scene.c2w_opencv, c2w, atol=1e-6)
    expected_k = np.array([[1.09375, 0, 0.5], [0, 1.09375, 0.5], [0, 0, 1]], dtype=np.float32)
    np.testing.assert_allclose(scene.intrinsics_normalized, np.broadcast_to(expected_k, (3, 3, 3)))
    assert scene.image_size == SIZE and scene.cameras_25.shape == (3, 25)


def test_load_scene_names_a_missing_image(dataset, tmp_path):
    folder = build_procedural_dataset(tmp_path, "primitives", 1, views=3, image_size=SIZE)[0]
    (folder / "images/r_001.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"frame 1 points to images/r_001\.png"):
        load_scene(folder)


def test_load_scene_names_an_image_of_the_wrong_size(tmp_path):
    folder = build_procedural_dataset(tmp_path, "primitives", 1, views=3, image_size=SIZE)[0]
    Image.new("RGB", (SIZE // 2, SIZE // 2), "white").save(folder / "images/r_002.png")
    with pytest.raises(ValueError, match=r"r_002\.png is 16x16 but .* says 32x32"):
        load_scene(folder)


def test_load_scene_names_malformed_json(tmp_path):
    folder = build_procedural_dataset(tmp_path, "primitives", 1, views=3, image_size=SIZE)[0]
    (folder / "transforms_opencv.json").write_text('{"frames": [')
    with pytest.raises(ValueError, match=r"transforms_opencv\.json is not valid JSON"):
        load_scene(folder)


def test_interrupted_write_leaves_no_scene(tmp_path, monkeypatch):
    config = ProceduralSceneConfig(views=4, image_size=SIZE)
    images, c2w, intrinsics = render_scene(config, 0, seed=0)
    saved = []

    def save_then_fail(image, path, *args, **kwargs):
        saved.append(path)
        if len(saved) == 3:
            raise KeyboardInterrupt  # as if the job were killed mid-scene
        image.save_original(path, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save_original", Image.Image.save, raising=False)
    monkeypatch.setattr(Image.Image, "save", save_then_fail)
    with pytest.raises(KeyboardInterrupt):
        write_scene(tmp_path / "scene", images, c2w, intrinsics, eval_count=1, meta={})
    assert list(tmp_path.iterdir()) == []  # neither the scene nor its temporary folder


def test_complete_scenes_are_skipped_and_stale_ones_rebuilt(tmp_path, monkeypatch):
    build_procedural_dataset(tmp_path, "primitives", 1, views=3, image_size=SIZE)
    writes = []
    monkeypatch.setattr(
        "igae.scenes.procedural.write_scene",
        lambda folder, *a, **k: writes.append(folder) or dataset_io.write_scene(folder, *a, **k),
    )
    build_procedural_dataset(tmp_path, "primitives", 1, views=3, image_size=SIZE)
    assert writes == []
    build_procedural_dataset(tmp_path, "primitives", 1, views=4, image_size=SIZE)  # other parameters: re-render
    assert len(writes) == 1 and len(load_scene(writes[0]).file_paths) == 4
