"""Real-image source ``skimage``: crops of the photographs installed packages ship (:mod:`igae.scenes.photos`; offline),
split by photo (:func:`igae.scenes.real_images.build_real_images`)."""

from __future__ import annotations

from pathlib import Path

from igae.scenes.sources.source import RealImageSource


def build(spec: dict, out_dir: Path, image_size: int, downloads: Path) -> dict:
    """The crops of the entry's ``seed`` (nothing is downloaded)."""
    from igae.scenes.real_images import build_real_images

    return build_real_images(out_dir, image_size=image_size, seed=spec.get("seed", 0))


REAL_IMAGE_SOURCE = RealImageSource(name="skimage", keys=("seed",), build=build)
