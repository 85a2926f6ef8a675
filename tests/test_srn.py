"""ShapeNet-SRN scenes into our scene folders: intrinsics scaled exactly, cameras kept, alpha on white, nerfstudio
reads the result, and a broken SRN folder is reported with the file at fault."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from igae.scenes.cameras import look_at_c2w_opencv, orbit_positions, project_points
from igae.scenes.dataset_io import load_scene
from igae.scenes.procedural import Primitive, Texture, render_views
from igae.scenes.sources.datasets import build_scene_dataset, scene_names
from igae.scenes.sources.srn import convert_srn_category, convert_srn_scene

SOURCE_SIZE = 64
"""Side of the SRN images the tests write."""
TARGET_SIZE = 32
"""Side they are converted to."""
FOCAL = 70.0
"""Focal length at SOURCE_SIZE, in pixels (35 at TARGET_SIZE)."""
CENTRE = np.array([0.15, -0.1, 0.1])
"""World position of the small dark sphere every view shows."""
VIEWS = 4


def _write_srn_scene(folder: Path, intrinsics_size: int = SOURCE_SIZE) -> np.ndarray:
    """An SRN scene folder of VIEWS renders of a dark sphere, RGBA with a transparent black background.

    ``intrinsics.txt`` states the camera at ``intrinsics_size`` px (SRN's cars_train: 128 px images, intrinsics at
    512 px). Returns the (V, 4, 4) OpenCV camera-to-world matrices written to ``pose/``.
    """
    c2w = np.stack([look_at_c2w_opencv(p) for p in orbit_positions(VIEWS, 1.3, seed=2)])
    camera = {"fl_x": FOCAL, "fl_y": FOCAL, "cx": SOURCE_SIZE / 2, "cy": SOURCE_SIZE / 2}
    sphere = Primitive("sphere", 0.06 * np.eye(3), CENTRE, Texture("solid", np.zeros((2, 3))))
    images = render_views([sphere], c2w, {**camera, "w": SOURCE_SIZE, "h": SOURCE_SIZE}, supersample=2)
    (folder / "rgb").mkdir(parents=True)
    (folder / "pose").mkdir()
    for index, (image, pose) in enumerate(zip(images, c2w, strict=True)):
        background = (image == 255).all(axis=-1)  # (H, W)
        rgba = np.concatenate([image, np.where(background, 0, 255).astype(np.uint8)[..., None]], axis=-1)
        rgba[background, :3] = 0  # transparent black: wrong compositing shows up as black, not white
        Image.fromarray(rgba).save(folder / "rgb" / f"{index:06d}.png")
        (folder / "pose" / f"{index:06d}.txt").write_text(" ".join(repr(float(v)) for v in pose.ravel()))
    ratio = intrinsics_size / SOURCE_SIZE
    (folder / "intrinsics.txt").write_text(
        f"{FOCAL * ratio} {intrinsics_size / 2} {intrinsics_size / 2} 0.\n0. 0. 0.\n1.\n"
        f"{intrinsics_size} {intrinsics_size}\n"
    )
    return c2w


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """One SRN scene converted from 64 px to 32 px, for the tests that only read it."""
    root = tmp_path_factory.mktemp("srn")
    c2w = _write_srn_scene(root / "hats" / "scene_a")
    return convert_srn_scene(root / "hats" / "scene_a", root / "out", image_size=TARGET_SIZE), c2w


@pytest.mark.parametrize("intrinsics_size", [SOURCE_SIZE, 4 * SOURCE_SIZE], ids=["same-size", "stated-at-4x"])
def test_intrinsics_are_scaled_exactly_and_the_sphere_lands_where_they_project_it(tmp_path, intrinsics_size):
    c2w = _write_srn_scene(tmp_path / "srn", intrinsics_size)
    folder = convert_srn_scene(tmp_path / "srn", tmp_path / "out", image_size=TARGET_SIZE)
    opencv = json.loads((folder / "transforms_opencv.json").read_text())
    for frame, pose in zip(opencv["frames"], c2w, strict=True):
        # exactly half of the 64 px values, whatever size intrinsics.txt states them at
        assert (frame["fl_x"], frame["fl_y"], frame["cx"], frame["cy"]) == (35.0, 35.0, 16.0, 16.0)
        assert (frame["w"], frame["h"]) == (TARGET_SIZE, TARGET_SIZE)
        image = np.asarray(Image.open(folder / frame["file_path"]), dtype=np.float64)  # (32, 32, 3)
        assert image.shape == (TARGET_SIZE, TARGET_SIZE, 3)
        assert (image[0] == 255).all() and (image[-1] == 255).all()  # the transparent background became white
        darkness = 1.0 - image.mean(axis=-1) / 255.0  # (H, W)
        rows, cols = np.mgrid[:TARGET_SIZE, :TARGET_SIZE]
        centroid = np.array([(darkness * (cols + 0.5)).sum(), (darkness * (rows + 0.5)).sum()]) / darkness.sum()
        projected = project_points(CENTRE[None], pose, 35.0, 35.0, 16.0, 16.0)[0]
        assert np.linalg.norm(centroid - projected) < 0.3, (frame["file_path"], centroid, projected)


def test_both_transforms_files_hold_the_srn_cameras(converted):
    folder, c2w = converted
    opencv = json.loads((folder / "transforms_opencv.json").read_text())
    opengl = json.loads((folder / "transforms.json").read_text())
    np.testing.assert_array_equal([frame["transform_matrix"] for frame in opencv["frames"]], c2w)  # the OpenCV twin
    flip = np.diag([1.0, -1.0, -1.0, 1.0])  # OpenCV -> OpenGL camera axes
    np.testing.assert_array_equal([frame["transform_matrix"] for frame in opengl["frames"]], c2w @ flip)
    assert opengl["fl_x"] == 35.0 and opengl["w"] == TARGET_SIZE
    assert opencv["igae"]["srn_frames"] == [f"{i:06d}" for i in range(VIEWS)]
    assert opengl["val_filenames"] == ["images/r_000.png"]  # ceil(4 * 0.125) = 1 eval view, the first


def test_nerfstudio_loads_the_scene_and_its_rays_hit_the_sphere(converted):
    """nerfstudio's own dataparser (orientation, centring, scaling included) on transforms.json: the ray through the
    pixel where the OpenCV twin projects the sphere's centre passes through that centre."""
    from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig

    folder, c2w = converted
    outputs = NerfstudioDataParserConfig(data=folder).setup().get_dataparser_outputs("train")
    assert [p.name for p in outputs.image_filenames] == ["r_001.png", "r_002.png", "r_003.png"]
    assert torch.allclose(outputs.cameras.fx, torch.tensor(35.0))
    transform = outputs.dataparser_transform.double().numpy()  # (3, 4): world -> nerfstudio's frame, then scaled
    centre = outputs.dataparser_scale * (transform[:, :3] @ CENTRE + transform[:, 3])
    for index, pose in enumerate(c2w[1:]):
        u, v = project_points(CENTRE[None], pose, 35.0, 35.0, 16.0, 16.0)[0]
        rays = outputs.cameras.generate_rays(camera_indices=index, coords=torch.tensor([[v, u]], dtype=torch.float32))
        origin, direction = rays.origins[0].double().numpy(), rays.directions[0].double().numpy()
        offset = centre - origin
        assert np.linalg.norm(offset - (offset @ direction) * direction) < 1e-4 * outputs.dataparser_scale


