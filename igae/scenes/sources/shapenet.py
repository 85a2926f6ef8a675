"""ShapeNetCore v2 models of named categories rendered into scene folders: the paper's out-of-distribution sets
(ShapeNet Bag, Hat and Vase, docs/paper.md#evaluation) made from the meshes a ShapeNetCore licence gives, since
ShapeNet-SRN published renders of cars and chairs only.

Layout read (ShapeNetCore.v2 as unzipped; it needs a licence, https://shapenet.org, so nothing is downloaded)::

    {path}/{synset}/{model}/models/model_normalized.obj      (+ model_normalized.mtl, {model}/images/ textures)

- ``category`` is a name of :data:`SYNSETS` (``bag``, ``cap``, ``vase``, ...) or an 8-digit synset id;
- the synset's model folders are taken in sorted order of their ids: models ``first .. first+count-1`` become the
  scenes ``{category}_000`` ... (names known from the config alone; the model id is in each scene's ``igae`` block);
- each model is rendered by the mesh source (:func:`igae.scenes.mesh.render_mesh_scene`: Open3D, textures from the
  MTL, white background, one process per model under its time limits) on the mesh source's camera rig.

Camera, from the official code where it gives it: focal length **1.02** of the image side (130.56 px at 128 px),
principal point at the centre, cameras **1.3** from the object centre (igae ``datasets/dataset.py``,
``DatasetIntrinsicsManager``; docs/paper.md#training-data). Choices, since the authors' ShapeNet renders are not
published: the views per model (``views``), their directions (the procedural rig's seeded Fibonacci spiral over
elevations -30..60 degrees), the light (``shading``, as the mesh source), the up axis (+y, ShapeNetCore v2's), and the
scale: the model is centred on its bounding box and scaled so that its farthest vertex is 0.5 from the centre, as
every mesh scene (ShapeNetCore's own normalisation, a bounding-box diagonal of 1, puts it at most 0.5 away).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from igae.scenes.mesh import MeshSceneConfig, mesh_scene_meta, render_mesh_scene
from igae.scenes.sources.mesh import mesh_config
from igae.scenes.sources.source import SceneSource

SYNSETS = {
    "airplane": "02691156",
    "bag": "02773838",
    "basket": "02801938",
    "bottle": "02876657",
    "bowl": "02880940",
    "cap": "02954340",
    "car": "02958343",
    "chair": "03001627",
    "guitar": "03467517",
    "helmet": "03513137",
    "lamp": "03636649",
    "laptop": "03642806",
    "mug": "03797390",
    "table": "04379243",
    "vase": "03593526",
}
"""ShapeNetCore v2 synset ids of some categories (WordNet offsets; ``vase``: the synset ShapeNet calls "jar, vase")."""
MODEL_FILE = "models/model_normalized.obj"
"""A model's mesh, relative to its folder."""
FOCAL_NORMALIZED = 1.02
"""The official ShapeNet camera's focal length over the image side (130.56 px at 128 px)."""

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["source", "path", "category", "count"],
    "description": "ShapeNetCore v2 models (a local copy: it needs a licence) rendered with the mesh source's rig",
    "properties": {
        "source": {"const": "shapenet"},
        "path": {"type": "string", "description": "the ShapeNetCore.v2 folder (holding <synset>/<model>/models/)"},
        "category": {
            "anyOf": [{"enum": list(SYNSETS)}, {"type": "string", "pattern": "^[0-9]{8}$"}],
            "description": "a category name or an 8-digit synset id",
        },
        "first": {"type": "integer", "minimum": 0, "default": 0, "description": "models skipped, in sorted id order"},
        "count": {"type": "integer", "minimum": 1, "description": "models rendered, in sorted id order"},
        "views": {"type": "integer", "minimum": 4, "default": 24},
        "eval_fraction": {"$ref": "#/$defs/split/eval_fraction"},
        "seed": {"type": "integer", "default": 0, "description": "seed of the camera rigs"},
        "shading": {"enum": ["lit", "unlit"], "default": "lit"},
        "view_timeout_s": {"type": "number", "exclusiveMinimum": 0, "description": "as the mesh source's"},
        "start_timeout_s": {"type": "number", "exclusiveMinimum": 0, "description": "as the mesh source's"},
    },
}


