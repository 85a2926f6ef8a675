"""The one image reader (igae.images.load_rgb): training (load_scene, the latent encoder's read_rgb) and the
metrics' ground truth read an image with transparency as the same numbers, composited onto the background."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from igae.images import load_rgb
from igae.metrics import read_rgb
from igae.scenes.cameras import rig_intrinsics
from igae.scenes.dataset_io import load_scene, write_scene

SIZE = 8
PALETTE = np.array([[255, 0, 0], [0, 128, 255], [20, 200, 60], [250, 250, 10]], dtype=np.uint8)
"""Four palette colours; their alphas are ALPHAS."""
ALPHAS = np.array([255, 128, 0, 64], dtype=np.uint8)


def _indices() -> np.ndarray:
    """(SIZE, SIZE) palette indices, every entry present."""
    return (np.arange(SIZE * SIZE).reshape(SIZE, SIZE) * 7 % len(PALETTE)).astype(np.uint8)


def _write(kind: str, path) -> tuple[np.ndarray, np.ndarray]:
    """An 8-bit PNG with transparency; returns its colours (H, W, 3) and alphas (H, W), both in [0, 1]."""
    indices = _indices()
    if kind == "palette-alpha":  # mode P with a tRNS chunk: one alpha per palette entry (an "RGBA palette")
        image = Image.fromarray(indices, "P")
        image.putpalette(PALETTE.ravel().tolist())
        image.save(path, transparency=ALPHAS.tobytes())
        return PALETTE[indices] / 255.0, ALPHAS[indices] / 255.0
    if kind == "grey-alpha":
        grey, alpha = indices * 60, ALPHAS[indices]
        Image.fromarray(np.stack([grey, alpha], -1).astype(np.uint8), "LA").save(path)
        return np.repeat(grey[..., None] / 255.0, 3, -1), alpha / 255.0
    rgb = PALETTE[indices]  # "rgb-colour-key": tRNS names one colour that is transparent
    Image.fromarray(rgb).save(path, transparency=tuple(int(v) for v in PALETTE[2]))
    return rgb / 255.0, np.where(indices == 2, 0.0, 1.0)


@pytest.mark.parametrize("kind", ["palette-alpha", "grey-alpha", "rgb-colour-key"])
def test_training_and_metrics_read_transparent_images_alike_composited_on_the_background(tmp_path, kind):
    rgb, alpha = _write(kind, tmp_path / "image.png")
    with Image.open(tmp_path / "image.png") as written:
        assert written.mode == {"palette-alpha": "P", "grey-alpha": "LA", "rgb-colour-key": "RGB"}[kind]
    expected = rgb * alpha[..., None] + (1.0 - alpha[..., None])  # (H, W, 3) on white
    np.testing.assert_allclose(load_rgb(tmp_path / "image.png"), expected, atol=1e-6)

    # as a scene's view: what IG-AE training reads (load_scene) and what the metrics read (read_rgb) are equal
    views = np.zeros((2, SIZE, SIZE, 3), dtype=np.uint8)
    folder = write_scene(tmp_path / "scene", views, np.tile(np.eye(4), (2, 1, 1)), rig_intrinsics(SIZE, 1.0), 1, {})
    (tmp_path / "image.png").replace(folder / "images" / "r_000.png")
    training = load_scene(folder).images[0]  # (H, W, 3)
    metrics = read_rgb(folder / "images" / "r_000.png").numpy()
    np.testing.assert_array_equal(training, metrics)
    np.testing.assert_allclose(training, expected, atol=1e-6)

    black = read_rgb(folder / "images" / "r_000.png", background=(0.0, 0.0, 0.0)).numpy()
    np.testing.assert_allclose(black, rgb * alpha[..., None], atol=1e-6)


def test_a_missing_image_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"image .*nope\.png does not exist"):
        read_rgb(tmp_path / "nope.png")
