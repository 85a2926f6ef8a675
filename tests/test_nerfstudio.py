"""Source ``nerfstudio``: a capture in nerfstudio's format (what ns-process-data writes: OpenGL poses, a COLMAP OPENCV
camera with lens distortion, landscape images) written by the tests, converted into a scene folder: undistorted,
centre-cropped square, resized with the intrinsics scaled, points landing where the converted cameras project them;
its own split kept, or nerfstudio's fraction split made; a broken folder reported with the file at fault."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from igae.config import ConfigError, check_config
from igae.scenes.cameras import look_at_c2w_opencv, opencv_to_opengl, orbit_positions, project_points
from igae.scenes.dataset_io import load_scene
from igae.scenes.sources.datasets import build_scene_dataset, scene_names

TINY = yaml.safe_load((Path(__file__).parent / "data" / "tiny_config.yaml").read_text())
WIDTH, HEIGHT = 96, 64
"""The capture's images: landscape 3:2, cropped to the centred 64 x 64 square (16 px off each side)."""
CAMERA = {"fl_x": 62.0, "fl_y": 60.0, "cx": 47.3, "cy": 32.6, "w": WIDTH, "h": HEIGHT}
"""Off-centre principal point and two focal lengths: a wrong crop offset or scale shows."""
DISTORTION = {"k1": -0.22, "k2": 0.05, "p1": 0.003, "p2": -0.002}
"""Barrel distortion, as COLMAP's OPENCV camera states it (k3 = 0)."""
POINTS = np.array([[0.0, 0.0, 0.0], [0.5, -0.1, 0.2], [-0.45, 0.35, -0.15], [0.1, 0.5, 0.4], [-0.2, -0.5, 0.3]])
"""World points each view shows as a small dark dot."""
SIZE = 32
"""The scene's image_size: the 64 px square halves."""
SIGMA = 1.4
"""Dot radius (Gaussian sigma) in capture pixels."""


