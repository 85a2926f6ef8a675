"""Snakemake: write every scene of one dataset from its source (rule scene_dataset)."""

from igae.runtime import logged_job
from igae.scenes.sources.datasets import build_scene_dataset

with logged_job(snakemake.log[0], snakemake.threads) as log:  # noqa: F821 (injected by Snakemake)
    folders = build_scene_dataset(
        snakemake.params.spec,  # noqa: F821
        snakemake.output[0],  # noqa: F821
        image_size=snakemake.params.image_size,  # noqa: F821
        downloads=snakemake.params.downloads,  # noqa: F821
        log=log,
    )
    log(f"wrote {len(folders)} scenes, each read back and checked")
