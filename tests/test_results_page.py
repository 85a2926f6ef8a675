"""The results page (igae.report.results_page): the answer first, then every table and figure under its caption.

The tables are the hand-made ones of test_summary (chosen numbers, igae.report.tables' columns); the figures are small
PNGs of one colour each, drawn here, so each embedded image can be found in the page by its bytes.
"""

import base64
import html
from pathlib import Path

import pytest
from PIL import Image
from test_summary import RUN, write_table_set

from igae import layout
from igae.report.results_page import caption_html, results_page
from igae.report.summary import results_markdown

REPO = Path(__file__).resolve().parents[1]
CAPTIONS_DIR = REPO / "workflow" / "report"
FIGURES = [entry.file for entry in layout.figures()]


def page_files(folder: Path, claims=True, figures=FIGURES) -> list[Path]:
    """results/tables/*.csv (test_summary's) and results/figures/*.png, one plain colour per figure."""
    tables = write_table_set(folder / "tables", claims=claims)
    (folder / "figures").mkdir(parents=True, exist_ok=True)
    pngs = []
    for index, name in enumerate(figures):
        path = folder / "figures" / name
        Image.new("RGB", (40, 30), (40 * index, 255 - 40 * index, 90)).save(path)
        pngs.append(path)
    return [*sorted(tables.glob("*.csv")), *pngs]


def embedded(png: Path) -> str:
    """How the page embeds ``png``: its bytes as a base64 data URI."""
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")


def split(page: str) -> tuple[str, str]:
    """(the answer section, everything below it); the answer opens the page's body, before any raw table."""
    start, raw = page.index('<section id="answer">'), page.index('<h2 id="tables-and-figures">')
    assert start < raw < page.index('<table class="data">'), "the answer must come before the raw tables"
    assert page.index("<nav>") < start and "<table" not in page[:start]
    return page[start:raw], page[raw:]


def test_the_answer_comes_first_with_the_verdicts_the_psnr_table_and_the_figures(tmp_path):
    files = page_files(tmp_path)
    page = results_page(files, CAPTIONS_DIR)
    answer, raw = split(page)

    # the verdicts, compact: claim, method, estimate [interval as the table names it], p, n, verdict
    assert "<th>claim</th><th>method</th><th>estimate [90 % BCa CI]</th><th>p</th><th>n</th><th>verdict</th>" in answer
    holds = "<td>igae_beats_standard</td><td>tensorf</td><td>1.10 [0.60, 1.50]</td><td>0.016</td><td>6</td>"
    assert f'<tr class="holds">{holds}<td><strong>holds</strong></td></tr>' in answer
    assert '<tr class="fails"><td>latent_renders_faster</td>' in answer and "1; opposite 0.031" in answer
    assert "<strong>inconclusive</strong> (n = 4 &lt; 5: too few)" in answer
    assert "Verdicts: <code>holds</code> needs n ≥ 5 paired units, the 90 % BCa interval above the null" in answer
    assert "Estimate: mean paired dPSNR (dB)." in answer  # the statistic, out of the compact table
    # the per-method mean ± std table: the cells igae summary writes for the README, the same function's
    markdown = results_markdown(tmp_path / "tables", RUN)
    tensorf = next(line for line in markdown.splitlines() if line.startswith("| tensorf | heldout | 3 |"))
    cells = [cell.strip() for cell in tensorf.strip("|").split("|")]
    assert cells[3] == "18.00 ± 0.50 (3/3)" and "".join(f"<td>{cell}</td>" for cell in cells) in answer
    assert "<code>instant-ngp</code>: skipped: GPU-only" in answer
    # the forest plot and the qualitative figure: in the answer, embedded once; the other figures below only
    by_name = {path.name: path for path in files}
    for name in FIGURES:
        where = answer if name in ("claims.png", "qualitative.png") else raw
        assert where.count(embedded(by_name[name])) == 1 and page.count(embedded(by_name[name])) == 1, name
    assert answer.index(embedded(by_name["claims.png"])) < answer.index(embedded(by_name["qualitative.png"]))


def test_every_raw_table_and_figure_is_still_below_under_its_caption(tmp_path):
    files = page_files(tmp_path)
    _, raw = split(results_page(files, CAPTIONS_DIR))
    sections = raw.split("<section ")[1:]
    assert len(sections) == len(layout.OUTPUTS) == len(files)
    for section, entry in zip(sections, layout.OUTPUTS, strict=True):
        name, title = entry.file, entry.title
        assert section.startswith(f'id="{name.replace(".", "-")}"><h2>{html.escape(title)} '), name
        assert caption_html(CAPTIONS_DIR / entry.caption) in section, name
        if name.endswith(".csv"):
            assert section.count('<table class="data">') == 1, name  # every CSV of the set has rows
        elif name in ("claims.png", "qualitative.png"):
            assert 'Shown <a href="#answer">in the answer, above</a>' in section, name
        else:
            assert section.count("data:image/png;base64,") == 1, name
    assert "p_value" in sections[0] and "sign-flip exact 2^6" in sections[0]  # the full claims table, every column
    assert "Not in this run" not in raw


def test_a_missing_claims_table_and_figure_are_said_to_be_missing(tmp_path):
    figures = [name for name in FIGURES if name not in ("claims.png", "qualitative.png")]
    page = results_page(page_files(tmp_path, claims=False, figures=figures), CAPTIONS_DIR)
    answer, raw = split(page)
    assert "No <code>claims.csv</code> in this run: no verdicts" in answer
    assert "No <code>claims.png</code> in this run: no forest plot" in answer
    assert "No <code>qualitative.png</code> in this run" in answer
    assert "18.00 ± 0.50 (3/3)" in answer  # the PSNR table does not need the claims
    assert "Not in this run: <code>claims.csv</code>, <code>qualitative.png</code>, <code>claims.png</code>." in raw
    assert 'id="claims-csv"' not in raw and raw.count('<table class="data">') == 4


def test_a_claims_table_without_rows_and_a_file_without_caption(tmp_path):
    files = page_files(tmp_path)
    claims = next(path for path in files if path.name == "claims.csv")
    claims.write_text(claims.read_text().splitlines()[0] + "\n")  # the header only: no claim had a unit
    answer, raw = split(results_page(files, CAPTIONS_DIR))
    assert "<code>claims.csv</code> has no rows: no claim had a paired unit." in answer
    assert "No rows (columns: claim, method" in raw
    with pytest.raises(ValueError, match=r"no caption for \['extra\.csv'\]"):
        results_page([*files, tmp_path / "extra.csv"], CAPTIONS_DIR)
