"""Snakemake (rule results_page): every table as an HTML table under its caption, every figure with its caption, on one
self-contained page (images embedded), ``results/results.html``. The captions are the ``.rst`` files beside this
script, the same ones the Snakemake report shows for each CSV and PNG, so the two never disagree.

Cells are the CSV's text: numbers with more than 4 significant digits are rounded for reading (the CSV keeps them
all), hashes are cut to 12 characters (the full value is the cell's tooltip), and a long text that every row repeats
(``versions``, ``lpips_reason``) is written once under its table. The page has no timestamp: the same tables give the
same bytes.
"""

import base64
import csv
import html
import re
from pathlib import Path

CAPTIONS = {
    "claims.csv": ("Claims", "table_claims.rst"),
    "latent_nvs.csv": ("Latent novel-view synthesis (Tab. 2)", "table_latent_nvs.rst"),
    "ae_reconstruction.csv": ("Autoencoder reconstruction (Tab. 1)", "table_ae_reconstruction.rst"),
    "timing.csv": ("Training and rendering time (Tab. 5)", "table_timing.rst"),
    "ablation.csv": ("Ablation", "table_ablation.rst"),
    "qualitative.png": ("Qualitative comparison", "figure_qualitative.rst"),
    "convergence.png": ("Convergence", "figure_convergence.rst"),
    "claims.png": ("Claims, forest plot", "figure_claims.rst"),
    "ae_reconstruction.png": ("Autoencoder reconstructions", "figure_ae_reconstruction.rst"),
    "igae_training.png": ("IG-AE training curves", "figure_igae_training.rst"),
}
"""File name -> (section title, caption file beside this script). Tables come first, in this order, then figures."""
HASH_COLUMNS = {"config_hash", "ae_sha256"}
LONG_COLUMNS = {"versions", "statement", "statistic", "lpips_reason", "note", "datasets"}
NUMBER = re.compile(r"^-?\d+\.\d+(e[-+]?\d+)?$", re.IGNORECASE)

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #1e293b; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #cbd5e1; }
nav a { margin-right: 1em; }
.caption { max-width: 60em; font-size: 0.9em; }
.caption dl { display: grid; grid-template-columns: max-content auto; gap: 0.15em 1em; margin: 0.5em 0; }
.caption dt { font-family: monospace; font-weight: bold; } .caption dd { margin: 0; }
.scroll { overflow-x: auto; max-width: 100%; }
table.data { border-collapse: collapse; font-size: 0.8em; margin: 0.8em 0; }
table.data th { background: #e2e8f0; position: sticky; top: 0; font-family: monospace; }
table.data th, table.data td { border: 1px solid #cbd5e1; padding: 0.2em 0.5em; vertical-align: top; }
table.data td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.data td.long { min-width: 16em; max-width: 32em; font-size: 0.9em; }
table.data td.hash { font-family: monospace; white-space: nowrap; }
table.data tr:nth-child(even) td { background: #f8fafc; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #e2e8f0; }
.empty { font-style: italic; color: #64748b; }
td.common { color: #64748b; font-style: italic; white-space: nowrap; }
p.common { font-size: 0.8em; max-width: 80em; margin: 0.2em 0; }
"""


def caption_html(rst_file: Path) -> str:
    """The caption file rendered by docutils (as the Snakemake report renders it)."""
    from docutils.core import publish_parts

    text = rst_file.read_text(encoding="utf-8")
    return publish_parts(text, writer_name="html", settings_overrides={"report_level": 5})["body"]


def cell(column: str, text: str) -> str:
    """One <td>: numbers right-aligned (rounded to 4 significant digits), hashes cut, long text wrapped."""
    if column in HASH_COLUMNS and len(text) > 12:
        return f'<td class="hash" title="{html.escape(text)}">{html.escape(text[:12])}…</td>'
    if NUMBER.match(text):
        value = float(text)
        shown = f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
        return f'<td class="num" title="{html.escape(text)}">{html.escape(shown)}</td>'
    if re.fullmatch(r"-?\d+", text):
        return f'<td class="num">{text}</td>'
    kind = ' class="long"' if column in LONG_COLUMNS else ""
    return f"<td{kind}>{html.escape(text)}</td>"


def table_html(csv_file: Path) -> str:
    """The CSV as an HTML table, header first; a line saying so when it has no row."""
    with open(csv_file, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return '<p class="empty">(empty file)</p>'
    header, body = rows[0], rows[1:]
    if not body:
        return f'<p class="empty">No rows (columns: {html.escape(", ".join(header))}).</p>'
    head = "".join(f"<th>{html.escape(name)}</th>" for name in header)
    common = {}  # long text that every row repeats (versions, lpips_reason): said once, under the table
    for index, name in enumerate(header):
        values = [row[index] for row in body if index < len(row) and row[index]]
        if name in LONG_COLUMNS and len(values) > 1 and len(set(values)) == 1:
            common[name] = values[0]
    lines = []
    for row in body:
        cells = [
            '<td class="common">(below)</td>' if name in common and value else cell(name, value)
            for name, value in zip(header, row, strict=False)
        ]
        lines.append("<tr>" + "".join(cells) + "</tr>")
    notes = "".join(
        f'<p class="common"><code>{html.escape(name)}</code> (every row that has one): {html.escape(value)}</p>'
        for name, value in common.items()
    )
    return (
        f'<div class="scroll"><table class="data"><thead><tr>{head}</tr></thead><tbody>\n'
        + "\n".join(lines)
        + f"\n</tbody></table></div>{notes}"
    )


def figure_html(png: Path, title: str) -> str:
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    return f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(title)}"></figure>'


def results_page(files: list[Path], captions_dir: Path) -> str:
    """The HTML page of ``files`` (CSVs and PNGs named in :data:`CAPTIONS`), in the order of :data:`CAPTIONS`."""
    by_name = {path.name: path for path in files}
    unknown = sorted(set(by_name) - set(CAPTIONS))
    if unknown:
        raise ValueError(f"igae: results page: no caption for {unknown}; add them to CAPTIONS in {__file__}")
    sections, links = [], []
    for name, (title, caption) in CAPTIONS.items():
        if name not in by_name:
            continue
        anchor = name.replace(".", "-")
        path = by_name[name]
        body = table_html(path) if name.endswith(".csv") else figure_html(path, title)
        links.append(f'<a href="#{anchor}">{html.escape(title)}</a>')
        sections.append(
            f'<section id="{anchor}"><h2>{html.escape(title)} <small><code>{html.escape(str(path))}</code></small></h2>'
            f'<div class="caption">{caption_html(captions_dir / caption)}</div>\n{body}</section>'
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>igae-bench results</title>'
        f"<style>{STYLE}</style></head><body>\n<h1>igae-bench results</h1>\n<nav>{''.join(links)}</nav>\n"
        + "\n".join(sections)
        + "\n</body></html>\n"
    )


if "snakemake" in globals():  # run by Snakemake; no igae import (nothing here needs torch)
    import os
    import traceback

    output, log_path = Path(snakemake.output[0]), Path(snakemake.log[0])  # noqa: F821 (injected by Snakemake)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        try:
            page = results_page(
                [Path(p) for p in [*snakemake.input.tables, *snakemake.input.figures]],  # noqa: F821
                Path(snakemake.scriptdir),  # noqa: F821
            )
            output.parent.mkdir(parents=True, exist_ok=True)
            partial = output.with_name(output.name + ".partial")
            partial.write_text(page, encoding="utf-8")
            os.replace(partial, output)  # atomic: a reader never sees half a page
            print(f"results page: {output} ({len(page)} characters)", file=log)
        except BaseException:
            traceback.print_exc(file=log)
            raise
