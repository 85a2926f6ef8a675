"""Config validation, names the wildcards may take, and the list of final outputs."""

import json

from snakemake.utils import validate

validate(config, schema="../schemas/config.schema.yaml")

from igae.workflow_config import check_config, scene_names  # noqa: E402

check_config(config)

AUTOENCODERS = config["autoencoders"]
IGAE_NAMES = [name for name, spec in AUTOENCODERS.items() if spec["kind"] == "igae"]
PLAIN_NAMES = [name for name, spec in AUTOENCODERS.items() if spec["kind"] != "igae"]
BENCH = config["benchmark"]


def alternatives(names):
    return "|".join(names) if names else "(?!x)x"


wildcard_constraints:
    dataset=alternatives(config["scenes"]),
    ae=alternatives(AUTOENCODERS),
    method=alternatives(BENCH["methods"]),
    scene=r"[A-Za-z0-9_\-]+",


def spec_json(ae):
    """An autoencoder's config entry as JSON: a param, so editing the entry re-runs what depends on it."""
    return json.dumps({"name": ae, **AUTOENCODERS[ae], "image_size": config["image_size"]}, sort_keys=True)


def bench_scenes():
    return [(dataset, scene) for dataset in BENCH["datasets"] for scene in scene_names(config["scenes"][dataset])]


def latent_runs():
    return [
        f"results/runs/latent/{ae}/{method}/{dataset}/{scene}"
        for ae in BENCH["autoencoders"]
        for method in BENCH["methods"]
        for dataset, scene in bench_scenes()
    ]


def rgb_runs():
    return [f"results/runs/rgb/{method}/{dataset}/{scene}" for method in BENCH["methods"] for dataset, scene in bench_scenes()]


def final_outputs():
    return [
        "results/tables/ae_reconstruction.csv",
        "results/tables/latent_nvs.csv",
        "results/tables/timing.csv",
        "results/figures/qualitative.png",
    ]
