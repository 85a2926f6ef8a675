"""Snakemake: the paper's tables as long-format CSVs (rule tables): write_tables with the rule's inputs and params,
by their names (igae.config.TableInputs)."""

from pathlib import Path

from igae.report.tables import write_tables
from igae.runtime import logged_job

with logged_job(snakemake.log[0]) as log:  # noqa: F821 (injected by Snakemake)
    paths = write_tables(
        **{name: list(paths) for name, paths in snakemake.input.items()},  # noqa: F821
        **dict(snakemake.params.items()),  # noqa: F821
        out_dir=Path(snakemake.output.latent_nvs).parent,  # noqa: F821
    )
    log("\n".join(f"{name}: {path}" for name, path in paths.items()))
