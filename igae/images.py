"""Image files: the one reader of every stage (scene folders, IG-AE training, latent encoding, NeRF targets, metrics),
and the resizing and cropping the scene sources share.

Pixels are float32 RGB in [0, 1], channels last. Any transparency an image file carries (an alpha channel, a palette
with per-entry alpha, a tRNS colour key) is composited onto a background, white unless said otherwise:
``rgb * alpha + background * (1 - alpha)``. Training images and metric ground truth are therefore the same numbers.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

WHITE = (1.0, 1.0, 1.0)
"""The background of every scene of this project (and of the AEs' latent background colour)."""
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
"""PIL modes with an alpha channel."""
INTERPOLATIONS = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC}
"""Names accepted for a source's ``interpolation``, and their OpenCV flags."""


@contextlib.contextmanager
def open_image(path: str | Path):
    """``PIL.Image.open(path)`` for reading; a file that cannot be decoded (truncated, not an image, missing) raises
    an OSError that names it (PIL's own, e.g. "image file is truncated", does not)."""
    try:
        with Image.open(path) as image:
            yield image
    except (OSError, SyntaxError) as error:  # PIL raises SyntaxError for some malformed headers
        raise OSError(f"igae: cannot read image {path} ({type(error).__name__}: {error})") from error


def has_transparency(image: Image.Image) -> bool:
    """Whether an opened image carries alpha: an alpha channel, or a ``transparency`` entry (a palette's per-entry
    alpha, a grey or RGB colour key)."""
    return image.mode in ALPHA_MODES or "transparency" in image.info


def load_rgb(path: str | Path, background: tuple[float, float, float] = WHITE) -> np.ndarray:
    """RGB float32 (H, W, 3) in [0, 1] of an 8-bit image file, its transparency composited onto ``background``.

    FileNotFoundError for a missing file; OSError naming the file for one that cannot be decoded.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"igae: image {path} does not exist")
    with open_image(path) as image:  # decoded inside: a truncated file fails here, named
        if not has_transparency(image):
            return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0  # (H, W, 4)
    alpha = rgba[..., 3:]  # (H, W, 1)
    return rgba[..., :3] * alpha + np.asarray(background, dtype=np.float32) * (1.0 - alpha)


def resize_views(images: np.ndarray, image_size: int, interpolation: str = "area") -> np.ndarray:
    """(V, S, S, 3) float in [0, 1] -> (V, image_size, image_size, 3) uint8, resized by OpenCV when S differs.

    OpenCV maps continuous pixel coordinates as x' = x * image_size / S (pixel i spans [i, i + 1]), so intrinsics
    in pixels scale by the same float ratio.
    """
    if images.shape[1] != image_size:
        flag = INTERPOLATIONS[interpolation]
        images = np.stack([cv2.resize(image, (image_size, image_size), interpolation=flag) for image in images])
    return np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8)


def centre_square(width: int, height: int) -> tuple[int, int, int]:
    """(left, top, side) of the largest square centred in a ``width`` x ``height`` image (odd margins: the extra
    pixel on the right or bottom)."""
    side = min(width, height)
    return (width - side) // 2, (height - side) // 2, side
