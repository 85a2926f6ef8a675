"""The scene sources a ``scenes.<name>`` entry of config.yaml can name: one module each, which declares its part of
the config schema, its scene names (from the config alone) and its build function, as a module-level ``SOURCE``.

Adding a source ``foo``:

1. ``igae/scenes/sources/foo.py`` with ``SOURCE = SceneSource(name="foo", schema=..., scene_names=..., build=...)``;
2. its ``SOURCE`` in :data:`SCENE_SOURCES`;
3. its schema in ``workflow/schemas/config.schema.yaml``: ``$defs/foo_scenes`` (the module's ``schema``), ``foo`` in the
   ``source`` enum of ``scenes``, and its ``if``/``then`` line. ``tests/test_source_registry.py`` fails until the file
   matches the modules, and prints the YAML to paste.

What a source declares is :mod:`igae.scenes.sources.source`. The schema file keeps the whole config's schema in one
place (Snakemake, ``igae check-config`` and the tests read it as is); the test keeps it equal to what the modules
declare.

The sources of the ``real_images`` entry (the photographs of the standard AE and of the IG-AE's real-image terms) are
registered the same way, in :data:`REAL_IMAGE_SOURCES` (a module-level ``REAL_IMAGE_SOURCE``: a
:class:`igae.scenes.sources.source.RealImageSource`). Adding one: its module, its entry there, its name in the
schema's ``real_images.source`` enum and its keys among ``real_images.properties``
(``tests/test_source_registry.py`` says which are missing). The ``real_images`` entry keeps one schema for all its
sources: Snakemake writes the schema's defaults into the entry, which is the real_images rule's param, so per-source
schemas would change that param and re-run every job after it.
"""

from __future__ import annotations

from igae.scenes.sources import blender, igae_data, mesh, nerfstudio, procedural, shapenet, shipped_photos, srn
from igae.scenes.sources.source import RealImageSource, SceneSource, schema_name

SCENE_SOURCES: dict[str, SceneSource] = {
    source.name: source
    for source in (
        procedural.SOURCE,
        mesh.SOURCE,
        srn.SOURCE,
        shapenet.SOURCE,
        igae_data.SOURCE,
        nerfstudio.SOURCE,
        blender.SOURCE,
    )
}
"""``source`` value -> its :class:`SceneSource`, in the schema's order."""

REAL_IMAGE_SOURCES: dict[str, RealImageSource] = {
    source.name: source for source in (shipped_photos.REAL_IMAGE_SOURCE, igae_data.REAL_IMAGE_SOURCE)
}
"""``real_images.source`` value -> its :class:`RealImageSource`."""

__all__ = ["REAL_IMAGE_SOURCES", "SCENE_SOURCES", "real_image_source", "scene_source", "schema_name"]


def scene_source(name: str) -> SceneSource:
    """The :class:`SceneSource` of a ``source`` value; ValueError naming the known ones for an unknown one."""
    if name not in SCENE_SOURCES:
        raise ValueError(f"igae: scene source {name!r} is unknown (known: {', '.join(SCENE_SOURCES)})")
    return SCENE_SOURCES[name]


def real_image_source(name: str) -> RealImageSource:
    """The :class:`RealImageSource` of a ``real_images.source`` value; ValueError naming the known ones otherwise."""
    if name not in REAL_IMAGE_SOURCES:
        raise ValueError(f"igae: real image source {name!r} is unknown (known: {', '.join(REAL_IMAGE_SOURCES)})")
    return REAL_IMAGE_SOURCES[name]
