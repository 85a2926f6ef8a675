"""The paper's claims, tested: one row per claim and method, with a 95 % paired bootstrap interval and a verdict.

Units. A claim compares two runs that differ only in what the claim is about: the same method on the same
(dataset, scene, seed), with two autoencoders (IG-AE vs standard AE, IG-AE vs control) or in two spaces (latent vs RGB,
the IG-AE's latent run). Each such pair is one *unit* and gives one paired value (:func:`paired_units`):

- a **difference** ``a - b`` (decoded PSNR in dB, latent relative MSE): the statistic is the mean over units;
- a **ratio** ``RGB time / latent time``: the statistic is the geometric mean over units, ``exp(mean(log r))``, so
  that a 2x speed-up on one scene and a 0.5x one on another average to 1x, not 1.25x.

Interval. Percentile bootstrap over units (:func:`bootstrap_interval`): draw ``n`` units with replacement ``n_boot``
times (default 10,000), take the statistic of each draw, and report the 2.5th and 97.5th percentiles. Ratios are
resampled on the log scale and exponentiated. Resampling whole units keeps each pair together (a *paired* bootstrap:
scene difficulty cancels within a pair). Units are sorted by (dataset, scene, seed) and every row draws from
``numpy.random.default_rng(bootstrap_seed)``, so the same input gives the same interval, and any row can be
reproduced from its ``bootstrap_seed`` alone.

Verdict. Every claim says the statistic lies above its null (0 for a difference, 1 for a ratio): ``holds`` when the
interval lies above the null, ``fails`` when it lies below, ``inconclusive`` when it contains it. With fewer than
:data:`MIN_UNITS` units a percentile interval means nothing: the row keeps its estimate, the interval is left empty
and the verdict is ``inconclusive``, with a ``note`` saying why. A method with no unit for a claim gets no row.

Inputs: ``latent_nvs.csv`` and ``timing.csv`` of :mod:`igae.tables` (a table without a ``seed`` column counts as one
seed, 0). Rows with a ``note`` (methods skipped on this machine) carry no metrics and are ignored. Which autoencoder
plays which role (``standard``, ``igae``, ``control``) comes from the config: :func:`igae.workflow_config.claim_roles`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from igae.provenance import atomic_write_text

N_BOOT = 10_000
"""Bootstrap resamples per row."""
BOOTSTRAP_SEED = 0
"""Seed of ``numpy.random.default_rng`` for every row's resamples."""
MIN_UNITS = 3
"""Fewest paired units for which an interval is reported."""
CONFIDENCE = 0.95

UNIT_KEY = ["dataset", "scene", "seed"]
UNIT_COLUMNS = ["claim", "method", *UNIT_KEY, "value", "config_hash", "ae_sha256", "versions"]
CLAIMS_COLUMNS = [
    "claim", "method", "statement", "statistic", "null", "estimate", "ci_low", "ci_high", "n", "verdict", "n_boot",
    "bootstrap_seed", "datasets", "config_hash", "ae_sha256", "versions", "note",
]  # fmt: skip


@dataclass(frozen=True)
class Claim:
    """One claim of the paper: how its paired value is made, and what it asserts about the value's statistic."""

    id: str
    roles: tuple[str, ...]
    """The autoencoder roles it compares (see :func:`igae.workflow_config.claim_roles`); a missing role: no rows."""
    ratio: bool
    """True: the value is a ratio (geometric mean, null 1). False: a difference (mean, null 0)."""
    statement: str
    """A sentence; ``{standard}``, ``{igae}``, ``{control}`` become the autoencoders' names."""
    statistic: str
    """What ``estimate`` is, with its unit; same placeholders."""

    @property
    def null(self) -> float:
        return 1.0 if self.ratio else 0.0

    def fill(self, text: str, roles: Mapping[str, str | None]) -> str:
        return text.format(**{role: name or role for role, name in roles.items()})


