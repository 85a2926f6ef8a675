"""An offline set of real photographs: square crops of the photos that installed packages ship.

The paper injects ImageNet images into IG-AE training and trains (or takes) a standard AE on photographs. Offline, the
only photographs at hand are those inside installed wheels (:mod:`igae.scenes.photos`: scikit-image's ``data/``,
matplotlib's sample data, scikit-learn's sample images); this module turns them into a small ImageNet-style set of
square crops at random scales, split into train and test **by source photo** (a test photo never gives a train crop).

Layout written by :func:`build_real_images`::

    {out_dir}/train/{photo}_{k:03d}.png   RGB uint8, image_size x image_size
    {out_dir}/test/{photo}_{k:03d}.png
    {out_dir}/manifest.json               seed, parameters, and for every crop its photo and box in that photo
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from igae.files import atomic_folder
from igae.images import open_image
from igae.scenes.photos import PHOTO_FILES, load_photo, photo_path

DEFAULT_TEST_PHOTOS: tuple[str, ...] = ("chelsea", "coins")
"""Held-out photos: one colour photograph, one grey one."""

DEFAULT_CROPS_PER_PHOTO = 60
"""With 22 photos, 2 of them held out: 1200 train crops and 120 test crops."""

MIN_CROP_FRACTION = 0.2
"""Smallest crop side, as a fraction of the photo's short side; the side is drawn uniformly in [this, 1]."""


def random_square_crops(
    photo: np.ndarray, count: int, image_size: int, rng: np.random.Generator
) -> tuple[list[np.ndarray], list[list[int]]]:
    """``count`` square crops of ``photo`` at random scales and places, resized to ``image_size``.

    Returns the crops (RGB uint8 (image_size, image_size, 3)) and their boxes ``[x0, y0, x1, y1]`` in the photo.
    """
    height, width = photo.shape[:2]
    short_side = min(height, width)
    source = Image.fromarray(photo)
    crops, boxes = [], []
    for _ in range(count):
        side = int(round(rng.uniform(MIN_CROP_FRACTION, 1.0) * short_side))
        side = max(1, min(side, short_side))
        x0 = int(rng.integers(0, width - side + 1))
        y0 = int(rng.integers(0, height - side + 1))
        box = [x0, y0, x0 + side, y0 + side]
        crop = source.crop(tuple(box)).resize((image_size, image_size), Image.Resampling.LANCZOS)
        crops.append(np.asarray(crop, dtype=np.uint8))
        boxes.append(box)
    return crops, boxes