@pytest.mark.parametrize(
    "break_it, message",
    [
        (lambda scene: (scene / "pose" / "000002.txt").unlink(), r"rgb/000002\.png has no pose: .*pose/000002\.txt"),
        (lambda scene: (scene / "intrinsics.txt").write_text("70 32\n"), r"intrinsics\.txt: line 1 '70 32' needs 3"),
        (lambda scene: (scene / "intrinsics.txt").write_text("70 32 32 0.\n0 0 0\n1.\n64 48\n"), r"64 x 48"),
        (
            lambda scene: Image.new("RGB", (64, 40)).save(scene / "rgb" / "000001.png"),
            r"rgb/000001\.png is 64x40; SRN views must be square",
        ),
        (lambda scene: (scene / "pose" / "000003.txt").write_text("1 0 0"), r"pose/000003\.txt holds 3 numbers"),
    ],
    ids=["missing-pose", "short-intrinsics", "non-square-intrinsics", "non-square-image", "short-pose"],
)
def test_a_broken_srn_folder_is_reported_with_the_file_at_fault(converted, tmp_path, break_it, message):
    scene = tmp_path / "scene_b"
    shutil.copytree(converted[0].parent.parent / "hats" / "scene_a", scene)
    break_it(scene)
    with pytest.raises((FileNotFoundError, ValueError), match=message):
        convert_srn_scene(scene, tmp_path / "out", image_size=TARGET_SIZE)
    assert not (tmp_path / "out" / "scene_b").exists()


def test_a_category_converts_the_first_scenes_once_and_writes_the_dataset_map(converted, tmp_path):
    source = converted[0].parent.parent / "hats" / "scene_a"
    for name in ("b", "a", "c"):
        shutil.copytree(source, tmp_path / "hats" / name)
    folders = convert_srn_category(tmp_path / "hats", tmp_path / "out", limit=2, image_size=TARGET_SIZE)
    assert folders == [tmp_path / "out" / "a", tmp_path / "out" / "b"] and not (tmp_path / "out" / "c").exists()
    assert json.loads((tmp_path / "out" / "dataset_map.json").read_text()) == {"hats": ["a", "b"]}
    stamp = (folders[0] / "transforms.json").stat().st_mtime_ns
    convert_srn_category(tmp_path / "hats", tmp_path / "out", limit=2, image_size=TARGET_SIZE)
    assert (folders[0] / "transforms.json").stat().st_mtime_ns == stamp  # already converted: kept


def test_an_srn_dataset_from_config_names_scenes_before_reading_the_folder(converted, tmp_path):
    source = converted[0].parent.parent / "hats" / "scene_a"
    for name in ("b", "a", "c"):
        shutil.copytree(source, tmp_path / "hats" / name)
    spec = {"source": "srn", "path": str(tmp_path / "hats"), "count": 2, "eval_fraction": 0.25}
    folders = build_scene_dataset(spec, tmp_path / "out", image_size=TARGET_SIZE)
    assert [folder.name for folder in folders] == scene_names(spec) == ["hats_000", "hats_001"]
    assert [load_scene(folder).meta["srn_scene"] for folder in folders] == ["a", "b"]
    with pytest.raises(ValueError, match=r"holds 3 SRN scenes, 4 asked for; lower `count`"):
        build_scene_dataset({**spec, "count": 4}, tmp_path / "out", image_size=TARGET_SIZE)
