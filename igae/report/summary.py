"""The README's results section, generated from ``results/tables/*.csv`` (never copied by hand).

:func:`results_markdown` turns the tables :mod:`igae.report.tables` (and :mod:`igae.report.claims`, when present) wrote
into one Markdown section: the run it came from (date, machine, wall time, config and AE hashes, package versions), AE
reconstruction, decoded-RGB novel-view PSNR per method and autoencoder, the claims' verdicts, speed, the fits that did
not converge and the ablation. :func:`update_readme` puts it between the marker lines of README.md::

    <!-- results:begin -->
    ...generated...
    <!-- results:end -->

:func:`headline_markdown` is the short version the README opens with (the claims, one row per claim and method), put
between ``<!-- headline:begin -->`` and ``<!-- headline:end -->``. ``igae summary --tables results/tables --readme
docs/results.md --headline README.md`` writes both.

The novel-view and claims sections are made as data first (:func:`nvs_summary`, :func:`claims_summary`: a
:class:`Section`), which the results page (:mod:`igae.report.results_page`) renders as HTML: the page and the summary
show the same numbers.
"""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from igae.report.claims import interval_label, verdict_rule

BLOCKS = ("results", "headline")
"""Generated blocks a Markdown file may hold: the whole results section (docs/results.md) and the README's headline."""


def block_markers(block: str) -> tuple[str, str]:
    """The lines that open and close a generated ``block`` (:data:`BLOCKS`): ``<!-- results:begin -->``, ..."""
    if block not in BLOCKS:
        raise ValueError(f"block = {block!r} is not one of {', '.join(BLOCKS)}")
    return f"<!-- {block}:begin -->", f"<!-- {block}:end -->"


BEGIN_MARKER, END_MARKER = block_markers("results")
"""The marker lines of the results section (docs/results.md)."""

REQUIRED_COLUMNS = {  # the tables of igae.layout.OUTPUTS the summary reads, by name, and the columns it reads
    "ae_reconstruction": ["autoencoder", "data", "psnr", "ssim", "n_images"],
    "latent_nvs": ["method", "dataset", "scene", "space", "autoencoder", "psnr", "latent_rel_mse", "note"],
    "timing": ["method", "train_speedup", "render_speedup", "latent_decode_ms", "iterations", "rgb_iterations"],
    "ablation": ["method", "dataset", "autoencoder", "role", "n_scenes", "psnr", "psnr_std", "ssim"],
    "claims": ["claim", "method", "estimate", "ci_low", "ci_high", "n", "verdict"],
}
OPTIONAL_TABLES = ("ablation", "claims")
"""Tables a summary does without (older runs have no claims.csv)."""

SHA_PREFIX = 12
"""Hex digits of an autoencoder's sha256 shown in the run line."""


# ---- reading -------------------------------------------------------------------------------------------------------


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """One table (``latent_nvs.csv``, ...; its stem names it in :data:`REQUIRED_COLUMNS`), checked for its columns.

    Raises naming the file when it is empty or lacks a column the summary reads.
    """
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype={"config_hash": str, "ae_sha256": str, "autoencoder": str})
    except pd.errors.EmptyDataError as error:
        raise ValueError(f"{path} is empty; rewrite the tables (igae tables)") from error
    missing = [column for column in REQUIRED_COLUMNS[path.stem] if column not in table.columns]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {', '.join(missing)}; rewrite the tables (igae tables)")
    return table


