"""Snakemake: reconstruction quality of one AE (rule evaluate_autoencoder)."""

from igae.ae.evaluation import evaluate_autoencoder
from igae.runtime import logged_job, resolve_device

with logged_job(snakemake.log[0], snakemake.threads) as log:  # noqa: F821
    evaluate_autoencoder(
        snakemake.input.ae,  # noqa: F821
        name=snakemake.wildcards.ae,  # noqa: F821
        scene_datasets=list(snakemake.input.scenes),  # noqa: F821
        real_dir=snakemake.input.real,  # noqa: F821
        out_file=snakemake.output[0],  # noqa: F821
        config=snakemake.config,  # noqa: F821
        device=resolve_device(snakemake.config["device"]),  # noqa: F821
        log=log,
    )
