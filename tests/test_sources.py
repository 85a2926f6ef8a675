"""Scene and real-image sources selected by config: the authors' release (downloaded from a local stand-in for the
Hub, or read from a local copy), converted into scene folders; a broken release scene is reported with the file at
fault by the job that converts it, before anything trains; Objaverse GLBs by uid; the paper's epoch schedule."""

from __future__ import annotations

import gzip
import json
import shutil

import numpy as np
import pytest
from fake_hub import REPO, FakeHub, png_bytes, serving
from huggingface_hub import constants
from PIL import Image

from igae.ae.training_configs import epochs_to_steps
from igae.scenes.cameras import look_at_c2w_opencv, orbit_positions
from igae.scenes.dataset_io import load_scene
from igae.scenes.real_images import load_real_images
from igae.scenes.sources.datasets import build_real_image_set, build_scene_dataset, scene_names
from igae.scenes.sources.download import DownloadError
from igae.scenes.sources.objaverse import fetch_objaverse

SCENES = ["000-aaa", "001-bbb", "002-ccc"]
VIEWS = 5
UID = "0123456789abcdef0123456789abcdef"


def _release(size: int = 64) -> dict[str, bytes]:
    """A tiny release in the authors' layout: 3 Objaverse scenes of 5 views (images in rgb/), 6 ImageNet images."""
    rng = np.random.default_rng(0)
    focal = 1.09375 * size
    camera = {"fl_x": focal, "fl_y": focal, "cx": size / 2, "cy": size / 2, "w": size, "h": size}
    files = {"train/objaverse/dataset_map.json": json.dumps({"objaverse": SCENES}).encode()}
    for scene in SCENES:
        c2w = [look_at_c2w_opencv(p).tolist() for p in orbit_positions(VIEWS, 1.3, seed=3)]
        frames = [{"file_path": f"rgb/{i:03d}.png", "transform_matrix": c2w[i], **camera} for i in range(VIEWS)]
        root = f"train/objaverse/square128/{scene}"
        files[f"{root}/transforms_opencv.json"] = json.dumps({"frames": frames}).encode()
        for i in range(VIEWS):
            files[f"{root}/rgb/{i:03d}.png"] = png_bytes(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    for i in range(6):
        files[f"train/imagenet/square128/n0{i}/img_{i}.png"] = png_bytes(
            rng.integers(0, 256, (80, 96, 3), dtype=np.uint8)
        )
    return files


@pytest.fixture
def hub(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # the tests talk to 127.0.0.1 only
    with serving(FakeHub(_release())) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        yield hub


def _local_copy(root) -> None:
    for path, data in _release().items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)


def test_release_scenes_download_only_what_the_config_asks_and_convert(hub, tmp_path, monkeypatch):
    spec = {"source": "igae-data", "count": 2, "first": 1, "eval_fraction": 0.2}
    assert scene_names(spec) == ["objaverse_0001", "objaverse_0002"]
    folders = build_scene_dataset(spec, tmp_path / "scenes", image_size=32, downloads=tmp_path / "dl")
    assert [f.name for f in folders] == scene_names(spec)
    fetched = {p.relative_to(tmp_path / "dl" / REPO).as_posix() for p in (tmp_path / "dl").rglob("*") if p.is_file()}
    assert not any(SCENES[0] in path for path in fetched) and not any("imagenet" in path for path in fetched)
    scene = load_scene(folders[0])
    assert scene.meta["scene_id"] == SCENES[1] and scene.images.shape == (VIEWS, 32, 32, 3)
    assert scene.eval_indices.tolist() == [0]
    np.testing.assert_allclose(scene.intrinsics_normalized[0, 0, 0], 1.09375, rtol=1e-6)  # scaled with the image
    requests = len(hub.log)
    shutil.rmtree(tmp_path / "scenes")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # a re-run finds everything in the cache: no request
    build_scene_dataset(spec, tmp_path / "scenes", image_size=32, downloads=tmp_path / "dl")
    assert len(hub.log) == requests


def test_a_local_copy_of_the_release_needs_no_network(tmp_path):
    _local_copy(tmp_path / "release")
    spec = {"source": "igae-data", "count": 3, "path": str(tmp_path / "release")}
    folders = build_scene_dataset(spec, tmp_path / "scenes", image_size=64, downloads=tmp_path / "unused")
    assert len(folders) == 3 and not (tmp_path / "unused").exists()


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (lambda scene: (scene / "rgb/002.png").unlink(), r"frame 2 points to rgb/002.png, which does not exist"),
        (lambda scene: (scene / "transforms_opencv.json").write_text("{"), r"transforms_opencv.json is not valid JSON"),
        (
            lambda scene: Image.new("RGB", (50, 64)).save(scene / "rgb/001.png"),
            r"rgb/001.png is 50x64 but .*frame 1 says 64x64",
        ),
    ],
    ids=["missing-image", "malformed-json", "wrong-size"],
)
def test_a_broken_release_scene_is_reported_with_the_file_at_fault(tmp_path, break_it, message):
    _local_copy(tmp_path / "release")
    break_it(tmp_path / "release/train/objaverse/square128" / SCENES[1])
    spec = {"source": "igae-data", "count": 3, "path": str(tmp_path / "release")}
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        build_scene_dataset(spec, tmp_path / "scenes", image_size=64)
    assert sorted(p.name for p in (tmp_path / "scenes").iterdir()) == ["objaverse_0000"]  # nothing of the broken one


