"""One entry point per config section: a ``scenes.<name>`` entry or the ``real_images`` entry of config.yaml, whatever
its ``source``, becomes folders in this project's layouts. Scene names are known from the config alone (before any
download), because the workflow's jobs are one per scene.

Sources of scenes: ``procedural`` (built in), ``mesh`` (a folder of mesh files, or Objaverse uids), ``srn`` (a local
ShapeNet-SRN category folder), ``igae-data`` (the authors' release, downloaded, or a local copy of it).
Sources of real images: ``skimage`` (built in), ``igae-data`` (the release's ImageNet subset).
Every scene written is then read back (:func:`igae.scenes.dataset_io.load_scene`), so a broken one is reported, with
the file at fault, by the job that made it, before any training.
"""

from __future__ import annotations

from pathlib import Path

from igae.scenes.dataset_io import load_scene

DEFAULT_DOWNLOADS = "resources/downloads"
"""Where downloads are kept (outside every job's output, so an interrupted download resumes on the next run)."""


def scene_names(spec: dict) -> list[str]:
    """Scene folder names of one ``scenes.<name>`` entry, in order, from the config alone."""
    source = spec["source"]
    if source == "procedural":
        return [f"{spec['family']}_{index:03d}" for index in range(spec["count"])]
    if source == "srn":
        return [f"{Path(spec['path']).name}_{index:03d}" for index in range(spec["count"])]
    if source == "igae-data":
        from igae.sources.igae_data import release_scene_name

        first = spec.get("first", 0)
        return [release_scene_name(spec.get("subset", "objaverse"), i) for i in range(first, first + spec["count"])]
    if source == "mesh":
        from igae.scenes.mesh import scene_name

        if spec.get("objaverse_uids"):
            return list(spec["objaverse_uids"])
        return [scene_name(file) for file in _local_mesh_files(spec)]
    raise ValueError(f"igae: scene source {source!r} is unknown")


def _local_mesh_files(spec: dict) -> list[Path]:
    """The mesh files of a ``mesh`` entry with a ``path``: its ``files``, or every mesh file of the folder."""
    from igae.scenes.mesh import mesh_files

    if spec.get("files"):
        return [Path(spec["path"]) / name for name in spec["files"]]
    return mesh_files(spec["path"])


def build_scene_dataset(
    spec: dict, out_dir: str | Path, image_size: int, downloads: str | Path = DEFAULT_DOWNLOADS, log=print
) -> list[Path]:
    """Write every scene of one ``scenes.<name>`` entry to ``{out_dir}/{scene}``; return the folders, checked."""
    out_dir, downloads = Path(out_dir), Path(downloads)
    source = spec["source"]
    views, eval_fraction = spec.get("views", 24), spec.get("eval_fraction", 0.125)
    if source == "procedural":
        from igae.scenes.procedural import build_procedural_dataset

        folders = build_procedural_dataset(out_dir, spec["family"], spec["count"], views, image_size, eval_fraction,
                                           spec.get("seed", 0))  # fmt: skip
    elif source == "srn":
        from igae.sources.srn import convert_srn_category

        folders = convert_srn_category(spec["path"], out_dir, spec["count"], image_size, eval_fraction,
                                       spec.get("interpolation", "area"), prefix=Path(spec["path"]).name)  # fmt: skip
    elif source == "igae-data":
        from igae.sources.igae_data import DEFAULT_REPO, build_release_dataset, fetch_release_scenes

        subset, first = spec.get("subset", "objaverse"), spec.get("first", 0)
        root = spec.get("path")
        if root is None:
            repo = spec.get("repo", DEFAULT_REPO)
            root = downloads / repo
            fetch_release_scenes(repo, root, subset, first, spec["count"], spec.get("revision", "main"))
        folders = build_release_dataset(out_dir, root, subset, first, spec["count"], image_size, eval_fraction, log)
    elif source == "mesh":
        from igae.scenes.mesh import MeshSceneConfig, build_mesh_dataset

        if spec.get("objaverse_uids"):
            from igae.sources.objaverse import DEFAULT_REPO, fetch_objaverse

            repo = spec.get("repo", DEFAULT_REPO)
            files = fetch_objaverse(spec["objaverse_uids"], downloads / repo, repo, spec.get("revision", "main"))
        else:
            files = _local_mesh_files(spec)
        config = MeshSceneConfig(views=views, image_size=image_size, eval_fraction=eval_fraction,
                                 up_axis=spec.get("up_axis", "y"), shading=spec.get("shading", "lit"))  # fmt: skip
        folders = build_mesh_dataset(out_dir, files, config, spec.get("seed", 0), log)
    else:
        raise ValueError(f"igae: scene source {source!r} is unknown")
    expected = scene_names(spec)
    if [folder.name for folder in folders] != expected:
        raise RuntimeError(f"igae: {source} wrote scenes {[f.name for f in folders]}, the config names {expected}")
    for folder in folders:
        scene = load_scene(folder)  # names the file at fault
        if scene.image_size != image_size:
            raise ValueError(f"igae: {folder}: images are {scene.image_size} px, the config says {image_size}")
    return folders


def build_real_image_set(
    spec: dict, out_dir: str | Path, image_size: int, downloads: str | Path = DEFAULT_DOWNLOADS
) -> dict:
    """Write the ``real_images`` entry's set (train/, test/, manifest.json) to ``out_dir``; return the manifest."""
    source, seed = spec["source"], spec.get("seed", 0)
    if source == "skimage":
        from igae.real_images import build_real_images

        return build_real_images(out_dir, image_size=image_size, seed=seed)
    if source == "igae-data":
        from igae.sources.igae_data import (
            DEFAULT_REPO,
            fetch_release_real_images,
            local_release_real_images,
            write_real_image_set,
        )

        count = spec["count"]
        if spec.get("path"):
            files = local_release_real_images(Path(spec["path"]), count, seed)
        else:
            repo = spec.get("repo", DEFAULT_REPO)
            files = fetch_release_real_images(repo, Path(downloads) / repo, count, seed, spec.get("revision", "main"))
        return write_real_image_set(files, out_dir, image_size, spec.get("test_fraction", 0.1), seed, source)
    raise ValueError(f"igae: real image source {source!r} is unknown")