def distort(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (pixel i spans [i, i + 1]) of pinhole pixels (u, v) as the distorting lens images them."""
    x, y = (u - CAMERA["cx"]) / CAMERA["fl_x"], (v - CAMERA["cy"]) / CAMERA["fl_y"]
    k1, k2, p1, p2 = DISTORTION["k1"], DISTORTION["k2"], DISTORTION["p1"], DISTORTION["p2"]
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2 * r2
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return CAMERA["fl_x"] * xd + CAMERA["cx"], CAMERA["fl_y"] * yd + CAMERA["cy"]


def write_capture(folder: Path, views: int = 8, split: dict | None = None, **top_level) -> np.ndarray:
    """A nerfstudio folder (transforms.json + images/frame_00001.png ...) of ``views`` distorted views of POINTS,
    listed in reverse order (nerfstudio sorts frames by file path). Returns the OpenCV c2w (V, 4, 4) in file order."""
    (folder / "images").mkdir(parents=True)
    c2w = np.stack([look_at_c2w_opencv(p) for p in orbit_positions(views, 1.3, seed=4)])  # (V, 4, 4)
    camera = [CAMERA[key] for key in ("fl_x", "fl_y", "cx", "cy")]
    u, v = np.meshgrid(np.arange(WIDTH) + 0.5, np.arange(HEIGHT) + 0.5)  # (H, W) pixel centres
    frames = []
    for index, pose in enumerate(c2w):
        darkness = np.zeros((HEIGHT, WIDTH))
        for ud, vd in zip(*distort(*project_points(POINTS, pose, *camera).T), strict=True):
            darkness += np.exp(-((u - ud) ** 2 + (v - vd) ** 2) / (2 * SIGMA**2))
        image = np.clip(255 * (1 - np.clip(darkness, 0, 1)), 0, 255).round().astype(np.uint8)
        name = f"images/frame_{index + 1:05d}.png"
        Image.fromarray(np.repeat(image[..., None], 3, -1)).save(folder / name)
        frames.append({"file_path": name, "transform_matrix": opencv_to_opengl(pose).tolist(), "colmap_im_id": index})
    transforms = {"camera_model": "OPENCV", **CAMERA, **DISTORTION, "frames": frames[::-1], **(split or {})}
    (folder / "transforms.json").write_text(json.dumps({**transforms, **top_level}))
    return c2w


def dot_centres(image: np.ndarray, expected: np.ndarray, radius: int = 3) -> np.ndarray:
    """(N, 2) darkness-weighted centres of the dots of ``image`` (H, W, 3) near each ``expected`` (N, 2) position."""
    darkness = 1.0 - image.mean(-1)  # (H, W)
    centres = []
    for u, v in expected:
        top, left = int(v) - radius, int(u) - radius
        window = darkness[top : top + 2 * radius + 1, left : left + 2 * radius + 1]
        rows, cols = np.mgrid[top : top + 2 * radius + 1, left : left + 2 * radius + 1] + 0.5
        centres.append([(window * cols).sum() / window.sum(), (window * rows).sum() / window.sum()])
    return np.array(centres).reshape(-1, 2)


def test_a_distorted_landscape_capture_lands_where_the_converted_cameras_project(tmp_path):
    """Undistortion, centre crop (16 px off each side), resize 64 -> 32 and the OpenGL poses, together: every dot
    of the scene sits where project_points puts its world point with the scene's own cameras (within 0.3 px)."""
    write_capture(tmp_path / "garden")
    spec = {"source": "nerfstudio", "path": str(tmp_path / "garden"), "eval_fraction": 0.25}
    assert scene_names(spec) == ["garden"]
    (folder,) = build_scene_dataset(spec, tmp_path / "scenes", image_size=SIZE)
    scene = load_scene(folder)
    assert scene.images.shape == (8, SIZE, SIZE, 3)
    k = scene.intrinsics_normalized[0] * SIZE  # (3, 3) in pixels at SIZE
    np.testing.assert_allclose([k[0, 0], k[1, 1]], [CAMERA["fl_x"] / 2, CAMERA["fl_y"] / 2], rtol=1e-6)
    np.testing.assert_allclose([k[0, 2], k[1, 2]], [(CAMERA["cx"] - 16) / 2, CAMERA["cy"] / 2], rtol=1e-6)
    checked, distortion_shift = 0, []
    for image, c2w in zip(scene.images, scene.c2w_opencv.astype(np.float64), strict=True):
        expected = project_points(POINTS, c2w, k[0, 0], k[1, 1], k[0, 2], k[1, 2])  # (N, 2) at SIZE
        apart = np.linalg.norm(expected[:, None] - expected[None], axis=-1) + 99 * np.eye(len(POINTS))
        inside = (expected.min(1) > 4) & (expected.max(1) < SIZE - 4) & (apart.min(1) > 7)  # whole, single dots
        found = dot_centres(image, expected[inside])
        np.testing.assert_allclose(found, expected[inside], atol=0.3)
        checked += inside.sum()
        capture = np.stack([expected[:, 0] * 2 + 16, expected[:, 1] * 2], -1)  # (N, 2) in capture pixels
        distorted = np.stack(distort(*capture.T), -1)
        distortion_shift.append(np.linalg.norm(distorted - capture, axis=-1)[inside] / 2)
    assert checked >= 12
    assert np.concatenate(distortion_shift).max() > 1.0  # without undistortion some dots would be > 1 px off


def test_the_capture_split_is_kept_and_without_one_nerfstudio_fraction_split_is_made(tmp_path):
    names = [f"images/frame_{i:05d}.png" for i in range(1, 9)]
    split = {"train_filenames": names[1:6], "val_filenames": names[6:7], "test_filenames": names[6:8]}
    write_capture(tmp_path / "split", split=split)  # frame_00001 is in no split: left out
    write_capture(tmp_path / "nosplit")
    spec = {"source": "nerfstudio", "path": str(tmp_path), "eval_fraction": 0.25}
    assert scene_names(spec) == ["nosplit", "split"]
    made, kept = build_scene_dataset(spec, tmp_path / "scenes", image_size=SIZE)
    scene = load_scene(kept)
    assert scene.meta["frames"] == names[6:8] + names[1:6]  # the test frames are the eval views: first
    assert scene.eval_indices.tolist() == [0, 1] and scene.train_indices.tolist() == [2, 3, 4, 5, 6]
    # no split: ceil(0.25 * 8) = 2 eval frames; 6 train frames evenly spaced over 0..7 (0, 1, 2, 4, 5, 7)
    scene = load_scene(made)
    assert scene.meta["frames"] == [names[3], names[6]] + [names[i] for i in (0, 1, 2, 4, 5, 7)]
    assert scene.eval_indices.tolist() == [0, 1]


def test_the_same_settings_keep_a_converted_scene_and_an_edited_capture_converts_again(tmp_path):
    write_capture(tmp_path / "garden")
    spec = {"source": "nerfstudio", "path": str(tmp_path / "garden")}
    (folder,) = build_scene_dataset(spec, tmp_path / "scenes", image_size=SIZE)
    stamp = (folder / "transforms.json").stat().st_mtime_ns
    build_scene_dataset(spec, tmp_path / "scenes", image_size=SIZE)
    assert (folder / "transforms.json").stat().st_mtime_ns == stamp
    build_scene_dataset({**spec, "background": [0, 0, 0]}, tmp_path / "scenes", image_size=SIZE)
    assert (folder / "transforms.json").stat().st_mtime_ns != stamp


def _different_intrinsics(folder: Path) -> None:
    transforms = json.loads((folder / "transforms.json").read_text())
    transforms["frames"][2]["fl_x"] = 70.0  # per frame: wins over the top level for this frame only
    for frame in transforms["frames"]:
        frame.setdefault("fl_x", CAMERA["fl_x"])
    del transforms["fl_x"]
    (folder / "transforms.json").write_text(json.dumps(transforms))


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (
            lambda f: (f / "images/frame_00003.png").unlink(),
            r"frame 5 points to images/frame_00003.png, which does not",
        ),
        (
            lambda f: write_capture(f.parent / "fish", camera_model="OPENCV_FISHEYE"),
            r"OPENCV_FISHEYE is not a perspect",
        ),
        (
            lambda f: Image.new("RGB", (90, 64)).save(f / "images/frame_00002.png"),
            r"frame_00002.png is 90x64 but .*96x64",
        ),
        (_different_intrinsics, r"frame 2 has other intrinsics than .*frame 1 "),
        (lambda f: (f / "transforms.json").write_text("{"), r"transforms.json is not valid JSON"),
    ],
    ids=["missing-image", "fisheye", "wrong-size", "two-cameras", "malformed-json"],
)
def test_a_broken_capture_is_reported_with_the_file_at_fault(tmp_path, break_it, message):
    write_capture(tmp_path / "capture" / "garden")
    break_it(tmp_path / "capture" / "garden")
    spec = {"source": "nerfstudio", "path": str(tmp_path / "capture")}
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        build_scene_dataset(spec, tmp_path / "scenes", image_size=SIZE)
    assert not (tmp_path / "scenes" / "garden").exists()