CLAIMS: dict[str, Claim] = {
    claim.id: claim
    for claim in (
        Claim(
            "igae_beats_standard",
            ("igae", "standard"),
            False,
            "Latent NeRFs fitted with the IG-AE ({igae}) give better decoded novel views than with the standard AE "
            "({standard}).",
            "mean paired difference of decoded PSNR on the eval views, {igae} - {standard} (dB)",
        ),
        Claim(
            "gain_from_3d_terms",
            ("igae", "control"),
            False,
            "The IG-AE's gain comes from its 3D loss terms: it beats the compute-matched control ({control}) trained "
            "with them off.",
            "mean paired difference of decoded PSNR on the eval views, {igae} - {control} (dB)",
        ),
        Claim(
            "latent_trains_faster",
            ("igae",),
            True,
            "A latent NeRF ({igae}) trains faster than the same method in RGB.",
            "geometric mean of RGB train seconds / latent train seconds, same scene and seed (x)",
        ),
        Claim(
            "latent_renders_faster",
            ("igae",),
            True,
            "A latent NeRF ({igae}) renders a view, decoding included, faster than the same method in RGB.",
            "geometric mean of RGB render ms / (latent render ms + decode ms) per view (x)",
        ),
        Claim(
            "igae_more_3d_consistent",
            ("igae", "standard"),
            False,
            "The IG-AE's latent space is more 3D-consistent: a latent NeRF reproduces the encoded latents of "
            "held-out views better than with the standard AE.",
            "mean paired difference of latent relative MSE (rendered vs encoded latents / their variance), "
            "{standard} - {igae} (unitless)",
        ),
    )
}
"""The claims tested, in the order of claims.csv."""


def _with_seed(table: pd.DataFrame) -> pd.DataFrame:
    """A copy with an integer ``seed`` column (0 where the table has none), without the rows that carry a note."""
    table = table.copy()
    if "note" in table.columns:
        table = table[table["note"].fillna("").astype(str).str.strip() == ""]
    table["seed"] = table["seed"].fillna(0).astype(int) if "seed" in table.columns else 0
    for column in ("config_hash", "ae_sha256", "versions"):
        table[column] = table[column].fillna("").astype(str) if column in table.columns else ""
    return table


def _pairs(latent: pd.DataFrame, a: str, b: str, column: str) -> pd.DataFrame:
    """(method, dataset, scene, seed, value = column[a] - column[b], provenance) of the units both AEs ran."""
    key = ["method", *UNIT_KEY]
    left = latent[latent["autoencoder"] == a]
    right = latent[latent["autoencoder"] == b]
    try:
        merged = left.merge(right, on=key, suffixes=("_a", "_b"), validate="one_to_one")
    except pd.errors.MergeError as error:
        raise ValueError(
            f"igae.claims: latent_nvs has several rows for one (method, dataset, scene, seed) of {a} or {b}; "
            "each run must appear once"
        ) from error
    merged["value"] = merged[f"{column}_a"] - merged[f"{column}_b"]
    merged["ae_sha256"] = f"{a}:" + merged["ae_sha256_a"] + f";{b}:" + merged["ae_sha256_b"]
    for name in ("config_hash", "versions"):
        pairs = zip(merged[f"{name}_a"], merged[f"{name}_b"], strict=True)
        merged[name] = [";".join(dict.fromkeys([x, y])) for x, y in pairs]
    return merged[[*key, "value", "config_hash", "ae_sha256", "versions"]]


def _ratios(timing: pd.DataFrame, igae: str, numerator: pd.Series, denominator: pd.Series) -> pd.DataFrame:
    """(method, dataset, scene, seed, value = numerator / denominator, provenance) of the IG-AE's latent runs."""
    rows = timing.assign(value=numerator / denominator)[timing["autoencoder"] == igae].copy()
    if rows.duplicated(["method", *UNIT_KEY]).any():
        raise ValueError(f"igae.claims: timing has several rows for one (method, dataset, scene, seed) of {igae}")
    rows["ae_sha256"] = f"{igae}:" + rows["ae_sha256"]
    return rows[["method", *UNIT_KEY, "value", "config_hash", "ae_sha256", "versions"]]


def paired_units(latent_nvs: pd.DataFrame, timing: pd.DataFrame, roles: Mapping[str, str | None]) -> pd.DataFrame:
    """One row per claim, method and unit (dataset, scene, seed) with the paired value: :data:`UNIT_COLUMNS`.

    ``roles``: {"standard", "igae", "control"} -> autoencoder name or None (:func:`igae.workflow_config.claim_roles`).
    Units whose value is missing or not finite (a metric the run did not record, a ratio without its RGB partner) are
    dropped. Sorted by claim (in :data:`CLAIMS` order), method (in table order), dataset, scene, seed.
    """
    latent = _with_seed(latent_nvs)
    latent = latent[latent["space"] == "latent"]
    timing = _with_seed(timing)
    igae, standard, control = roles.get("igae"), roles.get("standard"), roles.get("control")
    parts: dict[str, pd.DataFrame] = {}
    if igae and standard:
        parts["igae_beats_standard"] = _pairs(latent, igae, standard, "psnr")
        parts["igae_more_3d_consistent"] = _pairs(latent, standard, igae, "latent_rel_mse")
    if igae and control:
        parts["gain_from_3d_terms"] = _pairs(latent, igae, control, "psnr")
    if igae:
        latent_ms = timing["latent_render_ms"] + timing["latent_decode_ms"].fillna(0.0)
        parts["latent_trains_faster"] = _ratios(timing, igae, timing["rgb_train_s"], timing["latent_train_s"])
        parts["latent_renders_faster"] = _ratios(timing, igae, timing["rgb_render_ms"], latent_ms)
    method_order = list(dict.fromkeys([*latent_nvs["method"].dropna(), *timing["method"].dropna()]))
    frames = [part.assign(claim=claim) for claim, part in parts.items() if not part.empty]
    if not frames:
        return pd.DataFrame(columns=UNIT_COLUMNS)
    units = pd.concat(frames, ignore_index=True)
    values = units["value"].astype(float)
    ratio = units["claim"].map(lambda claim: CLAIMS[claim].ratio)
    units = units[np.isfinite(values) & (~ratio | (values > 0))]
    units = units.assign(
        _claim=units["claim"].map(list(CLAIMS).index), _method=units["method"].map(method_order.index)
    ).sort_values(["_claim", "_method", *UNIT_KEY])
    return units[UNIT_COLUMNS].reset_index(drop=True)


