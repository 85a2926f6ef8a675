"""Snakemake: a pretrained, shipped or freshly trained standard autoencoder (rule prepare_autoencoder)."""

import json

from igae.autoencoder_jobs import prepare_autoencoder
from igae.runtime import logged_job, resolve_device

with logged_job(snakemake.log[0], snakemake.threads) as log:  # noqa: F821
    prepare_autoencoder(
        json.loads(snakemake.params.spec),  # noqa: F821
        out_dir=snakemake.output[0],  # noqa: F821
        real_dir=snakemake.input.get("real"),  # noqa: F821
        use_shipped=snakemake.params.use_shipped,  # noqa: F821
        device=resolve_device(snakemake.config["device"]),  # noqa: F821
        log=log,
        parity=getattr(snakemake.params, "parity", "paper"),  # noqa: F821
    )
