"""One entry point per config section: a ``scenes.<name>`` entry or the ``real_images`` entry of config.yaml, whatever
its ``source``, becomes folders in this project's layouts. Scene names are known from the config alone (before any
download), because the workflow's jobs are one per scene.

Sources of scenes: one module each (:mod:`igae.scenes.sources.registry`): ``procedural`` (built in), ``mesh`` (a folder
of mesh files, or Objaverse uids), ``srn`` (a local ShapeNet-SRN category folder), ``igae-data`` (the authors' release,
downloaded, or a local copy of it), ``nerfstudio`` (a nerfstudio-format folder, e.g. from ``ns-process-data``),
``blender`` (the NeRF-synthetic layout).
Sources of real images (:data:`igae.scenes.sources.registry.REAL_IMAGE_SOURCES`): ``skimage`` (photos installed packages
ship), ``igae-data`` (the release's ImageNet subset).
Every scene written is then read back (:func:`igae.scenes.dataset_io.load_scene`), so a broken one is reported, with
the file at fault, by the job that made it, before any training, and its failure floor is stored beside it
(:func:`igae.scenes.floor.write_scene_floor`).
"""

from __future__ import annotations

from pathlib import Path

from igae.scenes.dataset_io import load_scene
from igae.scenes.floor import write_scene_floor
from igae.scenes.sources.registry import real_image_source, scene_source

DEFAULT_DOWNLOADS = "resources/downloads"
"""Where downloads are kept (outside every job's output, so an interrupted download resumes on the next run)."""


def scene_names(spec: dict) -> list[str]:
    """Scene folder names of one ``scenes.<name>`` entry, in order, from the config alone."""
    return scene_source(spec["source"]).scene_names(spec)


def build_scene_dataset(
    spec: dict, out_dir: str | Path, image_size: int, downloads: str | Path = DEFAULT_DOWNLOADS, log=print
) -> list[Path]:
    """Write every scene of one ``scenes.<name>`` entry to ``{out_dir}/{scene}``; return the folders, checked."""
    source = scene_source(spec["source"])
    folders = source.build(spec, Path(out_dir), image_size=image_size, downloads=Path(downloads), log=log)
    expected = source.scene_names(spec)
    if [folder.name for folder in folders] != expected:
        raise RuntimeError(f"igae: {source.name} wrote scenes {[f.name for f in folders]}, the config names {expected}")
    for folder in folders:
        scene = load_scene(folder)  # names the file at fault
        if scene.image_size != image_size:
            raise ValueError(f"igae: {folder}: images are {scene.image_size} px, the config says {image_size}")
        write_scene_floor(folder)  # what ignoring the camera scores: below it, a fit is failed
    return folders


def build_real_image_set(
    spec: dict, out_dir: str | Path, image_size: int, downloads: str | Path = DEFAULT_DOWNLOADS
) -> dict:
    """Write the ``real_images`` entry's set (train/, test/, manifest.json) to ``out_dir``; return the manifest."""
    source = real_image_source(spec["source"])
    return source.build(spec, Path(out_dir), image_size=image_size, downloads=Path(downloads))
