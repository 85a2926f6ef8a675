"""Snakemake: the paper's tables as long-format CSVs (rule tables)."""

from pathlib import Path

from igae.report.tables import write_tables
from igae.runtime import logged_job

with logged_job(snakemake.log[0]) as log:  # noqa: F821 (injected by Snakemake)
    paths = write_tables(
        ae_eval_files=list(snakemake.input.ae_eval),  # noqa: F821
        latent_run_dirs=list(snakemake.input.latent_runs),  # noqa: F821
        rgb_run_dirs=list(snakemake.input.rgb_runs),  # noqa: F821
        out_dir=Path(snakemake.output.latent_nvs).parent,  # noqa: F821
        skipped=snakemake.params.skipped,  # noqa: F821
        ablation=snakemake.params.ablation,  # noqa: F821
    )
    log("\n".join(f"{name}: {path}" for name, path in paths.items()))
