"""The one list of a run's tables and figures (igae.layout.OUTPUTS): each has its caption, the rule that writes it
writes it, and the results page shows one more entry with no other change. (The end-to-end run checks that a whole
run makes every one of them and that the Snakemake report lists them: tests/test_workflow.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from igae import layout
from igae.report.results_page import caption_html, results_page

REPORT = Path(__file__).resolve().parents[1] / "workflow" / "report"
RULES = Path(__file__).resolve().parents[1] / "workflow" / "rules"


def test_every_table_and_figure_has_a_caption_file_and_every_caption_file_an_entry():
    files = [entry.file for entry in layout.OUTPUTS]
    assert len(set(files)) == len(files) and all(file.endswith((".csv", ".png")) for file in files)
    assert [entry.kind for entry in layout.OUTPUTS] == sorted(entry.kind for entry in layout.OUTPUTS)[::-1]  # tables
    captions = {path.name for path in REPORT.glob("*.rst") if path.name.startswith(("table_", "figure_"))}
    assert captions == {entry.caption for entry in layout.OUTPUTS}
    assert layout.output("timing.csv").path == "results/tables/timing.csv"
    assert layout.output("claims.png").path == "results/figures/claims.png"
    with pytest.raises(KeyError, match=r"no table or figure 'timings\.csv' in igae\.layout\.OUTPUTS \(claims\.csv, "):
        layout.output("timings.csv")


def test_the_rules_of_the_entries_declare_them_through_the_list():
    """Each entry's rule exists in report.smk and takes its outputs from the list (``reported``), never a path of its
    own; rule all asks for every entry, the summary and the page."""
    text = (RULES / "report.smk").read_text()
    bodies = dict(re.findall(r"^rule (\w+):\n(.*?)(?=^rule |\Z)", text, flags=re.M | re.S))
    for entry in layout.OUTPUTS:
        body = bodies[entry.rule]
        assert f'reported("{entry.file}")' in body or 'layout.written_by("tables")' in body, entry
    assert "results/tables" not in text and "results/figures" not in text
    assert layout.final_outputs()[-2:] == [layout.SUMMARY, layout.RESULTS_PAGE]
    assert layout.final_outputs()[:-2] == [entry.path for entry in layout.OUTPUTS]


def test_a_new_figure_is_one_entry_and_its_caption(tmp_path, monkeypatch):
    """An entry added to the list (and its caption file) gets its section on the results page, under its title and
    caption, with no change to the page's code; a file not in the list is refused."""
    captions = tmp_path / "report"
    captions.mkdir()
    for path in REPORT.glob("*.rst"):
        (captions / path.name).write_text(path.read_text())
    (captions / "figure_depth.rst").write_text("**Depth.** The expected depth of each eval view.\n")
    new = layout.Output("depth.png", "Depth maps", rule="figure_depth", category="Figures")
    monkeypatch.setattr(layout, "OUTPUTS", (*layout.OUTPUTS, new))
    png = tmp_path / "depth.png"
    Image.new("RGB", (8, 8), (10, 20, 30)).save(png)

    page = results_page([png], captions)
    section = page.split('<section id="depth-png">')[1]
    assert section.startswith("<h2>Depth maps ") and caption_html(captions / "figure_depth.rst") in section
    assert "data:image/png;base64," in section and '<a href="#depth-png">Depth maps</a>' in page
    assert "Not in this run: <code>claims.csv</code>" in page
    with pytest.raises(ValueError, match=r"no caption for \['mask\.png'\]"):
        results_page([png, tmp_path / "mask.png"], captions)


def test_the_summary_reads_tables_of_the_list_and_the_docs_describe_every_entry():
    from igae.report.summary import REQUIRED_COLUMNS

    assert set(REQUIRED_COLUMNS) <= {entry.name for entry in layout.tables()}
    outputs_page = (REPORT.parents[1] / "docs" / "outputs.md").read_text()
    described = set(re.findall(r"^- `(\w+\.(?:csv|png))`", outputs_page, flags=re.M))
    assert described == {entry.file for entry in layout.OUTPUTS}, "docs/outputs.md: one bullet per table and figure"