def _photo_rng(seed: int, name: str) -> np.random.Generator:
    """A generator per (seed, photo name): adding or removing a photo leaves the other photos' crops unchanged."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(name.encode())]))


def _manifest_parameters(
    image_size: int, crops_per_photo: int, train_photos: list[str], test_photos: list[str], seed: int
) -> dict:
    return {
        "source": "photos shipped by skimage, matplotlib, sklearn",
        "seed": seed,
        "image_size": image_size,
        "crops_per_photo": crops_per_photo,
        "min_crop_fraction": MIN_CROP_FRACTION,
        "train_photos": train_photos,
        "test_photos": test_photos,
    }


def _is_complete(out_dir: Path, parameters: dict) -> dict | None:
    """The manifest of an existing set built with the same parameters and with all its files, else None."""
    manifest_path = out_dir / "manifest.json"
    if not manifest_path.is_file():
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError:
        return None
    if any(manifest.get(key) != value for key, value in parameters.items()):
        return None
    if not all((out_dir / crop["file"]).is_file() for crop in manifest.get("crops", [])):
        return None
    return manifest


def build_real_images(
    out_dir: str | Path,
    image_size: int = 128,
    crops_per_photo: int = DEFAULT_CROPS_PER_PHOTO,
    test_photos: tuple[str, ...] = DEFAULT_TEST_PHOTOS,
    seed: int = 0,
    photos: tuple[str, ...] | None = None,
) -> dict:
    """Write the real-image set to ``out_dir`` (train/, test/, manifest.json) and return the manifest.

    Args:
        out_dir: destination folder; written atomically (a temporary sibling folder renamed at the end). A complete
            set already there with the same parameters is kept as is.
        image_size: side of the square crops, in pixels.
        crops_per_photo: crops taken from every photo, in both splits.
        test_photos: photos whose crops form the test split; all the other photos form the train split.
        seed: the crops are a function of (seed, photo name, image_size, crops_per_photo) only.
        photos: photos to use (default: every name in :data:`PHOTO_FILES`).
    """
    out_dir = Path(out_dir)
    photos = tuple(PHOTO_FILES) if photos is None else tuple(photos)
    for name in (*photos, *test_photos):
        photo_path(name)  # raises a ValueError naming the known photos
    missing = [name for name in test_photos if name not in photos]
    if missing:
        raise ValueError(f"igae: test photos {missing} are not among the photos used ({', '.join(photos)})")
    train_photos = [name for name in photos if name not in test_photos]
    if not train_photos or not test_photos:
        raise ValueError(
            f"igae: the split by photo needs at least one train and one test photo; got train={train_photos}, "
            f"test={list(test_photos)}"
        )
    if image_size < 1 or crops_per_photo < 1:
        raise ValueError(f"igae: image_size ({image_size}) and crops_per_photo ({crops_per_photo}) must be >= 1")

    parameters = _manifest_parameters(image_size, crops_per_photo, train_photos, list(test_photos), seed)
    existing = _is_complete(out_dir, parameters)
    if existing is not None:
        return existing

    with atomic_folder(out_dir) as temporary:
        crops_entries = []
        for split, names in (("train", train_photos), ("test", list(test_photos))):
            (temporary / split).mkdir()
            for name in names:
                crops, boxes = random_square_crops(
                    load_photo(name), crops_per_photo, image_size, _photo_rng(seed, name)
                )
                for k, (crop, box) in enumerate(zip(crops, boxes, strict=True)):
                    file = f"{split}/{name}_{k:03d}.png"
                    Image.fromarray(crop).save(temporary / file)
                    crops_entries.append({"file": file, "split": split, "photo": name, "box": box})
        manifest = {**parameters, "crops": crops_entries}
        (temporary / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def write_image_folder(out_dir: str | Path, images: Iterable[tuple[str, np.ndarray, str]], parameters: dict) -> dict:
    """Write ``(file, RGB uint8 (S, S, 3), origin)`` items and a manifest to ``out_dir`` atomically; return it.

    ``file`` is ``train/...png`` or ``test/...png``; ``origin`` (the source file) is recorded in the manifest. The
    items are written as they come (a generator keeps a 45,000-image set out of memory).
    """
    with atomic_folder(out_dir) as temporary:
        entries = []
        for file, array, origin in images:
            (temporary / file).parent.mkdir(exist_ok=True)
            Image.fromarray(array).save(temporary / file)
            entries.append({"file": file, "split": file.split("/")[0], "origin": origin})
        manifest = {**parameters, "crops": entries}
        (temporary / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def load_real_images(
    folder: str | Path, split: str, device: str | torch.device = "cpu", uint8: bool = False
) -> torch.Tensor:
    """The crops of one split as a float32 tensor (N, 3, H, W) in [-1, 1] on ``device``, in file-name order.

    ``uint8``: return them as stored instead, uint8 (N, 3, H, W) in 0..255 (a quarter of the memory);
    :func:`igae.ae.igae_training.images_to_model_range` turns a batch of them into the same float32 numbers.
    """
    if split not in ("train", "test"):
        raise ValueError(f"igae: split {split!r} is not one of 'train', 'test'")
    split_dir = Path(folder) / split
    if not split_dir.is_dir():
        raise FileNotFoundError(f"igae: {split_dir} does not exist; build the set with build_real_images({folder!r})")
    files = sorted(split_dir.glob("*.png"))
    if not files:
        raise FileNotFoundError(f"igae: {split_dir} holds no PNG image")
    arrays = []
    for file in files:
        with open_image(file) as image:  # names the file when it cannot be read (e.g. truncated)
            arrays.append(np.asarray(image.convert("RGB"), dtype=np.uint8))
    shapes = {array.shape for array in arrays}
    if len(shapes) != 1:
        raise ValueError(f"igae: {split_dir} mixes image sizes {sorted(shapes)}; rebuild the set")
    if uint8:
        return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous().to(device)  # (N, 3, H, W) uint8
    images = torch.from_numpy(np.stack(arrays)).to(device).permute(0, 3, 1, 2).float()  # (N, 3, H, W) in [0, 255]
    return images / 127.5 - 1.0
