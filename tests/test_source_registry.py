"""The scene-source registry (igae.scenes.sources.registry): every source module declares its part of the config schema,
and workflow/schemas/config.schema.yaml (what Snakemake validates before any job) holds exactly those parts; a config
naming the folder sources (nerfstudio, blender) plans one job per scene with `snakemake -n`, reading no image. The
real-image sources are registered the same way."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from igae.scenes.sources.registry import REAL_IMAGE_SOURCES, SCENE_SOURCES, real_image_source, scene_source, schema_name

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
SCENES = SCHEMA["properties"]["scenes"]["additionalProperties"]
TINY = yaml.safe_load((REPO / "tests" / "data" / "tiny_config.yaml").read_text())


@pytest.mark.parametrize("name", list(SCENE_SOURCES))
def test_the_schema_file_holds_what_each_source_module_declares(name):
    source = scene_source(name)
    paste = yaml.safe_dump({schema_name(name): source.schema}, default_flow_style=None, sort_keys=False, width=120)
    assert SCHEMA["$defs"].get(schema_name(name)) == source.schema, (
        f"config.schema.yaml's $defs/{schema_name(name)} differs from the {name!r} source's SCHEMA; the module's:\n"
        f"{paste}"
    )
    rule = {"if": {"properties": {"source": {"const": name}}}, "then": {"$ref": f"#/$defs/{schema_name(name)}"}}
    assert rule in SCENES["allOf"], f"add to scenes' allOf in config.schema.yaml: {json.dumps(rule)}"


def test_the_schema_names_the_registered_sources_and_no_other():
    assert SCENES["properties"]["source"]["enum"] == list(SCENE_SOURCES)
    declared = {key for key in SCHEMA["$defs"] if key.endswith("_scenes")}
    assert declared == {schema_name(name) for name in SCENE_SOURCES} and len(SCENES["allOf"]) == len(SCENE_SOURCES)


def _errors(scenes: dict) -> list[str]:
    config = {**TINY, "scenes": {**TINY["scenes"], **scenes}}
    return [error.message for error in Draft202012Validator(SCHEMA).iter_errors(config)]


def test_the_schema_takes_folder_source_entries_and_names_a_misspelt_key():
    assert not _errors({"mine": {"source": "nerfstudio", "path": "captures", "eval_fraction": 0.1}})
    assert not _errors({"nerf": {"source": "blender", "path": "nerf_synthetic", "folders": ["lego"]}})
    misspelt = _errors({"x": {"source": "blender", "path": "p", "backgound": [1, 1, 1]}})
    assert any("'backgound' was unexpected" in error for error in misspelt), misspelt
    assert _errors({"x": {"source": "nerfstudio", "path": "p", "background": [2, 0, 0]}})  # colours lie in [0, 1]
    assert _errors({"x": {"source": "blender", "path": "p", "eval_fraction": 0.2}})  # blender: the files' split


def test_a_config_with_folder_sources_plans_one_job_per_scene_without_reading_images(tmp_path):
    """Only the folders' marker files exist (no image, empty JSON): planning lists the folders and reads nothing."""
    for name in ("garden", "kitchen"):
        (tmp_path / "captures" / name).mkdir(parents=True)
        (tmp_path / "captures" / name / "transforms.json").write_text("{}")
    for name in ("lego", "chair"):
        (tmp_path / "nerf_synthetic" / name).mkdir(parents=True)
        (tmp_path / "nerf_synthetic" / name / "transforms_train.json").write_text("{}")
    config = yaml.safe_load(yaml.safe_dump(TINY))
    config["scenes"]["captures"] = {"source": "nerfstudio", "path": str(tmp_path / "captures")}
    config["scenes"]["synthetic_nerf"] = {"source": "blender", "path": str(tmp_path / "nerf_synthetic"),
                                          "folders": ["lego"]}  # fmt: skip
    config["benchmark"]["datasets"] = ["captures", "synthetic_nerf"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake = Path(sys.executable).parent / "snakemake"
    dry = subprocess.run(
        [str(snakemake), "-s", str(REPO / "Snakefile"), "-d", str(tmp_path / "work"), "--configfile",
         str(tmp_path / "config.yaml"), "-n"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr[-3000:]
    planned = set(re.findall(r"results/runs/rgb/tensorf/(\w+/\w+)", dry.stdout + dry.stderr))
    assert planned == {"captures/garden", "captures/kitchen", "synthetic_nerf/lego"}


@pytest.mark.parametrize("source", ["nerfstudio", "blender"])
def test_captures_in_their_own_units_cannot_train_an_igae(tmp_path, source):
    """An IG-AE's Tri-Planes march rays from 0.5 to 2.1 (the procedural rig's units): a capture posed in its own units
    is refused as IG-AE training scenes, before any job, and accepted as a benchmark dataset."""
    from igae.config import ConfigError, check_config

    marker = {"nerfstudio": "transforms.json", "blender": "transforms_train.json"}[source]
    (tmp_path / "capture" / "mug").mkdir(parents=True)
    (tmp_path / "capture" / "mug" / marker).write_text("{}")  # what the config check looks for; no job runs
    config = yaml.safe_load(yaml.safe_dump(TINY))
    config["scenes"]["captures"] = {"source": source, "path": str(tmp_path / "capture")}
    config["benchmark"]["datasets"] = ["heldout", "captures"]
    check_config(config)
    config["benchmark"]["datasets"] = ["heldout"]
    config["autoencoders"]["igae"]["scenes"] = "captures"
    with pytest.raises(ConfigError, match=rf"autoencoders\.igae\.scenes = 'captures' is a '{source}' source"):
        check_config(config)
    rendered = ("procedural", "mesh", "srn", "shapenet", "igae-data")
    assert not any(scene_source(name).rig_units is False for name in rendered)


REAL = SCHEMA["properties"]["real_images"]


def test_the_schema_names_the_registered_real_image_sources_and_the_keys_they_read():
    """The ``real_images`` entry keeps one schema (its defaults are the real_images rule's param): its ``source`` enum
    is the registry's, and every key a source reads is one of its properties."""
    assert REAL["properties"]["source"]["enum"] == list(REAL_IMAGE_SOURCES)
    read = set()
    for name in REAL_IMAGE_SOURCES:
        source = real_image_source(name)
        missing = [key for key in source.keys if key not in REAL["properties"]]
        assert not missing, f"config.schema.yaml: add {missing} to the properties of real_images ({name} reads them)"
        read |= set(source.keys)
    assert set(REAL["properties"]) == {"source", *read}  # and no key that no source reads


def test_the_real_images_rule_builds_through_the_registry(tmp_path):
    """build_real_image_set dispatches on ``source``: the built-in photos' crops, and an unknown source named."""
    from igae.scenes.sources.datasets import build_real_image_set

    manifest = build_real_image_set({"source": "skimage", "seed": 3}, tmp_path / "real", image_size=32)
    assert manifest["seed"] == 3 and (tmp_path / "real" / "manifest.json").is_file()
    with pytest.raises(ValueError, match=r"real image source 'imagenet' is unknown \(known: skimage, igae-data\)"):
        build_real_image_set({"source": "imagenet"}, tmp_path / "other", image_size=32)
