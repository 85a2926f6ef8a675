"""Source ``mesh``: a folder of mesh files (``path``, optionally only ``files``), or Objaverse objects by uid
(downloaded first, :mod:`igae.scenes.sources.objaverse`), rendered by :mod:`igae.scenes.mesh` (Open3D) with the
procedural scenes' camera rig."""

from __future__ import annotations

from pathlib import Path

from igae.scenes.mesh import MeshSceneConfig, build_mesh_dataset, mesh_files, scene_name
from igae.scenes.sources.source import SceneSource

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["source"],
    "description": "meshes rendered by Open3D with the procedural camera rig: `path` (a folder) or `objaverse_uids`",
    "properties": {
        "source": {"const": "mesh"},
        "path": {"type": "string", "description": "a folder of OBJ/GLB/GLTF/PLY/OFF/STL files"},
        "files": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "uniqueItems": True,
            "description": "only these files of `path`",
        },
        "objaverse_uids": {
            "type": "array",
            "items": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
            "minItems": 1,
            "uniqueItems": True,
        },
        "repo": {"type": "string", "default": "allenai/objaverse"},
        "revision": {"type": "string", "default": "main"},
        "views": {"type": "integer", "minimum": 4, "default": 24},
        "eval_fraction": {"$ref": "#/$defs/split/eval_fraction"},
        "seed": {"type": "integer", "default": 0, "description": "seed of the camera rigs"},
        "up_axis": {"enum": ["y", "z"], "default": "y"},
        "shading": {"enum": ["lit", "unlit"], "default": "lit"},
        # no `default` for the time limits: Snakemake writes schema defaults into the entry, a rule param, and a
        # changed param re-runs the rule; absent, MeshSceneConfig's own defaults apply
        "view_timeout_s": {
            "type": "number",
            "exclusiveMinimum": 0,
            "description": "seconds one view may take (30 when absent); a slower view fails, naming the file",
        },
        "start_timeout_s": {
            "type": "number",
            "exclusiveMinimum": 0,
            "description": "seconds starting the renderer and loading one mesh may take (120 when absent)",
        },
    },
}
TIME_LIMIT_KEYS = ("view_timeout_s", "start_timeout_s")
"""Keys of the config entry passed to :class:`MeshSceneConfig` as they are (they change no image)."""


def local_mesh_files(spec: dict) -> list[Path]:
    """The mesh files of a ``mesh`` entry with a ``path``: its ``files``, or every mesh file of the folder."""
    if spec.get("files"):
        return [Path(spec["path"]) / name for name in spec["files"]]
    return mesh_files(spec["path"])


def scene_names_of(spec: dict) -> list[str]:
    """The uids, or the stems of the folder's mesh files (the folder is listed: it is local)."""
    if spec.get("objaverse_uids"):
        return list(spec["objaverse_uids"])
    return [scene_name(file) for file in local_mesh_files(spec)]


def mesh_config(spec: dict, image_size: int) -> MeshSceneConfig:
    """The rendering settings of a ``mesh`` entry at ``image_size``."""
    limits = {key: spec[key] for key in TIME_LIMIT_KEYS if key in spec}
    return MeshSceneConfig(views=spec.get("views", 24), image_size=image_size,
                           eval_fraction=spec.get("eval_fraction", 0.125), up_axis=spec.get("up_axis", "y"),
                           shading=spec.get("shading", "lit"), **limits)  # fmt: skip


def build(spec: dict, out_dir: Path, image_size: int, downloads: Path, log=print) -> list[Path]:
    """Render every mesh of the entry (Objaverse GLBs downloaded first, verified and resumable)."""
    if spec.get("objaverse_uids"):
        from igae.scenes.sources.objaverse import DEFAULT_REPO, fetch_objaverse

        repo = spec.get("repo", DEFAULT_REPO)
        files = fetch_objaverse(spec["objaverse_uids"], downloads / repo, repo, spec.get("revision", "main"))
    else:
        files = local_mesh_files(spec)
    return build_mesh_dataset(out_dir, files, mesh_config(spec, image_size), spec.get("seed", 0), log)


def check(spec: dict, where: str) -> None:
    """Exactly one of ``path`` (an existing folder) or ``objaverse_uids``."""
    if bool(spec.get("path")) == bool(spec.get("objaverse_uids")):
        raise ValueError(f"{where}: a mesh source needs exactly one of `path` (a folder) or `objaverse_uids`")
    if spec.get("path") and not Path(spec["path"]).is_dir():
        raise ValueError(f"{where}.path = {spec['path']!r} is not a folder (of OBJ/GLB/PLY files)")


SOURCE = SceneSource(name="mesh", schema=SCHEMA, scene_names=scene_names_of, build=build, check=check)
