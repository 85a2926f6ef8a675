"""Snakemake: render one scene dataset (rule scene_dataset)."""

from igae.runtime import logged_job
from igae.scenes.procedural import build_procedural_dataset

spec = snakemake.params.spec  # noqa: F821 (injected by Snakemake)
with logged_job(snakemake.log[0], snakemake.threads) as log:  # noqa: F821
    folders = build_procedural_dataset(
        snakemake.output[0],  # noqa: F821
        family=spec["family"],
        count=spec["count"],
        views=spec["views"],
        image_size=snakemake.params.image_size,  # noqa: F821
        eval_fraction=spec["eval_fraction"],
        seed=spec["seed"],
    )
    log(f"wrote {len(folders)} scenes")
