"""The ShapeNetCore source (igae.scenes.sources.shapenet): models of a named category, in a folder the test writes in
the ShapeNetCore v2 layout (<synset>/<model>/models/model_normalized.obj + .mtl), rendered in sorted id order by the
mesh source's renderer with the official ShapeNet camera (focal 1.02); a missing synset or model file is named before
anything renders. Open3D's renderer needs the Debian packages of envs/setup.sh (as tests/test_mesh.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from jsonschema import Draft202012Validator

from igae.scenes.cameras import rig_cameras
from igae.scenes.dataset_io import load_scene
from igae.scenes.mesh import MeshSceneConfig, camera_seed
from igae.scenes.sources.datasets import build_scene_dataset, scene_names
from igae.scenes.sources.shapenet import FOCAL_NORMALIZED, SYNSETS

REPO = Path(__file__).resolve().parents[1]
SIZE, VIEWS = 32, 4
COLOURS = {"b2": (0.1, 0.2, 0.9), "a1": (0.9, 0.1, 0.1), "c3": (0.1, 0.8, 0.1)}
"""Bag models (written in this order, not sorted) and the Kd colour of each one's material."""


def write_model(root: Path, synset: str, model: str, colour) -> Path:
    """A box (0.6 x 0.3 x 0.2, y up) with one diffuse material, as ShapeNetCore v2 stores a model."""
    folder = root / synset / model / "models"
    folder.mkdir(parents=True)
    corners = np.array([[x, y, z] for x in (-0.3, 0.3) for y in (-0.15, 0.15) for z in (-0.1, 0.1)])  # (8, 3)
    faces = [(1, 3, 4), (1, 4, 2), (5, 6, 8), (5, 8, 7), (1, 2, 6), (1, 6, 5), (3, 7, 8), (3, 8, 4), (1, 5, 7),
             (1, 7, 3), (2, 4, 8), (2, 8, 6)]  # fmt: skip
    (folder / "model_normalized.mtl").write_text(f"newmtl skin\nKd {colour[0]} {colour[1]} {colour[2]}\n")
    lines = ["mtllib model_normalized.mtl", "o box", *(f"v {x} {y} {z}" for x, y, z in corners), "usemtl skin"]
    (folder / "model_normalized.obj").write_text("\n".join(lines + [f"f {a} {b} {c}" for a, b, c in faces]) + "\n")
    return folder / "model_normalized.obj"


@pytest.fixture
def shapenet(tmp_path) -> Path:
    root = tmp_path / "ShapeNetCore.v2"
    for model, colour in COLOURS.items():
        write_model(root, SYNSETS["bag"], model, colour)
    return root


def test_models_render_in_sorted_id_order_with_the_official_focal_length(shapenet, tmp_path):
    """Models a1, b2, c3 (sorted ids): first 1, count 1 renders b2 as bag_001, in its material's colour."""
    spec = {"source": "shapenet", "path": str(shapenet), "category": "bag", "first": 1, "count": 1, "views": VIEWS,
            "eval_fraction": 0.25, "shading": "unlit"}  # fmt: skip
    assert scene_names(spec) == ["bag_001"]
    (folder,) = build_scene_dataset(spec, tmp_path / "scenes", image_size=SIZE)
    scene = load_scene(folder)
    meta = scene.meta
    assert (meta["source"], meta["category"], meta["synset"], meta["model"]) == ("shapenet", "bag", "02773838", "b2")
    np.testing.assert_allclose(scene.intrinsics_normalized[0, 0, 0], 1.02, rtol=1e-6)  # 32.64 px at 32 px
    config = MeshSceneConfig(views=VIEWS, image_size=SIZE, focal_normalized=FOCAL_NORMALIZED)
    np.testing.assert_allclose(scene.c2w_opencv, rig_cameras(config.rig, camera_seed("bag_001", 0)), atol=1e-6)
    pixels = scene.images[(scene.images < 0.98).any(-1)]  # (N, 3) the box's pixels
    assert len(pixels) > 0.03 * VIEWS * SIZE * SIZE, "the box is not in the views"
    np.testing.assert_allclose(np.median(pixels, axis=0), COLOURS["b2"], atol=0.05)  # its material, unlit


def _without_model_file(root: Path) -> None:
    (root / SYNSETS["cap"] / "m2" / "models" / "model_normalized.obj").unlink()


def _without_caps(root: Path) -> None:
    shutil.rmtree(root / SYNSETS["cap"])


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (
            _without_caps,
            r"ShapeNetCore.v2/02954340 does not exist: .* has no synset 02954340 \(cap\); it holds "
            r"\['02773838'\]",
        ),  # fmt: skip
        (_without_model_file, r"02954340/m2/models/model_normalized.obj does not exist: model m2 of cap \(02954340\)"),
        (shutil.rmtree, r"ShapeNetCore folder .* does not exist. .*needs a licence"),
    ],
    ids=["synset-missing", "model-file-missing", "folder-missing"],
)
def test_a_missing_synset_or_model_file_is_named_before_anything_renders(shapenet, tmp_path, break_it, message):
    for model in ("m1", "m2"):  # m1 is complete: the job must stop before rendering it
        write_model(shapenet, SYNSETS["cap"], model, (0.5, 0.5, 0.5))
    break_it(shapenet)
    spec = {"source": "shapenet", "path": str(shapenet), "category": "cap", "count": 2, "views": VIEWS}
    with pytest.raises(FileNotFoundError, match=message):
        build_scene_dataset(spec, tmp_path / "scenes", image_size=SIZE)
    assert not (tmp_path / "scenes").exists()  # checked before the first model rendered


def test_the_paper_config_takes_bags_hats_and_vases_from_shapenetcore():
    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    assert not [error.message for error in Draft202012Validator(schema).iter_errors(config)]
    entries = {name: config["scenes"][name] for name in ("bags", "hats", "vases")}
    assert {name: (e["source"], e["category"]) for name, e in entries.items()} == {
        "bags": ("shapenet", "bag"), "hats": ("shapenet", "cap"), "vases": ("shapenet", "vase")}  # fmt: skip
    assert not any(spec["source"] == "srn" for spec in config["scenes"].values())
