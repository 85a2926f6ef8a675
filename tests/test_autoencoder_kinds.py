"""The autoencoder-kind registry (igae.ae.kinds.registry): every kind module declares its part of the config
schema, and workflow/schemas/config.schema.yaml holds exactly those parts; the rules take each kind's job from it; a
new kind is one module and one line (plus its schema lines, which the first test prints), shown with a kind written
here that a real Snakemake dry run plans."""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from igae.ae.kinds import registry
from igae.ae.kinds.kind import AE_RULES, schema_name
from igae.ae.kinds.registry import AE_KINDS, autoencoder_entry, autoencoder_kind, build_autoencoder
from igae.config import ConfigError, autoencoder_entries, check_config

REPO = Path(__file__).resolve().parents[1]
SCHEMA_FILE = REPO / "workflow" / "schemas" / "config.schema.yaml"
SCHEMA = yaml.safe_load(SCHEMA_FILE.read_text())
ENTRY = SCHEMA["properties"]["autoencoders"]["additionalProperties"]
TINY = yaml.safe_load((REPO / "tests" / "data" / "tiny_config.yaml").read_text())


def if_then(kind: str) -> dict:
    """The line of the entry's allOf that applies a kind's schema."""
    return {"if": {"properties": {"kind": {"const": kind}}}, "then": {"$ref": f"#/$defs/{schema_name(kind)}"}}


@pytest.mark.parametrize("name", list(AE_KINDS))
def test_the_schema_file_holds_what_each_kind_module_declares(name):
    kind = autoencoder_kind(name)
    paste = yaml.safe_dump({schema_name(name): kind.schema}, default_flow_style=None, sort_keys=False, width=120)
    assert SCHEMA["$defs"].get(schema_name(name)) == kind.schema, (
        f"config.schema.yaml's $defs/{schema_name(name)} differs from the {name!r} kind's SCHEMA; the module's:\n"
        f"{paste}"
    )
    line = json.dumps(if_then(name))
    assert if_then(name) in ENTRY["allOf"], f"add to autoencoders' allOf in config.schema.yaml: {line}"


def test_the_schema_names_the_registered_kinds_and_no_other():
    assert ENTRY["properties"]["kind"]["enum"] == list(AE_KINDS)
    declared = {key for key in SCHEMA["$defs"] if key.endswith("_autoencoder")}
    assert declared == {schema_name(name) for name in AE_KINDS} and len(ENTRY["allOf"]) == len(AE_KINDS)


def test_each_kind_s_rule_writes_an_autoencoder_folder_with_the_one_script():
    """The rules a kind may name (AE_RULES) exist, write results/autoencoders/{ae}, take their {ae} from the kinds
    and run the one script that calls the kind's build."""
    rules = (REPO / "workflow" / "rules" / "autoencoders.smk").read_text()
    for rule in AE_RULES:
        body = re.search(rf"^rule {rule}:\n(.*?)(?=^rule |\Z)", rules, flags=re.M | re.S)
        assert body, f"autoencoders.smk has no rule {rule}"
        for line in ('directory("results/autoencoders/{ae}")', f'alternatives(built_by("{rule}"))',
                     "unpack(ae_inputs)", '"../scripts/build_autoencoder.py"'):  # fmt: skip
            assert line in body.group(1), f"rule {rule} lacks {line}"
    assert {autoencoder_kind(name).rule for name in AE_KINDS} == set(AE_RULES)


def test_the_default_config_s_jobs_read_the_shipped_checkpoints_and_the_igae_s_data():
    """Each kind's inputs: a shipped checkpoint replaces training (and the real images) as the job's input."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["use_shipped_checkpoints"] = True
    entries = autoencoder_entries(config)
    standard, igae = autoencoder_kind("trained"), autoencoder_kind("igae")
    assert standard.inputs(entries["standard"], config) == {"checkpoint": "assets/autoencoders/standard"}
    assert not standard.trains(entries["standard"], config)
    assert igae.inputs(entries["igae"], config) == {
        "base": "results/autoencoders/standard", "scenes": "resources/scenes/synthetic",
        "real": "resources/real/skimage", "checkpoint": "assets/autoencoders/igae",
    }  # fmt: skip
    config["use_shipped_checkpoints"] = False
    assert standard.inputs(entries["standard"], config) == {"real": "resources/real/skimage"}
    assert standard.trains(entries["standard"], config) and "checkpoint" not in igae.inputs(entries["igae"], config)
    ostris = autoencoder_entry(
        {"name": "ostris", "kind": "pretrained", "hub_id": "ostris/vae-kl-f8-d16", "image_size": 128}
    )
    assert autoencoder_kind("pretrained").inputs(ostris, config) == {}


def test_an_unknown_kind_names_the_known_ones():
    with pytest.raises(ValueError, match=r"kind 'distiled' is unknown \(known: pretrained, trained, igae\)"):
        autoencoder_kind("distiled")


COPIED_KIND = '''
"""Kind ``copied`` (written by a test): the folder of another AE of the config, under this entry's name."""

import json
import shutil
from dataclasses import dataclass

from igae import layout
from igae.ae.kinds.kind import AutoencoderEntry, AutoencoderKind

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind", "base"],
    "properties": {"kind": {"const": "copied"}, "base": {"type": "string"}},
}


