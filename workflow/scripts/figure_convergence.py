"""Snakemake: eval PSNR against training seconds, latent and RGB runs (rule figure_convergence)."""

from igae.report.figures import convergence_figure
from igae.runtime import logged_job

with logged_job(snakemake.log[0]) as log:  # noqa: F821 (injected by Snakemake)
    runs = [*snakemake.input.latent_runs, *snakemake.input.rgb_runs]  # noqa: F821
    convergence_figure(runs, snakemake.output[0])  # noqa: F821
    log(f"convergence figure of {len(runs)} runs")
