"""Source ``procedural``: the built-in, offline scenes of :mod:`igae.scenes.procedural` (textured primitives rendered
by an analytic ray caster), ``count`` of one ``family``."""

from __future__ import annotations

from pathlib import Path

from igae.scenes.sources.source import SceneSource

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["source", "family", "count"],
    "properties": {
        "source": {"const": "procedural"},
        "family": {"enum": ["primitives", "photo"]},
        "count": {"type": "integer", "minimum": 1},
        "views": {"type": "integer", "minimum": 4, "default": 24},
        "eval_fraction": {"$ref": "#/$defs/split/eval_fraction"},
        "seed": {"type": "integer", "default": 0},
    },
}


def scene_names(spec: dict) -> list[str]:
    """``{family}_000`` ... ``count`` names."""
    return [f"{spec['family']}_{index:03d}" for index in range(spec["count"])]


def build(spec: dict, out_dir: Path, image_size: int, downloads: Path, log=print) -> list[Path]:
    """Render the entry's scenes (a complete scene rendered with the same settings is kept)."""
    from igae.scenes.procedural import build_procedural_dataset

    views, eval_fraction = spec.get("views", 24), spec.get("eval_fraction", 0.125)
    return build_procedural_dataset(out_dir, spec["family"], spec["count"], views, image_size, eval_fraction,
                                    spec.get("seed", 0))  # fmt: skip


SOURCE = SceneSource(name="procedural", schema=SCHEMA, scene_names=scene_names, build=build)