def test_asking_for_more_scenes_than_the_release_holds_is_named(tmp_path):
    _local_copy(tmp_path / "release")
    spec = {"source": "igae-data", "count": 2, "first": 2, "path": str(tmp_path / "release")}
    with pytest.raises(ValueError, match=r"scenes 2\.\.3 were asked for, but .*dataset_map.json lists 3 scenes"):
        build_scene_dataset(spec, tmp_path / "scenes", image_size=64)


def test_release_real_images_are_a_seeded_sample_split_and_resized(hub, tmp_path):
    spec = {"source": "igae-data", "count": 5, "seed": 1, "test_fraction": 0.2}
    manifest = build_real_image_set(spec, tmp_path / "real", image_size=32, downloads=tmp_path / "dl")
    train, test = load_real_images(tmp_path / "real", "train"), load_real_images(tmp_path / "real", "test")
    assert (len(train), len(test)) == (4, 1) and train.shape[1:] == (3, 32, 32)
    again = build_real_image_set(spec, tmp_path / "real2", image_size=32, downloads=tmp_path / "dl")
    assert [c["origin"] for c in again["crops"]] == [c["origin"] for c in manifest["crops"]]
    _local_copy(tmp_path / "release")  # a local copy of the release gives the same sample
    local = build_real_image_set({**spec, "path": str(tmp_path / "release")}, tmp_path / "real3", image_size=32)
    assert [c["origin"] for c in local["crops"]] == [c["origin"] for c in manifest["crops"]]


def test_offline_the_release_fails_fast_naming_the_source_and_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DownloadError, match=r"k-kassab/igae-data.*HF_HUB_OFFLINE.*scenes.<name>.path"):
        build_scene_dataset({"source": "igae-data", "count": 1}, tmp_path / "scenes", 64, downloads=tmp_path)
    assert not list(tmp_path.rglob("*.json"))


def test_objaverse_glbs_are_fetched_by_uid(monkeypatch, tmp_path):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    glb = b"glTF fake body"  # the download does not parse it; the mesh tests render real files
    index = gzip.compress(json.dumps({UID: f"glbs/000-001/{UID}.glb"}).encode())
    objaverse = {"object-paths.json.gz": index, f"glbs/000-001/{UID}.glb": glb}
    with serving(FakeHub({}, other_repos={"allenai/objaverse": objaverse})) as hub:
        (path,) = fetch_objaverse([UID], tmp_path, endpoint=hub.endpoint)
        assert path.read_bytes() == glb and path.name == f"{UID}.glb"
        with pytest.raises(ValueError, match="has no object"):
            fetch_objaverse(["f" * 32], tmp_path, endpoint=hub.endpoint)
    assert scene_names({"source": "mesh", "objaverse_uids": [UID]}) == [UID]


def test_srn_scene_names_are_known_before_the_folder_is_read(tmp_path):
    assert scene_names({"source": "srn", "path": "/data/srn/hats", "count": 2}) == ["hats_000", "hats_001"]
    with pytest.raises(FileNotFoundError, match="SRN category folder .*hats does not exist"):
        build_scene_dataset({"source": "srn", "path": str(tmp_path / "hats"), "count": 2}, tmp_path / "out", 32)


def test_paper_epochs_become_steps_for_the_data_at_hand():
    training = {"warmup_epochs": 50, "joint_epochs": 75, "warmup_batch_views": 32, "batch_views": 12,
                "lr_decay_per_epoch": 0.988032}  # fmt: skip
    steps = epochs_to_steps(training, train_views=1200)
    assert (steps["warmup_steps"], steps["joint_steps"]) == (1875, 7500)
    assert steps["lr_decay_per_step"] ** 100 == pytest.approx(0.988032)  # 100 joint steps per epoch
    with pytest.raises(ValueError, match="both joint_epochs and joint_steps"):
        epochs_to_steps({"joint_epochs": 1, "joint_steps": 3}, 10)
