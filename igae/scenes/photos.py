"""The photographs installed packages ship: scikit-image's ``data/``, matplotlib's sample data, scikit-learn's sample
images. They are the offline stand-in for ImageNet (:mod:`igae.scenes.real_images` crops them into the real-image set)
and the textures of the procedural ``photo`` scenes (:mod:`igae.scenes.procedural`). Plain file access: no other module
of this package is imported, so both can import this one.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

PHOTO_FILES: dict[str, tuple[str, str]] = {
    # colour photographs: (package, file inside the package's data folder)
    "astronaut": ("skimage", "astronaut.png"),
    "chelsea": ("skimage", "chelsea.png"),
    "coffee": ("skimage", "coffee.png"),
    "rocket": ("skimage", "rocket.jpg"),
    "motorcycle_left": ("skimage", "motorcycle_left.png"),
    "hubble_deep_field": ("skimage", "hubble_deep_field.jpg"),
    "retina": ("skimage", "retina.jpg"),
    "immunohistochemistry": ("skimage", "ihc.png"),
    "grace_hopper": ("matplotlib", "grace_hopper.jpg"),
    "china": ("sklearn", "china.jpg"),
    "flower": ("sklearn", "flower.jpg"),
    # grey photographs (stacked to RGB)
    "brick": ("skimage", "brick.png"),
    "grass": ("skimage", "grass.png"),
    "gravel": ("skimage", "gravel.png"),
    "camera": ("skimage", "camera.png"),
    "coins": ("skimage", "coins.png"),
    "page": ("skimage", "page.png"),
    "moon": ("skimage", "moon.png"),
    "text": ("skimage", "text.png"),
    "cell": ("skimage", "cell.png"),
    "clock": ("skimage", "clock_motion.png"),
    "microaneurysms": ("skimage", "microaneurysms.png"),
}
"""Photos inside installed wheels (no download): ``skimage.data.data_dir``, matplotlib's ``sample_data`` and
scikit-learn's ``datasets/images``. ``motorcycle_right.png`` is left out: it is the other half of a stereo pair, nearly
the same picture as ``motorcycle_left``, and would leak across a split by photo. Synthetic images (logos, colour
wheel, phantom, chessboards) are left out too."""


def _package_data_dir(package: str) -> Path:
    """The folder of sample photos inside an installed package's wheel."""
    if package == "skimage":
        import skimage.data

        return Path(skimage.data.data_dir)
    if package == "matplotlib":
        import matplotlib

        return Path(matplotlib.get_data_path()) / "sample_data"
    if package == "sklearn":
        import sklearn.datasets

        return Path(sklearn.datasets.__file__).parent / "images"
    raise ValueError(f"igae: no sample photos known in package {package!r}")


def photo_path(name: str) -> Path:
    """Path of one of the :data:`PHOTO_FILES` photos inside its installed package."""
    if name not in PHOTO_FILES:
        raise ValueError(f"igae: unknown photo {name!r} (known: {', '.join(PHOTO_FILES)})")
    package, file = PHOTO_FILES[name]
    path = _package_data_dir(package) / file
    if not path.is_file():
        raise FileNotFoundError(
            f"igae: {path} is missing from the installed {package}; reinstall it (its wheel ships the photo)"
        )
    return path


@lru_cache(maxsize=32)
def load_photo(name: str) -> np.ndarray:
    """One photo as RGB uint8 (H, W, 3); grey photos are stacked to three channels. Cached; do not modify it."""
    with Image.open(photo_path(name)) as image:
        array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    array.setflags(write=False)
    return array
