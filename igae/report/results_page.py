"""The results page, ``results/results.html``: the answer first, then every table and figure under its caption.

The page opens with what a reader asks first, "does the IG-AE help, and by how much":

1. the claims' verdicts, compact (claim, method, estimate [90 % BCa CI], p, n, verdict) with the rule that decides
   them, from ``claims.csv``;
2. their forest plot, ``claims.png``;
3. decoded-RGB PSNR per method, mean ± std per autoencoder and RGB (failed fits left out and counted), from
   ``latent_nvs.csv``, and how far the fits trained: converged, stopped at their cap, failed, steps;
4. the qualitative comparison, ``qualitative.png``.

The three tables are the ones ``igae summary`` writes (:func:`igae.report.summary.claims_summary`,
:func:`igae.report.summary.nvs_summary`, :func:`igae.report.summary.fits_summary`, here rendered as HTML), so the page
and the README never disagree. Below the answer, every table is an HTML table and every figure an image, each under its
title and caption (:data:`igae.layout.OUTPUTS`: the ``.rst`` files of ``workflow/report/``, the same ones the Snakemake
report shows for each CSV and PNG). A figure of the answer is embedded once, in the answer: its section below gives its
caption and a link up to it. A table or figure that is not among the files (``claims.csv`` of an older run) is said
to be missing where it would be.

Cells of the raw tables are the CSV's text: numbers with more than 4 significant digits are rounded for reading (the
CSV keeps them all), hashes are cut to 12 characters (the full value is the cell's tooltip), and a long text that every
row repeats (``versions``, ``lpips_reason``) is written once under its table. The page is self-contained (images
embedded) and has no timestamp: the same tables give the same bytes. Nothing here imports torch.
"""

from __future__ import annotations

import base64
import csv
import html
import re
from collections.abc import Sequence
from pathlib import Path

from igae import layout
from igae.report.summary import Section, ablation_variants, claims_summary, fits_summary, nvs_summary, read_table

