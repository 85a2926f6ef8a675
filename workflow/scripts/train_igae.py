"""Snakemake: train an IG-AE from its base AE (rule train_igae)."""

import json

from igae.autoencoder_jobs import train_igae_job
from igae.runtime import logged_job, resolve_device

with logged_job(snakemake.log[0], snakemake.threads) as log:  # noqa: F821
    train_igae_job(
        json.loads(snakemake.params.spec),  # noqa: F821
        base_dir=snakemake.input.base,  # noqa: F821
        scenes_dir=snakemake.input.scenes,  # noqa: F821
        real_dir=snakemake.input.real,  # noqa: F821
        out_dir=snakemake.output[0],  # noqa: F821
        device=resolve_device(snakemake.config["device"]),  # noqa: F821
        log=log,
        use_shipped=snakemake.params.use_shipped,  # noqa: F821
        parity=getattr(snakemake.params, "parity", "paper"),  # noqa: F821
        scene_eval_fraction=getattr(snakemake.params, "scene_eval_fraction", None),  # noqa: F821
    )
