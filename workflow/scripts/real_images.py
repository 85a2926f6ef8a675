"""Snakemake: build the real-image set (rule real_images)."""

from igae.runtime import logged_job
from igae.scenes.sources.datasets import build_real_image_set

with logged_job(snakemake.log[0], snakemake.threads) as log:  # noqa: F821 (injected by Snakemake)
    manifest = build_real_image_set(
        snakemake.params.spec,  # noqa: F821
        snakemake.output[0],  # noqa: F821
        image_size=snakemake.params.image_size,  # noqa: F821
        downloads=snakemake.params.downloads,  # noqa: F821
    )
    log(f"real images: {len(manifest['crops'])} files")
