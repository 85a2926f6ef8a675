"""Config validation, names the wildcards may take, and the list of final outputs."""

import json

from snakemake.logging import logger
from snakemake.utils import validate

validate(config, schema="../schemas/config.schema.yaml")

import torch  # noqa: E402

from igae.workflow_config import (  # noqa: E402
    benchmark_methods,
    benchmark_runs,
    check_config,
    claim_roles,
    skipped_methods,
)
from igae.sources.datasets import scene_names  # noqa: E402

check_config(config)

AUTOENCODERS = config["autoencoders"]
IGAE_NAMES = [name for name, spec in AUTOENCODERS.items() if spec["kind"] == "igae"]
PLAIN_NAMES = [name for name, spec in AUTOENCODERS.items() if spec["kind"] != "igae"]
BENCH = config["benchmark"]
SKIPPED_METHODS = skipped_methods(config, torch.cuda.is_available())
METHODS = [method for method in benchmark_methods(config) if method not in SKIPPED_METHODS]
ABLATION_AES = BENCH.get("ablation", {}).get("autoencoders", [])
CLAIM_ROLES = claim_roles(config)
for method, reason in SKIPPED_METHODS.items():
    logger.warning(f"igae: skipping {method}: {reason}. The tables say so.")


def alternatives(names):
    return "|".join(names) if names else "(?!x)x"


wildcard_constraints:
    dataset=alternatives(config["scenes"]),
    ae=alternatives(AUTOENCODERS),
    method=alternatives(METHODS),
    scene=r"[A-Za-z0-9_\-]+",


def spec_json(ae):
    """An autoencoder's config entry as JSON: a param, so editing the entry re-runs what depends on it."""
    return json.dumps({"name": ae, **AUTOENCODERS[ae], "image_size": config["image_size"]}, sort_keys=True)


def method_schedule(method):
    """The benchmark's two-stage schedule, with the method's own overrides (slow CPU methods run fewer steps)."""
    return {**BENCH["schedule"], **BENCH.get("schedule_overrides", {}).get(method, {})}


def bench_scenes():
    return [(dataset, scene) for dataset in BENCH["datasets"] for scene in scene_names(config["scenes"][dataset])]


def latent_runs():
    return [
        f"results/runs/latent/{ae}/{method}/{dataset}/{scene}"
        for ae, method in benchmark_runs(config)
        if method in METHODS
        for dataset, scene in bench_scenes()
    ]


def rgb_runs():
    return [f"results/runs/rgb/{method}/{dataset}/{scene}" for method in METHODS for dataset, scene in bench_scenes()]


def final_outputs():
    return [
        "results/tables/ae_reconstruction.csv",
        "results/tables/latent_nvs.csv",
        "results/tables/timing.csv",
        "results/tables/ablation.csv",
        "results/tables/claims.csv",
        "results/figures/qualitative.png",
        "results/figures/claims.png",
        "results/figures/convergence.png",
        "results/figures/ae_reconstruction.png",
        "results/summary.md",
    ]