def test_the_config_check_names_a_folder_that_is_no_capture(tmp_path):
    config = yaml.safe_load(yaml.safe_dump(TINY))
    config["scenes"]["mine"] = {"source": "nerfstudio", "path": str(tmp_path)}
    with pytest.raises(ConfigError, match=r"scenes\.mine\.path = .*holds no transforms\.json, nor does any of its"):
        check_config(config)
    write_capture(tmp_path / "garden")
    check_config(config)
    config["scenes"]["mine"]["folders"] = ["garden", "kitchen"]
    with pytest.raises(ConfigError, match=r"scenes\.mine\.path = .*the folders \['kitchen'\] of `folders` hold no"):
        check_config(config)


@pytest.mark.parametrize("split", [True, False], ids=["the-capture-s-split", "made-split"])
def test_a_capture_with_fewer_than_4_train_views_is_refused_naming_the_folder(tmp_path, split):
    names = [f"images/frame_{i:05d}.png" for i in range(1, 9)]
    if split:  # one train frame in the file's own split
        write_capture(tmp_path / "garden", split={"train_filenames": names[:1], "test_filenames": names[1:3]})
    else:  # 4 views, eval_fraction 0.5: 2 eval and 2 train frames
        write_capture(tmp_path / "garden", views=4)
    spec = {"source": "nerfstudio", "path": str(tmp_path / "garden"), "eval_fraction": 0.5}
    with pytest.raises(ValueError, match=rf"garden: {1 if split else 2} train frame\(s\) .*at least 4 train views"):
        build_scene_dataset(spec, tmp_path / "scenes", image_size=SIZE)
    assert not (tmp_path / "scenes" / "garden").exists()
