"""The YAML examples of README.md and docs/*.md: each parses, merged into config.yaml (whose anchors it may use), and
passes the schema and the config check, so an example a reader copies is never one the workflow refuses."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import yaml

from igae.config import ConfigError, check_config

ROOT = Path(__file__).parents[1]
SCHEMA = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLE = "_docs_example"


def yaml_examples() -> list[tuple[str, str]]:
    """(page:line, text) of every fenced ```yaml block of the pages."""
    examples = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in re.finditer(r"^```yaml\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL):
            line = text.count("\n", 0, match.start()) + 1
            examples.append((f"{page.relative_to(ROOT)}:{line}", match.group(1)))
    return examples


def merged(base: dict, example: dict) -> dict:
    """``example`` laid over ``base``: mappings merge key by key, anything else replaces."""
    out = dict(base)
    for key, value in example.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def example_config(example: str) -> dict:
    """config.yaml with the example merged in. The example is parsed inside config.yaml's document, under a key of
    its own, so that it may use config.yaml's anchors (``*igae_recipe``) as a reader's edit of that file would."""
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    document = yaml.safe_load(f"{text}\n{EXAMPLE}:\n{textwrap.indent(example, '  ')}")
    addition = document.pop(EXAMPLE)
    return merged(document, addition)


def test_the_pages_hold_yaml_examples():
    where = [name for name, _ in yaml_examples()]
    assert any(name.startswith("README.md") for name in where), where
    assert len(where) >= 4, where


@pytest.mark.parametrize(("where", "example"), yaml_examples(), ids=[name for name, _ in yaml_examples()])
def test_a_yaml_example_validates_against_the_schema_and_the_config_check(where, example):
    from snakemake.utils import validate

    config = example_config(example)
    validate(config, SCHEMA)
    try:
        check_config(config)
    except ConfigError as error:
        # The one thing an example may lack here is the reader's own data: a path it names that this checkout lacks.
        named = [path for path in re.findall(r"path: ([^\s,}]+)", example) if not (ROOT / path).exists()]
        assert named and any(path in str(error) for path in named), f"{where}: {error}"


def test_the_ablation_example_trains_as_the_igae_does_but_for_what_it_ablates():
    (example,) = [text for where, text in yaml_examples() if where.startswith("README.md") and "igae_no_rgb" in text]
    config = example_config(example)
    igae, variant = config["autoencoders"]["igae"]["training"], config["autoencoders"]["igae_no_rgb"]["training"]
    assert variant == {**igae, "loss": {"rgb": False}}