ANSWER_FIGURES = ("claims.png", "qualitative.png")
"""Figures the answer shows: embedded there, linked from their captioned section below."""
HASH_COLUMNS = {"config_hash", "ae_sha256"}
LONG_COLUMNS = {"versions", "statement", "statistic", "lpips_reason", "note", "datasets"}
WORD_COLUMNS = {"claim", "method", "verdict", "interval", "test"}
"""Columns whose text reads as one word ('sign-flip exact 2^6', 'vanilla-nerf'): never wrapped."""
NUMBER = re.compile(r"^-?\d+\.\d+(e[-+]?\d+)?$", re.IGNORECASE)

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #1e293b; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #cbd5e1; }
h3 { font-size: 1.05em; margin: 1.4em 0 0.4em; }
nav a { margin-right: 1em; }
.caption { max-width: 60em; font-size: 0.9em; }
.caption dl { display: grid; grid-template-columns: max-content auto; gap: 0.15em 1em; margin: 0.5em 0; }
.caption dt { font-family: monospace; font-weight: bold; } .caption dd { margin: 0; }
.scroll { overflow-x: auto; max-width: 100%; }
table.data, table.answer { border-collapse: collapse; font-size: 0.8em; margin: 0.8em 0; }
table.data th { background: #e2e8f0; position: sticky; top: 0; font-family: monospace; }
table.data th, table.data td, table.answer th, table.answer td {
  border: 1px solid #cbd5e1; padding: 0.2em 0.5em; vertical-align: top; }
table.data td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.data td.long { min-width: 16em; max-width: 32em; font-size: 0.9em; }
table.data td.hash { font-family: monospace; white-space: nowrap; }
table.data td.word { white-space: nowrap; }
table.data tr:nth-child(even) td { background: #f8fafc; }
#answer { background: #f8fafc; border: 1px solid #cbd5e1; padding: 0 1.2em 1em; border-radius: 6px; }
#answer h2 { margin-top: 0.8em; }
table.answer { font-size: 0.9em; background: white; }
table.answer th { background: #e2e8f0; text-align: left; }
table.answer td { font-variant-numeric: tabular-nums; max-width: 40em; }
table.answer tr.holds td:last-child { background: #dcfce7; }
table.answer tr.fails td:last-child { background: #fee2e2; }
table.answer tr.inconclusive td:last-child { background: #f1f5f9; }
.lead { max-width: 60em; font-size: 0.9em; }
ul.notes { font-size: 0.85em; max-width: 60em; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #e2e8f0; }
#answer figure img { max-width: min(100%, 1100px); }
figcaption { font-size: 0.85em; color: #475569; }
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
    """One <td>: numbers right-aligned (rounded to 4 significant digits), hashes cut, long text wrapped, a word not."""
    if column in HASH_COLUMNS and len(text) > 12:
        return f'<td class="hash" title="{html.escape(text)}">{html.escape(text[:12])}…</td>'
    if NUMBER.match(text):
        value = float(text)
        shown = f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
        return f'<td class="num" title="{html.escape(text)}">{html.escape(shown)}</td>'
    if re.fullmatch(r"-?\d+", text):
        return f'<td class="num">{text}</td>'
    kind = ' class="long"' if column in LONG_COLUMNS else ' class="word"' if column in WORD_COLUMNS else ""
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


def figure_html(png: Path, title: str, caption: str = "") -> str:
    """The PNG embedded as a data URI, with an optional <figcaption> (HTML)."""
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    below = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(title)}">{below}</figure>'


def inline_markdown(text: str) -> str:
    """The inline Markdown of :mod:`igae.report.summary` (`code`, **bold**) as HTML; everything else escaped."""
    text = html.escape(text, quote=False)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)


def section_html(section: Section, row_classes: Sequence[str] = ()) -> str:
    """A :class:`igae.report.summary.Section` as HTML: its lead, a compact table, its bullets.

    ``row_classes``: one CSS class per row (the claims' verdicts colour their cell), or none.
    """
    head = "".join(f"<th>{inline_markdown(name)}</th>" for name in section.header)
    classes = list(row_classes) or [""] * len(section.rows)
    body = "\n".join(
        f'<tr class="{html.escape(kind)}">' + "".join(f"<td>{inline_markdown(text)}</td>" for text in row) + "</tr>"
        for kind, row in zip(classes, section.rows, strict=True)
    )
    notes = "".join(f"<li>{inline_markdown(note)}</li>" for note in section.notes)
    return (
        f'<p class="lead">{inline_markdown(section.lead)}</p>\n'
        f'<div class="scroll"><table class="answer"><thead><tr>{head}</tr></thead>'
        f"<tbody>\n{body}\n</tbody></table></div>" + (f'\n<ul class="notes">{notes}</ul>' if notes else "")
    )


def _anchor(name: str) -> str:
    """The id of a file's section: 'claims.csv' -> 'claims-csv'."""
    return name.replace(".", "-")


def _missing(name: str, what: str) -> str:
    """A line saying that ``name`` is not among the page's files, and what the reader misses."""
    return f'<p class="empty">No <code>{html.escape(name)}</code> in this run: {html.escape(what)}.</p>'


def answer_html(by_name: dict[str, Path]) -> str:
    """The answer section: claims verdicts and forest plot, PSNR mean ± std per method, the qualitative figure."""
    parts = ['<section id="answer"><h2>The answer</h2>', "<h3>Do the paper's claims hold?</h3>"]
    if "claims.csv" not in by_name:
        parts.append(_missing("claims.csv", "no verdicts (the rule claims writes it from latent_nvs.csv, timing.csv)"))
    else:
        claims = read_table(by_name["claims.csv"])
        if claims.empty:
            parts.append('<p class="empty"><code>claims.csv</code> has no rows: no claim had a paired unit.</p>')
        else:
            verdicts = [str(verdict) for verdict in claims["verdict"]]  # holds / fails / inconclusive: the cell colour
            parts.append(section_html(claims_summary(claims, compact=True), verdicts))
    parts.append(_answer_figure(by_name, "claims.png", "no forest plot"))
    parts.append("<h3>By how much? Decoded novel views per method</h3>")
    if "latent_nvs.csv" not in by_name:
        parts.append(_missing("latent_nvs.csv", "no novel-view table"))
    else:
        ablation = read_table(by_name["ablation.csv"]) if "ablation.csv" in by_name else None
        variants = ablation_variants(ablation) if ablation is not None else []
        nvs = read_table(by_name["latent_nvs.csv"])
        parts.append(section_html(nvs_summary(nvs, variants)))
        fits = fits_summary(nvs)
        if fits is not None:
            parts.append("<h3>Are these numbers trained out? Convergence and failures per fit</h3>")
            parts.append(section_html(fits))
    parts.append("<h3>What it looks like</h3>")
    parts.append(_answer_figure(by_name, "qualitative.png", "no qualitative comparison"))
    return "\n".join([*parts, "</section>"])


def _answer_figure(by_name: dict[str, Path], name: str, what: str) -> str:
    """A figure of the answer, with a link to its captioned section below; a line saying so when it is missing."""
    if name not in by_name:
        return _missing(name, what)
    title = layout.output(name).title
    link = f'{html.escape(title)}: <a href="#{_anchor(name)}">what it shows</a> (<code>{html.escape(name)}</code>)'
    return figure_html(by_name[name], title, link)


def results_page(files: Sequence[Path], captions_dir: Path) -> str:
    """The HTML page of ``files`` (CSVs and PNGs of :data:`igae.layout.OUTPUTS`): the answer, then each file's section.

    ``captions_dir``: the folder of the caption ``.rst`` files (``workflow/report``). Raises naming any file that has
    no caption.
    """
    by_name = {Path(path).name: Path(path) for path in files}
    unknown = sorted(set(by_name) - {entry.file for entry in layout.OUTPUTS})
    if unknown:
        raise ValueError(f"igae: results page: no caption for {unknown}; add them to igae.layout.OUTPUTS")
    sections, links = [], ['<a href="#answer">The answer</a>']
    for entry in layout.OUTPUTS:  # tables first, then figures
        name, title = entry.file, entry.title
        if name not in by_name:
            continue
        path = by_name[name]
        if entry.kind == "table":
            body = table_html(path)
        elif name in ANSWER_FIGURES:
            body = '<p class="empty">Shown <a href="#answer">in the answer, above</a>.</p>'
        else:
            body = figure_html(path, title)
        links.append(f'<a href="#{_anchor(name)}">{html.escape(title)}</a>')
        sections.append(
            f'<section id="{_anchor(name)}"><h2>{html.escape(title)} '
            f"<small><code>{html.escape(str(path))}</code></small></h2>"
            f'<div class="caption">{caption_html(captions_dir / entry.caption)}</div>\n{body}</section>'
        )
    absent = [entry.file for entry in layout.OUTPUTS if entry.file not in by_name]
    if absent:
        names = ", ".join(f"<code>{html.escape(name)}</code>" for name in absent)
        sections.append(f'<p class="empty">Not in this run: {names}.</p>')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>igae-bench results</title>'
        f"<style>{STYLE}</style></head><body>\n<h1>igae-bench results</h1>\n<nav>{''.join(links)}</nav>\n"
        + answer_html(by_name)
        + '\n<h2 id="tables-and-figures">Every table and figure</h2>\n'
        + "\n".join(sections)
        + "\n</body></html>\n"
    )