def read_tables(tables_dir: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """The CSVs of ``tables_dir`` by name; an absent optional table is an empty frame. Raises naming the file."""
    folder = Path(tables_dir)
    tables = {}
    for name, columns in REQUIRED_COLUMNS.items():
        path = folder / f"{name}.csv"
        if not path.is_file():
            if name in OPTIONAL_TABLES:
                tables[name] = pd.DataFrame(columns=columns)
                continue
            raise FileNotFoundError(f"{path} does not exist; write the tables first (igae tables, or the workflow)")
        tables[name] = read_table(path)
    return tables


def _text(value: Any) -> str:
    """A CSV cell as text: '' for an empty (NaN) cell."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return str(value)


def _flag(value: Any) -> bool | None:
    """A True/False CSV cell (bool, or its text) as a bool; None when empty or unreadable."""
    if isinstance(value, bool):
        return value
    text = _text(value).strip().lower()
    return {"true": True, "1": True, "1.0": True, "false": False, "0": False, "0.0": False}.get(text)


# ---- formatting ----------------------------------------------------------------------------------------------------


def _fixed(value: Any, digits: int, sign: bool = False) -> str:
    """``value`` with ``digits`` decimals ('—' when empty); ``sign``: always show + or -."""
    number = pd.to_numeric(value, errors="coerce")
    if pd.isna(number):
        return "—"
    return f"{number:+.{digits}f}" if sign else f"{number:.{digits}f}"


def _same_decimals(values: Sequence[Any], figures: int = 3) -> list[str]:
    """The values with the same decimals, ``figures`` significant digits for the largest: 1.10 [0.60, 1.50]."""
    numbers = [pd.to_numeric(value, errors="coerce") for value in values]
    largest = max((abs(n) for n in numbers if not pd.isna(n)), default=0.0)
    digits = max(0, figures - 1 - math.floor(math.log10(largest))) if largest > 0 else 0
    return [_fixed(number, digits) for number in numbers]


def _mean_std(values: pd.Series, digits: int = 2) -> str:
    """'18.00 ± 0.54' over the values (sample std, ddof 1); just the mean for one value; '—' for none."""
    values = pd.to_numeric(values, errors="coerce").dropna()
    if values.empty:
        return "—"
    if len(values) == 1:
        return _fixed(values.iloc[0], digits)
    return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table (cells' '|' escaped)."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"

    return "\n".join([line(header), "|" + "---|" * len(header), *(line(row) for row in rows)])


def _p(value: Any) -> str:
    """A p-value with 2 significant digits ('0.031'), '< 0.001' below that, '—' when empty."""
    number = pd.to_numeric(value, errors="coerce")
    if pd.isna(number):
        return "—"
    return "< 0.001" if number < 0.001 else f"{number:.2g}"


def _unique(values: pd.Series) -> list[str]:
    """The distinct non-empty cells, in order of appearance."""
    return list(dict.fromkeys(text for text in map(_text, values) if text))


@dataclass(frozen=True)
class Section:
    """One section of the results as data: :meth:`markdown` writes it here, :mod:`igae.report.results_page` as HTML."""

    lead: str
    """The paragraph above the table; Markdown, inline only (`code`, **bold**)."""
    header: list[str]
    """The table's column names."""
    rows: list[list[str]]
    """The table's cells, as text (inline Markdown, as ``lead``)."""
    notes: list[str] = field(default_factory=list)
    """Lines below the table, each a bullet (inline Markdown)."""

    def markdown(self) -> list[str]:
        """The section's Markdown lines: lead, table, bullets."""
        lines = [self.lead, "", _table(self.header, self.rows)]
        if self.notes:
            lines += ["", *(f"- {note}" for note in self.notes)]
        return lines


# ---- sections ------------------------------------------------------------------------------------------------------


def _run_line(tables: dict[str, pd.DataFrame], run: dict[str, Any]) -> str:
    """Date, machine, wall time, config, config hashes, AE sha256 prefixes and package versions."""
    parts = [str(run.get("date") or date.today().isoformat())]
    wall = run.get("wall_seconds")
    if wall is not None:
        parts.append(f"{float(wall):.0f} s wall ({float(wall) / 60:.1f} min)")
    if run.get("cores"):
        parts.append(f"{run['cores']} cores")
    if run.get("machine"):
        parts.append(str(run["machine"]))
    if run.get("config"):
        parts.append(f"config `{run['config']}`")
    frames = [table for table in tables.values() if not table.empty]
    hashes = list(dict.fromkeys(h for t in frames if "config_hash" in t for h in _unique(t["config_hash"])))
    if hashes:
        parts.append("config_hash " + ", ".join(f"`{h}`" for h in hashes))
    ae_hashes: dict[str, list[str]] = {}
    for table in frames:
        if {"autoencoder", "ae_sha256"} <= set(table.columns):
            for ae, sha in zip(map(_text, table["autoencoder"]), map(_text, table["ae_sha256"]), strict=True):
                if ae and sha and sha[:SHA_PREFIX] not in ae_hashes.setdefault(ae, []):
                    ae_hashes[ae].append(sha[:SHA_PREFIX])
    if ae_hashes:
        parts.append(
            "AE sha256 " + ", ".join(f"{ae} " + " / ".join(f"`{h}`" for h in shas) for ae, shas in ae_hashes.items())
        )
    versions: dict[str, list[str]] = {}
    for table in frames:
        for cell in _unique(table["versions"]) if "versions" in table else []:
            for item in cell.split(";"):
                package, _, version = item.partition("=")
                if package and version not in versions.setdefault(package, []):
                    versions[package].append(version)
    if versions:
        parts.append(", ".join(f"{package} {' / '.join(found)}" for package, found in versions.items()))
    return "**Run**: " + " · ".join(parts)


def _ae_section(ae: pd.DataFrame) -> list[str]:
    datas = _unique(ae["data"])
    with_lpips = ae["lpips"].notna().any() if "lpips" in ae else False
    metrics = [("PSNR", "psnr", 2), ("SSIM", "ssim", 3)] + ([("LPIPS", "lpips", 3)] if with_lpips else [])
    header = ["autoencoder"] + [f"{data} {label}" for data in datas for label, _, _ in metrics]
    rows = []
    for name in _unique(ae["autoencoder"]):
        cells = [name]
        for data in datas:
            row = ae[(ae["autoencoder"].map(_text) == name) & (ae["data"] == data)]
            cells += [_fixed(row[column].mean(), digits) if len(row) else "—" for _, column, digits in metrics]
        rows.append(cells)
    counts = ", ".join(f"{data} {int(ae.loc[ae['data'] == data, 'n_images'].max())}" for data in datas)
    lines = ["**Autoencoder reconstruction** (`ae_reconstruction.csv`; D(E(x)) vs x on test images: " + counts + ")"]
    if not with_lpips and "lpips_reason" in ae and _unique(ae["lpips_reason"]):
        lines[0] += f"; LPIPS not reported: {_unique(ae['lpips_reason'])[0]}"
    return [*lines, "", _table(header, rows)]


def ablation_variants(ablation: pd.DataFrame) -> list[str]:
    """The ablation's variant autoencoders (``role`` variant): rows of the ablation, not columns of the NVS table."""
    return _unique(ablation.loc[ablation["role"] == "variant", "autoencoder"]) if not ablation.empty else []


def nvs_summary(nvs: pd.DataFrame, variants: Sequence[str] = ()) -> Section:
    """Decoded-RGB PSNR, mean ± sample std over scenes (and seeds), per (method, dataset) and AE or RGB.

    ``nvs``: latent_nvs.csv; ``variants``: autoencoders left out of the columns (:func:`ablation_variants`). The
    skipped methods are the notes.
    """
    notes = nvs["note"].map(_text)
    fits = nvs[notes == ""].copy()
    fits["column"] = [
        "RGB" if space == "rgb" else _text(ae) for space, ae in zip(fits["space"], fits["autoencoder"], strict=True)
    ]
    columns = [c for c in _unique(fits.loc[fits["space"] == "latent", "column"]) if c not in variants]
    columns += ["RGB"] if (fits["space"] == "rgb").any() else []
    has_converged = "converged" in fits and fits["converged"].notna().any()
    if has_converged:
        fits["converged_flag"] = fits["converged"].map(_flag)
    fits["failed"] = fits["status"].map(_text).eq("failed") if "status" in fits else False
    header = ["method", "dataset", "scenes", *columns]
    latent_columns = [c for c in columns if c != "RGB"]
    if latent_columns:
        header.append("latent rel. MSE " + " / ".join(latent_columns))
    rows = []
    for (method, dataset), group in fits.groupby(["method", "dataset"], sort=False):
        cells = [str(method), str(dataset), str(group["scene"].nunique())]
        for column in columns:
            part = group[group["column"] == column]
            cell = _mean_std(part.loc[~part["failed"], "psnr"])
            counts = []
            if has_converged and len(part):
                known = part["converged_flag"].dropna()
                if len(known):
                    counts.append(f"{int(known.sum())}/{len(known)}")
            if part["failed"].any():
                counts.append(f"**{int(part['failed'].sum())} failed**")
            cells.append(cell + (f" ({', '.join(counts)})" if counts else ""))
        group = group[~group["failed"]]
        if latent_columns:
            rel_mse = [group.loc[group["column"] == column, "latent_rel_mse"].mean() for column in latent_columns]
            cells.append(" / ".join(_fixed(value, 3) for value in rel_mse))
        rows.append(cells)
    seeds = fits["seed"].nunique() if "seed" in fits else 0
    over = "the fits (scenes × seeds)" if seeds > 1 else "scenes"
    lead = f"**Novel views** (`latent_nvs.csv`): decoded-RGB PSNR (dB) on the eval views, mean ± std over {over} "
    lead += "(sample std)"
    if has_converged:
        lead += (
            "; (c/n): c of the n fits converged (over the second half of its last stage, the trend of the convergence "
            "curve changes by < 0.3 dB)"
        )
    if fits["failed"].any():
        lead += (
            "; **failed**: fits whose eval PSNR is below their scene's floor (what its mean train image or its white "
            "background score: no better than ignoring the camera), left out of the means"
        )
    if "seed" in fits and _unique(fits["seed"]):
        lead += "; seeds " if seeds > 1 else "; seed "
        lead += ", ".join(_unique(fits["seed"].map(lambda s: _fixed(s, 0))))
    lead += ". Latent rel. MSE: rendered vs encoded latents of the eval views over their variance (3D consistency)."
    skipped = nvs[notes != ""]
    bullets = [
        f"`{method}`: skipped: {note.removeprefix('skipped:').strip()}"
        for method, note in zip(skipped["method"], skipped["note"].map(_text), strict=True)
    ]
    return Section(lead, header, rows, bullets)


def claims_summary(claims: pd.DataFrame, compact: bool = False) -> Section:
    """claims.csv as one row per (claim, method): estimate [interval], one-sided p, n, verdict (and its note).

    The interval's confidence and kind come from the table (``90 % BCa``); the lead says how verdicts are decided.
    ``compact`` (the results page): no ``statistic`` column; each claim's bullet says what its estimate is instead.
    """
    label = interval_label(claims)
    header = ["claim", "method", *([] if compact else ["statistic"])]
    header += [f"estimate [{label} CI]" if label else "estimate [CI]", "p", "n", "verdict"]
    rows = []
    for _, row in claims.iterrows():
        verdict = _text(row["verdict"])
        note = _text(row.get("note"))
        p_cell = _p(row.get("p_value"))
        if verdict == "fails":  # the p of the direction it failed in
            p_cell += f"; opposite {_p(row.get('p_opposite'))}"
        rows.append(
            [
                _text(row["claim"]),
                _text(row["method"]) or "all",
                *([] if compact else [_text(row.get("statistic"))]),
                "{} [{}, {}]".format(*_same_decimals([row["estimate"], row["ci_low"], row["ci_high"]])),
                p_cell,
                _fixed(row["n"], 0),
                f"**{verdict}**" + (f" ({note})" if note else ""),
            ]
        )
    lead = "**Claims** (`claims.csv`)"
    details = []
    if label:
        details.append(f"{label} interval, p of a one-sided sign-flip test of the claimed direction")
    if "n_boot" in claims and _unique(claims["n_boot"]):
        details.append("bootstrap " + ", ".join(_unique(claims["n_boot"].map(lambda v: _fixed(v, 0)))) + " resamples")
    if "bootstrap_seed" in claims and _unique(claims["bootstrap_seed"]):
        details.append("seed " + ", ".join(_unique(claims["bootstrap_seed"].map(lambda v: _fixed(v, 0)))))
    if details:
        lead += ": " + ", ".join(details)
    lead += "."
    if label:  # a table of the current igae.report.claims: its verdict rule
        lead += " " + verdict_rule(label)
    bullets = []
    for _, row in claims.drop_duplicates("claim").iterrows():
        statement, statistic = _text(row.get("statement")), _text(row.get("statistic"))
        if statement:
            estimate = f" Estimate: {statistic}." if compact and statistic else ""
            bullets.append(f"`{_text(row['claim'])}`: {statement}{estimate}")
    return Section(lead, header, rows, bullets)


def _speed_section(timing: pd.DataFrame) -> list[str]:
    def median_range(values: pd.Series) -> str:
        values = pd.to_numeric(values, errors="coerce").dropna()
        if values.empty:
            return "—"
        if len(values) == 1 or values.min() == values.max():
            return f"{values.median():.1f}×"
        return f"{values.median():.1f}× ({values.min():.1f}–{values.max():.1f})"

    header = [
        "method", "latent fits", "steps latent / RGB", "train speed-up at equal PSNR", "per step", "whole fits",
        "render speed-up", "decode ms/view",
    ]  # fmt: skip
    rows = []
    for method, group in timing.groupby("method", sort=False):
        rows.append(
            [
                str(method),
                str(len(group)),
                f"{_fixed(group['iterations'].median(), 0)} / {_fixed(group['rgb_iterations'].median(), 0)}",
                median_range(group.get("train_speedup_at_quality", pd.Series(dtype=float))),
                median_range(group.get("step_speedup", pd.Series(dtype=float))),
                median_range(group["train_speedup"]),
                median_range(group["render_speedup"]),
                _fixed(group["latent_decode_ms"].median(), 1),
            ]
        )
    lead = (
        "**Speed** (`timing.csv`): RGB time over latent time on the same scene and machine, median (min–max) over "
        "the latent fits. Training: to the PSNR both fits reach (what `latent_trains_faster` tests), per step, and "
        "whole fits (which may stop at different steps for different reasons); render includes decoding."
    )
    return [lead, "", _table(header, rows)]


def _fit_label(row: pd.Series) -> str:
    return "RGB" if row["space"] == "rgb" else f"latent / {_text(row['autoencoder'])}"


def _steps_range(steps: pd.Series) -> str:
    """'260 (180–600)': the median and range of the steps fits ran; '—' when unknown."""
    steps = pd.to_numeric(steps, errors="coerce").dropna()
    if steps.empty:
        return "—"
    if steps.min() == steps.max():
        return f"{steps.median():.0f}"
    return f"{steps.median():.0f} ({steps.min():.0f}–{steps.max():.0f})"


def fits_summary(nvs: pd.DataFrame) -> Section | None:
    """Per method and space / AE: how many fits converged, reached their step cap, or failed (below their scene's
    floor), and the steps they ran; the fits that did not converge or failed listed below with their trend.
    None for a table without the convergence columns (older runs)."""
    fits = nvs[nvs["note"].map(_text) == ""].copy()
    if "stop_reason" not in fits or fits["stop_reason"].map(_text).eq("").all():
        return None
    fits["label"] = [_fit_label(row) for _, row in fits.iterrows()]
    fits["converged_flag"] = fits["converged"].map(_flag)
    fits["unconverged"] = fits["converged_flag"].map(lambda flag: flag is not None and not flag)
    fits["failed"] = fits["status"].map(_text).eq("failed")
    header = ["method", "space / AE", "fits", "converged", "stopped at cap", "failed", "steps: median (range)", "cap"]
    rows = []
    for (method, label), group in fits.groupby(["method", "label"], sort=False):
        rows.append(
            [
                _text(method),
                label,
                str(len(group)),
                str(int((group["converged_flag"] == True).sum())),  # noqa: E712 (element-wise)
                str(int(group["stop_reason"].map(_text).eq("cap").sum())),
                str(int(group["failed"].sum())),
                _steps_range(group["steps"]),
                " / ".join(_unique(group["step_cap"].map(lambda v: _fixed(v, 0)))),
            ]
        )
    converged = int((fits["converged_flag"] == True).sum())  # noqa: E712
    lead = (
        f"**Fits** (`latent_nvs.csv`): {converged} of {len(fits)} converged (over the second half of the last stage, "
        "the trend of the convergence curve changes by < 0.3 dB), "
        f"{int(fits['failed'].sum())} failed (eval PSNR below the scene's floor). Adaptive fits stop at the first "
        "probe where they converged, else at their cap; a latent fit's steps include its fixed stage 1."
    )
    notes = [
        f"`{_text(row['method'])}` {_text(row['dataset'])}/{_text(row['scene'])} seed {_fixed(row.get('seed'), 0)}, "
        f"{row['label']}: "
        + (
            f"**failed**, {_fixed(row['psnr'], 2)} dB < floor {_fixed(row.get('floor_psnr'), 2)} dB; "
            if row["failed"]
            else ""
        )
        + ("not converged" if row["unconverged"] else "converged")
        + f" (trend {_fixed(row.get('curve_delta_db'), 2, sign=True)} dB, {_fixed(row.get('steps'), 0)} steps, "
        f"stopped: {_text(row.get('stop_reason'))})"
        for _, row in fits.iterrows()
        if row["failed"] or row["unconverged"]
    ]
    return Section(lead, header, rows, notes)


def _ablation_section(ablation: pd.DataFrame) -> list[str]:
    header = ["method", "dataset", "autoencoder", "role", "scenes", "PSNR", "SSIM", "latent rel. MSE", "AE PSNR"]
    rows = [
        [
            _text(row["method"]),
            _text(row["dataset"]),
            _text(row["autoencoder"]),
            _text(row["role"]),
            _fixed(row["n_scenes"], 0) + (f" (**{row['n_failed']:.0f} failed**)" if row.get("n_failed", 0) > 0 else ""),
            _fixed(row["psnr"], 2) + ("" if pd.isna(row["psnr_std"]) else f" ± {row['psnr_std']:.2f}"),
            _fixed(row["ssim"], 3),
            _fixed(row.get("latent_rel_mse"), 3),
            _fixed(row.get("ae_psnr"), 2),
        ]
        for _, row in ablation.iterrows()
    ]
    lead = (
        "**Ablation** (`ablation.csv`): each variant beside the main autoencoders, mean (± std) over scenes; failed "
        "fits left out and counted."
    )
    return [lead, "", _table(header, rows)]


def results_markdown(tables_dir: str | os.PathLike, run: dict[str, Any] | None = None) -> str:
    """The results section, made only from the CSVs in ``tables_dir`` (``results/tables/``).

    ``run`` describes the run they came from: ``date`` (default today), ``wall_seconds``, ``cores``, ``machine``,
    ``config`` (all optional). Sections whose table or columns are absent (claims.csv, the convergence columns of
    older tables) are left out.
    """
    tables = read_tables(tables_dir)
    folder = Path(tables_dir).resolve()
    source = f"{folder.parent.name}/{folder.name}"
    nvs, ablation = tables["latent_nvs"], tables["ablation"]
    variants = ablation_variants(ablation)
    sections = [
        [
            f"_Generated by `igae summary` from `{source}/*.csv`: do not edit by hand, regenerate it "
            "(`igae summary --tables results/tables --readme docs/results.md`)._",
            "",
            _run_line(tables, run or {}),
        ],
    ]
    if not tables["ae_reconstruction"].empty:
        sections.append(_ae_section(tables["ae_reconstruction"]))
    sections.append(nvs_summary(nvs, variants).markdown())
    if not tables["claims"].empty:
        sections.append(claims_summary(tables["claims"]).markdown())
    if not tables["timing"].empty:
        sections.append(_speed_section(tables["timing"]))
    fits = fits_summary(nvs)
    if fits is not None:
        sections.append(fits.markdown())
    if not ablation.empty:
        sections.append(_ablation_section(ablation))
    return "\n\n".join("\n".join(lines) for lines in sections if lines) + "\n"


def headline_markdown(tables_dir: str | os.PathLike, run: dict[str, Any] | None = None) -> str:
    """The README's headline: the claims of ``claims.csv`` (compact: claim, method, estimate [interval], p, n,
    verdict) under one line saying which run they came from. Without claims.csv, the decoded-PSNR table instead."""
    tables = read_tables(tables_dir)
    run = run or {}
    when = [str(run.get("date") or date.today().isoformat())]
    if run.get("wall_seconds") is not None:
        when.append(f"{float(run['wall_seconds']) / 60:.0f} min wall")
    when += [str(run[key]) for key in ("machine",) if run.get(key)]
    scenes = tables["latent_nvs"]["scene"].nunique() if not tables["latent_nvs"].empty else 0
    lead = f"_Generated by `igae summary` ({' · '.join(when)}; {scenes} held-out scenes)._"
    if tables["claims"].empty:
        section = nvs_summary(tables["latent_nvs"], ablation_variants(tables["ablation"]))
    else:
        section = claims_summary(tables["claims"], compact=True)
    return "\n".join([lead, "", *section.markdown()]) + "\n"


def this_machine() -> dict[str, Any]:
    """``{"cores": 2, "machine": "AMD EPYC 7B13, x86_64"}`` (+ the GPU's name when CUDA is available)."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    machine = ", ".join(part for part in (model or platform.processor(), platform.machine()) if part)
    import torch

    if torch.cuda.is_available():
        machine += f", GPU {torch.cuda.get_device_name(0)}"
    else:
        machine += ", no GPU"
    return {"cores": os.cpu_count(), "machine": machine}


def update_readme(readme_path: str | os.PathLike, markdown: str, block: str = "results") -> bool:
    """Replace what lies between the marker lines of ``block`` in ``readme_path`` with ``markdown``; True when the
    file changed.

    The markers (``<!-- results:begin -->``, ``<!-- results:end -->`` for the block ``results``; ``headline`` likewise)
    each stand on a line of their own, once, begin before end; otherwise a ValueError names the file and the
    markers. Written atomically.
    """
    from igae.files import atomic_write_text

    begin_marker, end_marker = block_markers(block)
    path = Path(readme_path)
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    begins = [i for i, line in enumerate(lines) if line.strip() == begin_marker]
    ends = [i for i, line in enumerate(lines) if line.strip() == end_marker]
    if len(begins) != 1 or len(ends) != 1 or begins[0] > ends[0]:
        found = f"found {len(begins)} and {len(ends)}"
        if begins and ends and begins[0] > ends[0]:
            found += ", end before begin"
        raise ValueError(
            f"{path}: needs the line {begin_marker} and, after it, the line {end_marker}, each once ({found}); "
            "put them where the generated results go"
        )
    begin, end = begins[0], ends[0]
    updated = "".join([*lines[: begin + 1], "\n", markdown.strip("\n") + "\n", "\n", *lines[end:]])
    if updated == text:
        return False
    atomic_write_text(path, updated)
    return True