def synset_of(category: str) -> str:
    """The synset id of a category name of :data:`SYNSETS`, or the id itself."""
    if category in SYNSETS:
        return SYNSETS[category]
    if len(category) == 8 and category.isdigit():
        return category
    raise ValueError(f"igae: ShapeNet category {category!r} is neither one of {', '.join(SYNSETS)} nor a synset id")


def scene_names(spec: dict) -> list[str]:
    """``{category}_{i:03d}`` for the entry's ``count`` models (known before the folder is read)."""
    first = spec.get("first", 0)
    return [f"{spec['category']}_{i:03d}" for i in range(first, first + spec["count"])]


def model_files(spec: dict) -> list[tuple[str, Path]]:
    """(model id, mesh file) of the entry's models, in sorted id order; FileNotFoundError names what is missing."""
    root, category = Path(spec["path"]), spec["category"]
    synset = synset_of(category)
    if not root.is_dir():
        raise FileNotFoundError(
            f"igae: ShapeNetCore folder {root} does not exist. ShapeNetCore v2 needs a licence (https://shapenet.org): "
            "download ShapeNetCore.v2, unzip it, and set the entry's `path` to the folder that holds the synset folders"
        )
    folder = root / synset
    if not folder.is_dir():
        present = sorted(child.name for child in root.iterdir() if child.is_dir())
        shown = f"{present[:8]}{' ...' if len(present) > 8 else ''}" if present else "no folder"
        raise FileNotFoundError(
            f"igae: {folder} does not exist: {root} has no synset {synset} ({category}); it holds {shown}. Is `path` "
            f"the ShapeNetCore.v2 folder, with {synset}.zip unzipped in it?"
        )
    models = sorted(child.name for child in folder.iterdir() if child.is_dir())
    first, count = spec.get("first", 0), spec["count"]
    if first + count > len(models):
        raise ValueError(
            f"igae: {folder} holds {len(models)} models; models {first}..{first + count - 1} were asked for (count)"
        )
    chosen = [(model, folder / model / MODEL_FILE) for model in models[first : first + count]]
    for model, path in chosen:
        if not path.is_file():
            raise FileNotFoundError(
                f"igae: {path} does not exist: model {model} of {category} ({synset}) has no {MODEL_FILE}. "
                "A damaged or partial copy of ShapeNetCore v2: unzip the synset again, or skip the model with `first`"
            )
    return chosen


def shapenet_config(spec: dict, image_size: int) -> MeshSceneConfig:
    """The mesh source's rendering settings of the entry, with the official ShapeNet focal length, y up."""
    return replace(mesh_config({**spec, "up_axis": "y"}, image_size), focal_normalized=FOCAL_NORMALIZED)


def build(spec: dict, out_dir: Path, image_size: int, downloads: Path, log=print) -> list[Path]:
    """Render the entry's models into ``{out_dir}/{category}_{i:03d}`` (kept when rendered before with these settings).

    Every model file is checked before the first is rendered, so a missing one stops the job before any render.
    """
    models = model_files(spec)
    config, seed = shapenet_config(spec, image_size), spec.get("seed", 0)
    synset = synset_of(spec["category"])
    folders = []
    for name, (model, path) in zip(scene_names(spec), models, strict=True):
        meta = {**mesh_scene_meta(path, config, seed), "source": "shapenet", "category": spec["category"],
                "synset": synset, "model": model}  # fmt: skip
        folders.append(render_mesh_scene(out_dir / name, path, config, seed, meta, log))
    return folders


SOURCE = SceneSource(name="shapenet", schema=SCHEMA, scene_names=scene_names, build=build)