@dataclass(frozen=True)
class CopiedEntry(AutoencoderEntry):
    base: str | None = None


def inputs(entry, config):
    return {"base": layout.autoencoder(entry.base)}


def check(entry, where, config, entries):
    if entry.base not in entries:
        raise ValueError(f"{where}.base = {entry.base!r} names no autoencoder")


def build(entry, inputs, out_dir, device, log, use_shipped, parity):
    shutil.copytree(inputs["base"], out_dir)
    card = json.loads((out_dir / "card.json").read_text())
    (out_dir / "card.json").write_text(json.dumps({**card, "name": entry.name, "kind": "copied"}))
    return card


KIND = AutoencoderKind(name="copied", schema=SCHEMA, entry=CopiedEntry, rule="prepare_autoencoder", inputs=inputs,
                       build=build, check=check)
'''


@pytest.fixture
def copied_kind(tmp_path, monkeypatch):
    """A new kind ``copied``: its module (in tmp) and its line in AE_KINDS, nothing else of the package changed."""
    (tmp_path / "kinds").mkdir()
    (tmp_path / "kinds" / "copied_kind.py").write_text(textwrap.dedent(COPIED_KIND))
    monkeypatch.syspath_prepend(str(tmp_path / "kinds"))
    monkeypatch.setitem(registry.AE_KINDS, "copied", importlib.import_module("copied_kind").KIND)
    return tmp_path / "kinds"


def schema_with(kind_name: str) -> dict:
    """config.schema.yaml with the lines the first test asks for: the kind's $defs entry, enum value and allOf line."""
    schema = yaml.safe_load(SCHEMA_FILE.read_text())
    entry = schema["properties"]["autoencoders"]["additionalProperties"]
    schema["$defs"][schema_name(kind_name)] = autoencoder_kind(kind_name).schema
    entry["properties"]["kind"]["enum"].append(kind_name)
    entry["allOf"].append(if_then(kind_name))
    return schema


def config_with_copied_ae() -> dict:
    config = yaml.safe_load(yaml.safe_dump(TINY))
    config["autoencoders"]["copy"] = {"kind": "copied", "base": "standard"}
    config["benchmark"]["autoencoders"].append("copy")
    return config


def test_a_new_kind_is_one_module_and_one_line_and_the_workflow_plans_its_job(copied_kind, tmp_path):
    schema, config = schema_with("copied"), config_with_copied_ae()
    assert not list(Draft202012Validator(schema).iter_errors(config))
    check_config(config)  # the kind's own check runs: a wrong base is refused naming the key
    with pytest.raises(ConfigError, match=r"config: autoencoders\.copy\.base = 'nope' names no autoencoder"):
        check_config({**config, "autoencoders": {**config["autoencoders"], "copy": {"kind": "copied", "base": "nope"}}})
    misspelt = {**config, "autoencoders": {**config["autoencoders"], "copy": {"kind": "copied", "bse": "standard"}}}
    assert any("'bse' was unexpected" in e.message for e in Draft202012Validator(schema).iter_errors(misspelt))

    # the rules' script calls the kind's build with the job's inputs by name
    base = tmp_path / "results" / "autoencoders" / "standard"
    base.mkdir(parents=True)
    (base / "card.json").write_text(json.dumps({"name": "standard", "kind": "trained"}))
    spec = {"name": "copy", **config["autoencoders"]["copy"], "image_size": config["image_size"]}
    build_autoencoder(spec, {"base": base}, tmp_path / "copy")
    assert json.loads((tmp_path / "copy" / "card.json").read_text()) == {"name": "copy", "kind": "copied"}

    # a real Snakemake dry run of a copy of the workflow, whose schema file has the kind's lines
    workflow = tmp_path / "repo"
    workflow.mkdir()
    shutil.copy(REPO / "Snakefile", workflow / "Snakefile")
    shutil.copytree(REPO / "workflow", workflow / "workflow", ignore=shutil.ignore_patterns("__pycache__"))
    (workflow / "workflow" / "schemas" / "config.schema.yaml").write_text(yaml.safe_dump(schema, sort_keys=False))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    run_snakemake = (
        "import sys; sys.path.insert(0, sys.argv[1]); from igae.ae.kinds import registry; "
        "import copied_kind; registry.AE_KINDS['copied'] = copied_kind.KIND; from snakemake.cli import main; "
        "main(sys.argv[2:])"
    )
    dry = subprocess.run(
        [sys.executable, "-c", run_snakemake, str(copied_kind), "-s", str(workflow / "Snakefile"), "-d",
         str(tmp_path / "work"), "--configfile", str(tmp_path / "config.yaml"), "-n"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    log = dry.stdout + dry.stderr
    assert dry.returncode == 0, log[-3000:]
    jobs = re.findall(r"^rule (\w+):\n(.*?)(?=^\S|\Z)", log, flags=re.M | re.S)
    (copy_job,) = [body for rule, body in jobs if "output: results/autoencoders/copy\n" in body]
    assert [rule for rule, body in jobs if body == copy_job] == ["prepare_autoencoder"]
    assert "input: results/autoencoders/standard\n" in copy_job
    assert any(rule == "fit_latent_nerf" and "results/runs/latent/copy/tensorf/heldout" in body for rule, body in jobs)
