"""The scene sources a ``scenes.<name>`` entry of config.yaml can name: one module each, which declares its part of
the config schema, its scene names (from the config alone) and its build function, as a module-level ``SOURCE``.

Adding a source ``foo``:

1. ``igae/scenes/sources/foo.py`` with ``SOURCE = SceneSource(name="foo", schema=..., scene_names=..., build=...)``;
2. its line in :data:`SCENE_SOURCES`;
3. its schema in ``workflow/schemas/config.schema.yaml``: ``$defs/foo_scenes`` (the module's ``schema``), ``foo`` in the
   ``source`` enum of ``scenes``, and its ``if``/``then`` line. ``tests/test_source_registry.py`` fails until the file
   matches the modules, and prints the YAML to paste.

The schema file keeps the whole config's schema in one place (Snakemake, ``igae check-config`` and the tests read it
as is); the test keeps it equal to what the modules declare.

The sources of the ``real_images`` entry (the photographs of the standard AE and of the IG-AE's real-image terms) are
registered the same way, in :data:`REAL_IMAGE_SOURCES` (a module-level ``REAL_IMAGE_SOURCE``: a
:class:`RealImageSource`). Adding one: its module, its line there, its name in the schema's ``real_images.source``
enum and its keys among ``real_images.properties`` (``tests/test_source_registry.py`` says which are missing). The
``real_images`` entry keeps one schema for all its sources: Snakemake writes the schema's defaults into the entry,
which is the real_images rule's param, so per-source schemas would change that param and re-run every job after it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from igae.registries import registered

SCENE_SOURCES = {
    "procedural": "igae.scenes.sources.procedural",
    "mesh": "igae.scenes.sources.mesh",
    "srn": "igae.scenes.sources.srn",
    "shapenet": "igae.scenes.sources.shapenet",
    "igae-data": "igae.scenes.sources.igae_data",
    "nerfstudio": "igae.scenes.sources.nerfstudio",
    "blender": "igae.scenes.sources.blender",
}
"""``source`` value -> the module that holds its :class:`SceneSource` (imported only when a config names it)."""


@dataclass(frozen=True)
class SceneSource:
    """One scene source: what its config entry holds, which scene folders it makes, and how."""

    name: str
    """The ``source`` value of a ``scenes.<name>`` entry."""
    schema: dict
    """JSON schema of the entry: ``$defs/<name>_scenes`` of config.schema.yaml (``-`` written ``_``) equals it."""
    scene_names: Callable[[dict], list[str]]
    """``scene_names(spec)``: the entry's scene folder names, in order, from the config alone: no download (a local
    folder may be listed), because the workflow plans one job per scene before any data exists."""
    build: Callable[..., list[Path]]
    """``build(spec, out_dir, image_size=, downloads=, log=)``: write every scene to ``{out_dir}/{scene}`` in the
    layout of :mod:`igae.scenes.dataset_io`; return the folders in the order of ``scene_names``."""
    check: Callable[[dict, str], None] | None = field(default=None)
    """``check(spec, where)``: what the schema cannot check (a folder that must exist), before any job; raises
    ValueError starting with ``where`` (``config: scenes.<name>``)."""
    rig_units: bool = True
    """Its scenes are in the procedural rig's units (cameras ~1.3 from an object within radius 0.5), which an IG-AE's
    Tri-Planes assume (rays marched from 0.5 to 2.1). False for captures posed in their own units: they can be
    benchmark datasets, not IG-AE training scenes."""


def schema_name(source: str) -> str:
    """The ``$defs`` key of a source's entry schema in config.schema.yaml."""
    return f"{source.replace('-', '_')}_scenes"


def scene_source(name: str) -> SceneSource:
    """The :class:`SceneSource` of a ``source`` value; ValueError for an unknown one."""
    return registered(SCENE_SOURCES, name, "SOURCE", "scene source")


REAL_IMAGE_SOURCES = {
    "skimage": "igae.scenes.sources.shipped_photos",
    "igae-data": "igae.scenes.sources.igae_data",
}
"""``real_images.source`` value -> the module that holds its :class:`RealImageSource` (imported when named)."""


@dataclass(frozen=True)
class RealImageSource:
    """One source of the real-image set: which keys of the ``real_images`` entry it reads, and how it builds the set."""

    name: str
    """The ``source`` value of the ``real_images`` entry."""
    keys: tuple[str, ...]
    """The entry's keys it reads besides ``source`` (each one a property of ``real_images`` in config.schema.yaml)."""
    build: Callable[..., dict]
    """``build(spec, out_dir, image_size=, downloads=)``: write the set to ``out_dir`` in the layout of
    :mod:`igae.scenes.real_images` (``train/``, ``test/``, ``manifest.json``); return the manifest."""


def real_image_source(name: str) -> RealImageSource:
    """The :class:`RealImageSource` of a ``real_images.source`` value; ValueError for an unknown one."""
    return registered(REAL_IMAGE_SOURCES, name, "REAL_IMAGE_SOURCE", "real image source")
