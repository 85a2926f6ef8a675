"""Snakemake: the IG-AE training curves from the cards of the IG-AE kind autoencoders (rule figure_igae_training)."""

from pathlib import Path

from igae.report.figures import igae_training_figure
from igae.runtime import logged_job

with logged_job(snakemake.log[0], 1) as log:  # noqa: F821 (injected by Snakemake)
    autoencoders = [(Path(folder).name, folder) for folder in snakemake.input.autoencoders]  # noqa: F821
    igae_training_figure(autoencoders, snakemake.output[0])  # noqa: F821
    log(f"training curves of {[name for name, _ in autoencoders]}")