def bootstrap_interval(
    values: np.ndarray, ratio: bool = False, n_boot: int = N_BOOT, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float, float]:
    """(estimate, ci_low, ci_high): the mean of ``values`` (geometric mean if ``ratio``) and its 95 % percentile
    bootstrap interval, resampling the values with replacement; NaN bounds for fewer than :data:`MIN_UNITS` values."""
    values = np.asarray(values, dtype=np.float64)
    sample = np.log(values) if ratio else values  # (n,)
    back = np.exp if ratio else (lambda x: x)
    estimate = float(back(sample.mean()))
    if len(sample) < MIN_UNITS:
        return estimate, math.nan, math.nan
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(sample), size=(n_boot, len(sample)))  # (n_boot, n) unit indices
    statistics = sample[draws].mean(axis=1)  # (n_boot,)
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(statistics, [tail, 100 - tail])
    return estimate, float(back(low)), float(back(high))


def verdict(ci_low: float, ci_high: float, null: float) -> str:
    """``holds`` (interval above the null, the claimed direction), ``fails`` (below) or ``inconclusive``."""
    if math.isnan(ci_low) or math.isnan(ci_high):
        return "inconclusive"
    if ci_low > null:
        return "holds"
    if ci_high < null:
        return "fails"
    return "inconclusive"


def _joined(values: pd.Series) -> str:
    """The distinct non-empty ';'-separated parts of ``values``, in order of appearance."""
    parts = (part for value in values for part in str(value).split(";") if part)
    return ";".join(dict.fromkeys(parts))


def claims_table(
    units: pd.DataFrame, roles: Mapping[str, str | None], n_boot: int = N_BOOT, seed: int = BOOTSTRAP_SEED
) -> pd.DataFrame:
    """One row per (claim, method) of ``units`` (:func:`paired_units`): :data:`CLAIMS_COLUMNS`."""
    rows = []
    for (claim_id, method), group in units.groupby(["claim", "method"], sort=False):
        claim = CLAIMS[claim_id]
        estimate, low, high = bootstrap_interval(group["value"].to_numpy(float), claim.ratio, n_boot, seed)
        n = len(group)
        rows.append(
            {
                "claim": claim_id,
                "method": method,
                "statement": claim.fill(claim.statement, roles),
                "statistic": claim.fill(claim.statistic, roles),
                "null": claim.null,
                "estimate": estimate,
                "ci_low": low,
                "ci_high": high,
                "n": n,
                "verdict": verdict(low, high, claim.null),
                "n_boot": n_boot,
                "bootstrap_seed": seed,
                "datasets": ";".join(sorted(group["dataset"].astype(str).unique())),
                "config_hash": _joined(group["config_hash"]),
                "ae_sha256": _joined(group["ae_sha256"]),
                "versions": _joined(group["versions"]),
                "note": f"only {n} paired unit(s): no interval below {MIN_UNITS}" if n < MIN_UNITS else "",
            }
        )
    return pd.DataFrame(rows, columns=CLAIMS_COLUMNS)


def write_claims(
    latent_nvs_csv: str | os.PathLike,
    timing_csv: str | os.PathLike,
    out_csv: str | os.PathLike,
    roles: Mapping[str, str | None],
    n_boot: int = N_BOOT,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write claims.csv atomically from the two tables; returns (claims table, paired units) for the figure."""
    units = paired_units(pd.read_csv(latent_nvs_csv), pd.read_csv(timing_csv), roles)
    table = claims_table(units, roles, n_boot, seed)
    atomic_write_text(Path(out_csv), table.to_csv(index=False))
    return table, units
