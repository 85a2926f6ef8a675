"""Snakemake: the paper's claims with paired bootstrap intervals, and their forest plot (rule claims)."""

from igae.report.claims import write_claims
from igae.report.figures import claims_figure
from igae.runtime import logged_job

with logged_job(snakemake.log[0]) as log:  # noqa: F821 (injected by Snakemake)
    table, units = write_claims(
        latent_nvs_csv=snakemake.input.nvs,  # noqa: F821
        timing_csv=snakemake.input.timing,  # noqa: F821
        out_csv=snakemake.output.table,  # noqa: F821
        roles=snakemake.params.roles,  # noqa: F821
    )
    claims_figure(table, units, snakemake.output.figure)  # noqa: F821
    log(f"roles: {snakemake.params.roles}")  # noqa: F821
    for row in table.itertuples():
        interval = f"[{row.ci_low:.4g}, {row.ci_high:.4g}]"
        log(f"{row.claim} / {row.method}: {row.estimate:.4g} {interval}, n = {row.n}: {row.verdict}")
