"""Snakemake: the Markdown results section, generated from the tables (rule summary; igae summary does the same)."""

from igae.files import atomic_write_text
from igae.report.summary import results_markdown, this_machine
from igae.runtime import logged_job

with logged_job(snakemake.log[0]) as log:  # noqa: F821 (injected by Snakemake)
    markdown = results_markdown(snakemake.params.tables, this_machine())  # noqa: F821
    log(f"summary: {atomic_write_text(snakemake.output[0], markdown)}")  # noqa: F821
