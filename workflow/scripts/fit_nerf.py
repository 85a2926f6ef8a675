"""Snakemake: fit one NeRF, latent or RGB (rules fit_latent_nerf, fit_rgb_nerf)."""

from pathlib import Path

from igae.nerf.fit import fit
from igae.nerf.method_configs import TwoStageSchedule
from igae.nerf.registry import Space
from igae.parity import Parity
from igae.runtime import logged_job, resolve_device

wc, inputs = snakemake.wildcards, snakemake.input  # noqa: F821
space = Space.LATENT if "latents" in inputs.keys() else Space.RGB
with logged_job(snakemake.log[0], snakemake.threads) as log:  # noqa: F821
    fit(
        space,
        wc.method,
        scene=Path(inputs.dataset) / wc.scene,
        out_dir=Path(snakemake.output.run),  # noqa: F821
        schedule=TwoStageSchedule(**snakemake.params.schedule),  # noqa: F821
        autoencoder=Path(inputs.ae) if space == Space.LATENT else None,
        latents=Path(inputs.latents) if space == Space.LATENT else None,
        model_overrides=snakemake.params.model,  # noqa: F821
        seed=snakemake.params.seed,  # noqa: F821
        parity=Parity.parse(getattr(snakemake.params, "parity", Parity.PAPER)),  # noqa: F821 (official only)
        device=resolve_device(snakemake.config["device"]),  # noqa: F821
        labels={"dataset": wc.dataset, "scene": wc.scene, "autoencoder": wc.get("ae")},
        config_for_provenance=snakemake.config,  # noqa: F821
        log=log,
    )
