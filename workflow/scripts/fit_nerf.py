"""Snakemake: fit one NeRF, latent or RGB (rules fit_latent_nerf, fit_rgb_nerf)."""

from pathlib import Path

from igae.latent_nerf.method_configs import TwoStageSchedule
from igae.nerf_fit import fit
from igae.runtime import logged_job, resolve_device

wc, inputs = snakemake.wildcards, snakemake.input  # noqa: F821
space = "latent" if "latents" in inputs.keys() else "rgb"
with logged_job(snakemake.log[0], snakemake.threads) as log:  # noqa: F821
    fit(
        space,
        wc.method,
        scene=Path(inputs.dataset) / wc.scene,
        out_dir=Path(snakemake.output.run),  # noqa: F821
        schedule=TwoStageSchedule(**snakemake.params.schedule),  # noqa: F821
        autoencoder=Path(inputs.ae) if space == "latent" else None,
        latents=Path(inputs.latents) if space == "latent" else None,
        model_overrides=snakemake.params.model,  # noqa: F821
        seed=snakemake.params.seed,  # noqa: F821
        parity=getattr(snakemake.params, "parity", "paper"),  # noqa: F821 (a param under parity: official only)
        device=resolve_device(snakemake.config["device"]),  # noqa: F821
        labels={"dataset": wc.dataset, "scene": wc.scene, "autoencoder": wc.get("ae")},
        config_for_provenance=snakemake.config,  # noqa: F821
        log=log,
    )
