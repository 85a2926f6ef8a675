"""Snakemake: one autoencoder folder, whatever its kind (rules prepare_autoencoder, train_igae): its kind's build
(igae/ae/kinds/), given the rule's inputs by name and its params as keyword arguments."""

import json

from igae.ae.kinds.registry import build_autoencoder
from igae.runtime import logged_job, resolve_device

with logged_job(snakemake.log[0], snakemake.threads) as log:  # noqa: F821 (injected by Snakemake)
    params = dict(snakemake.params.items())  # noqa: F821
    build_autoencoder(
        json.loads(params.pop("spec")),
        inputs=dict(snakemake.input.items()),  # noqa: F821
        out_dir=snakemake.output[0],  # noqa: F821
        device=resolve_device(snakemake.config["device"]),  # noqa: F821
        log=log,
        **params,  # use_shipped; parity and scene_eval_fraction under parity: official (common.smk)
    )
