"""Source ``blender``: scenes in the NeRF-synthetic layout (transforms_train/val/test.json with camera_angle_x, RGBA
renders named without ``.png``) written by the tests, converted into scene folders: the split kept (test frames
evaluate, val frames left out), transparent pixels on white or the configured background, a square or non-square
render landing where the converted cameras project it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from igae.scenes.cameras import look_at_c2w_opencv, opencv_to_opengl, orbit_positions, project_points
from igae.scenes.dataset_io import load_scene
from igae.scenes.procedural import Primitive, Texture, render_views
from igae.scenes.sources.datasets import build_scene_dataset, scene_names

ANGLE_X = 0.69
"""camera_angle_x of NeRF-synthetic's scenes (radians, ~39.5 degrees)."""
CENTRE = np.array([0.12, -0.08, 0.1])
"""World position of the small red sphere every view shows (on a transparent background)."""
SPLITS = {"train": 4, "val": 2, "test": 3}
"""Frames per split."""
SIZE = 32


def write_blender_scene(folder: Path, width: int = 40, height: int = 40) -> dict[str, np.ndarray]:
    """A NeRF-synthetic folder: per split, RGBA renders of a red sphere at CENTRE, transparent black elsewhere.
    Returns each split's OpenCV c2w (N, 4, 4)."""
    focal = 0.5 * width / math.tan(0.5 * ANGLE_X)
    camera = {"fl_x": focal, "fl_y": focal, "cx": width / 2, "cy": height / 2, "w": width, "h": height}
    sphere = Primitive("sphere", 0.05 * np.eye(3), CENTRE, Texture("solid", np.array([[0.9, 0.1, 0.1]] * 2)))
    poses = {}
    for seed, (split, count) in enumerate(SPLITS.items()):
        (folder / split).mkdir(parents=True)
        c2w = np.stack([look_at_c2w_opencv(p) for p in orbit_positions(count, 1.3, seed=seed)])  # (N, 4, 4)
        frames = []
        for index, (image, pose) in enumerate(zip(render_views([sphere], c2w, camera), c2w, strict=True)):
            alpha = np.where((image == 255).all(-1), 0, 255).astype(np.uint8)  # (H, W): the sphere is opaque
            Image.fromarray(np.concatenate([image * (alpha[..., None] // 255), alpha[..., None]], -1)).save(
                folder / split / f"r_{index}.png"
            )
            matrix = opencv_to_opengl(pose).tolist()
            frames.append({"file_path": f"./{split}/r_{index}", "rotation": 0.0, "transform_matrix": matrix})
        (folder / f"transforms_{split}.json").write_text(json.dumps({"camera_angle_x": ANGLE_X, "frames": frames}))
        poses[split] = c2w
    return poses


@pytest.mark.parametrize(("width", "height"), [(40, 40), (48, 40)], ids=["square", "landscape"])
def test_the_split_is_kept_and_the_sphere_lands_where_the_cameras_project_it(tmp_path, width, height):
    poses = write_blender_scene(tmp_path / "lego", width, height)
    spec = {"source": "blender", "path": str(tmp_path / "lego")}
    assert scene_names(spec) == ["lego"]
    (folder,) = build_scene_dataset(spec, tmp_path / "scenes", image_size=SIZE)
    scene = load_scene(folder)
    assert scene.meta["frames"] == [f"test/r_{i}.png" for i in range(3)] + [f"train/r_{i}.png" for i in range(4)]
    assert scene.eval_indices.tolist() == [0, 1, 2] and scene.train_indices.tolist() == [3, 4, 5, 6]
    np.testing.assert_allclose(scene.c2w_opencv, np.concatenate([poses["test"], poses["train"]]), atol=1e-6)
    k = scene.intrinsics_normalized[0] * SIZE  # (3, 3) in pixels
    np.testing.assert_allclose(k[0, 0], 0.5 * width / math.tan(0.5 * ANGLE_X) * SIZE / height, rtol=1e-6)
    for image, c2w in zip(scene.images, scene.c2w_opencv.astype(np.float64), strict=True):
        redness = 1.0 - image[..., 1]  # (H, W): 0 on white, 0.9 x coverage on the sphere (anti-aliased rim)
        rows, cols = np.mgrid[:SIZE, :SIZE] + 0.5  # pixel centres
        found = [(redness * cols).sum() / redness.sum(), (redness * rows).sum() / redness.sum()]
        expected = project_points(CENTRE[None], c2w, k[0, 0], k[1, 1], k[0, 2], k[1, 2])[0]
        np.testing.assert_allclose(found, expected, atol=0.25)
        assert (image[redness == 0] == 1.0).all() and (redness == 0).mean() > 0.9  # transparent: white


def test_transparent_pixels_take_the_configured_background(tmp_path):
    write_blender_scene(tmp_path / "lego")
    spec = {"source": "blender", "path": str(tmp_path / "lego"), "background": [0.0, 0.0, 0.0]}
    scene = load_scene(build_scene_dataset(spec, tmp_path / "scenes", image_size=SIZE)[0])
    corners = scene.images[:, [0, 0, -1, -1], [0, -1, 0, -1]]  # (V, 4, 3): never the sphere
    assert (corners == 0.0).all() and scene.meta["background"] == [0.0, 0.0, 0.0]


def test_a_folder_of_scenes_gives_one_scene_each_and_folders_picks_some(tmp_path):
    for name in ("lego", "chair", "ship"):
        write_blender_scene(tmp_path / "nerf_synthetic" / name)
    (tmp_path / "nerf_synthetic" / "README.txt").write_text("not a scene")
    spec = {"source": "blender", "path": str(tmp_path / "nerf_synthetic")}
    assert scene_names(spec) == ["chair", "lego", "ship"]
    spec["folders"] = ["ship", "lego"]
    assert [folder.name for folder in build_scene_dataset(spec, tmp_path / "scenes", image_size=SIZE)] == [
        "ship",
        "lego",
    ]


def test_a_scene_without_test_or_val_frames_and_one_without_a_field_of_view_are_named(tmp_path):
    write_blender_scene(tmp_path / "lego")
    for split in ("test", "val"):
        (tmp_path / "lego" / f"transforms_{split}.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"lego has transforms_train.json but neither transforms_test"):
        build_scene_dataset({"source": "blender", "path": str(tmp_path / "lego")}, tmp_path / "scenes", SIZE)
    write_blender_scene(tmp_path / "chair")
    (tmp_path / "chair" / "transforms_test.json").write_text(json.dumps({"frames": [{"file_path": "./test/r_0"}]}))
    with pytest.raises(ValueError, match=r"transforms_test.json has no camera_angle_x"):
        build_scene_dataset({"source": "blender", "path": str(tmp_path / "chair")}, tmp_path / "scenes", SIZE)


def test_a_scene_with_a_single_train_view_is_refused_naming_the_folder(tmp_path):
    write_blender_scene(tmp_path / "lego")
    train = json.loads((tmp_path / "lego" / "transforms_train.json").read_text())
    train["frames"] = train["frames"][:1]
    (tmp_path / "lego" / "transforms_train.json").write_text(json.dumps(train))
    with pytest.raises(ValueError, match=r"lego: 1 train frame\(s\) \(train: transforms_train.json, eval: "
                       r"transforms_test.json\); a scene needs at least 4 train views"):  # fmt: skip
        build_scene_dataset({"source": "blender", "path": str(tmp_path / "lego")}, tmp_path / "scenes", SIZE)
    assert not (tmp_path / "scenes" / "lego").exists()
