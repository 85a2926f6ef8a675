"""Snakemake (rule results_page): ``results/results.html``, the answer first, then every table and figure under its
caption (igae.report.results_page). The captions are the ``.rst`` files beside this script, the same ones the Snakemake
report shows for each CSV and PNG."""

from pathlib import Path

from igae.files import atomic_write_text
from igae.report.results_page import results_page
from igae.runtime import logged_job

with logged_job(snakemake.log[0]) as log:  # noqa: F821 (injected by Snakemake)
    files = [Path(path) for path in [*snakemake.input.tables, *snakemake.input.figures]]  # noqa: F821
    page = results_page(files, Path(snakemake.scriptdir))  # noqa: F821
    log(f"results page: {atomic_write_text(snakemake.output[0], page)} ({len(page)} characters)")  # noqa: F821
