"""The offline real-image set: crops of scikit-image's photos, split by photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from igae.scenes.photos import PHOTO_FILES, load_photo
from igae.scenes.real_images import build_real_images, load_real_images

SIZE = 32
CROPS = 2
TEST_PHOTOS = ("chelsea", "coins")


@pytest.fixture(scope="module")
def real_set(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("real") / "skimage"
    return out, build_real_images(out, image_size=SIZE, crops_per_photo=CROPS, test_photos=TEST_PHOTOS, seed=0)


def test_test_photos_never_give_train_crops(real_set):
    out, manifest = real_set
    photo_of = {crop["file"]: crop["photo"] for crop in manifest["crops"]}
    test_sources = {photo_of[f"test/{p.name}"] for p in (out / "test").glob("*.png")}
    train_sources = {photo_of[f"train/{p.name}"] for p in (out / "train").glob("*.png")}
    assert test_sources == set(TEST_PHOTOS)
    assert train_sources == set(PHOTO_FILES) - set(TEST_PHOTOS)


def test_manifest_boxes_are_where_the_crops_come_from(real_set):
    out, manifest = real_set
    for crop in manifest["crops"][:: len(manifest["crops"]) // 6]:
        photo = Image.fromarray(load_photo(crop["photo"]))
        expected = np.asarray(photo.crop(tuple(crop["box"])).resize((SIZE, SIZE), Image.Resampling.LANCZOS))
        np.testing.assert_array_equal(np.asarray(Image.open(out / crop["file"])), expected, err_msg=crop["file"])


def test_sizes_and_value_range(real_set):
    out, _ = real_set
    train, test = load_real_images(out, "train"), load_real_images(out, "test")
    assert train.shape == ((len(PHOTO_FILES) - len(TEST_PHOTOS)) * CROPS, 3, SIZE, SIZE)
    assert test.shape == (len(TEST_PHOTOS) * CROPS, 3, SIZE, SIZE)
    assert train.min() >= -1.0 and train.max() <= 1.0 and train.std() > 0.1


def test_same_seed_same_bytes_other_seed_other_crops(real_set, tmp_path):
    out, manifest = real_set
    again = build_real_images(
        tmp_path / "again", image_size=SIZE, crops_per_photo=CROPS, test_photos=TEST_PHOTOS, seed=0
    )
    assert again == manifest
    for crop in manifest["crops"]:
        assert (tmp_path / "again" / crop["file"]).read_bytes() == (out / crop["file"]).read_bytes()
    other = build_real_images(
        tmp_path / "other", image_size=SIZE, crops_per_photo=CROPS, test_photos=TEST_PHOTOS, seed=1
    )
    assert [c["box"] for c in other["crops"]] != [c["box"] for c in manifest["crops"]]


def test_unknown_photo_is_named():
    with pytest.raises(ValueError, match="unknown photo 'lena'.*astronaut"):
        build_real_images("/nonexistent/never-written", test_photos=("lena",))
