"""What a scene source (:class:`SceneSource`) and a real-image source (:class:`RealImageSource`) declare. Plain data:
the Snakemake workflow reads the sources while it builds the DAG; their build functions import what they need."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


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
