"""Snakemake: build the real-image set (rule real_images)."""

from igae.real_images import build_real_images
from igae.runtime import logged_job

spec = snakemake.params.spec  # noqa: F821 (injected by Snakemake)
with logged_job(snakemake.log[0], snakemake.threads) as log:  # noqa: F821
    manifest = build_real_images(snakemake.output[0], image_size=snakemake.params.image_size, seed=spec["seed"])  # noqa: F821
    log(f"real images: {manifest.get('counts', manifest.keys())}")
