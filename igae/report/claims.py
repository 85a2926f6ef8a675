"""The paper's claims, tested: per claim and method, a 90 % BCa interval, a sign-flip p-value and a verdict.

Units. A claim compares two runs that differ only in what the claim is about: the same method on the same
(dataset, scene, seed), with two autoencoders (IG-AE vs standard AE, IG-AE vs control) or in two spaces (latent vs RGB,
the IG-AE's latent run). Each such pair is one *unit* and gives one paired value (:func:`paired_units`):

- a **difference** ``a - b`` (decoded PSNR in dB, latent relative MSE): the statistic is the mean over units, null 0;
- a **ratio** ``RGB time / latent time``: the statistic is the geometric mean over units, ``exp(mean(log r))``, null 1,
  so that a 2x speed-up on one scene and a 0.5x one on another average to 1x, not 1.25x.

Ratios are analysed on the log scale (null log 1 = 0) and the interval's bounds exponentiated; differences as they are.

Interval. Bias-corrected and accelerated (BCa) bootstrap, :func:`scipy.stats.bootstrap` with ``method="BCa"``, over
the one sample of per-unit paired values (resampling whole units keeps each pair together, a *paired* bootstrap: scene
difficulty cancels within a pair), :data:`N_BOOT` resamples, two-sided at :data:`CONFIDENCE` = 90 %. Every claim is
one-sided (the statistic lies *above* its null), so the interval's lower bound is a one-sided 95 % bound: a claim is
tested at 5 %. BCa, not the percentile interval: with 5 to 10 units the percentile interval is too narrow and ignores
the skew of the bootstrap distribution; BCa corrects its bias (z0) and skew (the jackknife acceleration). No interval
is reported below :data:`MIN_UNITS` units. When all values are equal, BCa is undefined (every resample gives the same
statistic): the interval is that value, and the ``note`` says so.

Test. A one-sided sign-flip permutation test, :func:`scipy.stats.permutation_test` with ``permutation_type="samples"``
on the one sample of paired values minus the null (log ratios for a ratio claim): under "no effect" each paired value
is as likely to have either sign, so the null distribution of the mean is that of every sign flip of the values.
Exact (all 2^n flips) for n <= :data:`EXACT_MAX_UNITS`, Monte-Carlo with :data:`N_PERMUTATIONS` random flips above.
``p_value`` is the p for the claimed direction (statistic above the null), ``p_opposite`` for the other one. The
smallest exact p is 2^-n, so below 5 units no p can reach 0.05: 1/16 at n = 4.

Verdict (:func:`verdict`). ``holds`` needs n >= :data:`MIN_UNITS`, the interval entirely above the null and
``p_value`` < :data:`ALPHA`; ``fails`` needs n >= :data:`MIN_UNITS`, the interval entirely below the null and
``p_opposite`` < :data:`ALPHA`; anything else is ``inconclusive``, with a ``note`` saying why (too few units, the
interval contains the null, or the p-value is too large). A method with no unit for a claim gets no row.

Reproducible. Units are sorted by (dataset, scene, seed); every row's bootstrap and (Monte-Carlo) permutations draw from
their own ``numpy.random.default_rng(bootstrap_seed)``, so the same input gives the same table, and any row can be
reproduced from its ``bootstrap_seed`` alone.

Inputs: ``latent_nvs.csv`` and ``timing.csv`` of :mod:`igae.report.tables` (a table without a ``seed`` column counts as
one seed, 0). Rows with a ``note`` (methods skipped on this machine) carry no metrics and are ignored. Which autoencoder
plays which role (``standard``, ``igae``, ``control``) comes from the config: :func:`igae.config.claim_roles`.
This module does not import torch (``igae.provenance`` is imported where a file is written), so the summary and the
results page can read :func:`verdict_rule` from it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from igae.files import atomic_write_text

N_BOOT = 10_000
"""Bootstrap resamples per row."""
BOOTSTRAP_SEED = 0
"""Seed of ``numpy.random.default_rng`` for every row's bootstrap resamples and Monte-Carlo sign flips."""
CONFIDENCE = 0.90
"""Two-sided confidence of the interval: its lower bound is a one-sided 95 % bound, the level of a one-sided claim."""
INTERVAL = "BCa"
"""The interval's kind, as claims.csv, the forest plot and the summary name it."""
ALPHA = 0.05
"""One-sided level of the sign-flip test: a verdict needs p below it."""
MIN_UNITS = 5
"""Fewest paired units for an interval and a verdict: the smallest exact sign-flip p is 2^-n, 1/32 < 0.05 at n = 5."""
EXACT_MAX_UNITS = 16
"""Up to this many units the sign-flip test enumerates all 2^n flips (65,536 at 16); above it, Monte-Carlo."""
N_PERMUTATIONS = 9_999
"""Random sign flips of the Monte-Carlo test (p = (count + 1) / (9,999 + 1): never 0)."""
UNIT_KEY = ["dataset", "scene", "seed"]
UNIT_COLUMNS = [
    "claim", "method", *UNIT_KEY, "value", "failed", "excluded", "stopped", "config_hash", "ae_sha256", "versions",
]  # fmt: skip
CLAIMS_COLUMNS = [
    "claim", "method", "statement", "statistic", "null", "estimate", "ci_low", "ci_high", "interval", "confidence",
    "p_value", "p_opposite", "test", "n", "n_excluded", "verdict", "n_boot", "bootstrap_seed", "datasets",
    "config_hash", "ae_sha256", "versions", "note",
]  # fmt: skip


@dataclass(frozen=True)
class Claim:
    """One claim of the paper: how its paired value is made, and what it asserts about the value's statistic."""

    id: str
    roles: tuple[str, ...]
    """The autoencoder roles it compares (see :func:`igae.config.claim_roles`); a missing role: no rows."""
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
            "geometric mean of RGB / latent training seconds to reach the PSNR both reach (the lower final PSNR of "
            "the two), same scene and seed (x)",
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
    """A copy with an integer ``seed`` column (0 where the table has none), without the rows that carry a note, and
    every status column (``status``, ``latent_status``, ``rgb_status``) filled (``ok`` where the table has none)."""
    table = table.copy()
    if "note" in table.columns:
        table = table[table["note"].fillna("").astype(str).str.strip() == ""]
    table["seed"] = table["seed"].fillna(0).astype(int) if "seed" in table.columns else 0
    for column in ("status", "latent_status", "rgb_status"):
        table[column] = table[column].fillna("ok").astype(str) if column in table.columns else "ok"
    for column in ("stop_reason", "latent_stop_reason", "rgb_stop_reason"):
        table[column] = table[column].fillna("").astype(str) if column in table.columns else ""
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
            f"igae.report.claims: latent_nvs has several rows for one (method, dataset, scene, seed) of {a} or {b}; "
            "each run must appear once"
        ) from error
    merged["value"] = merged[f"{column}_a"] - merged[f"{column}_b"]
    # both fits share every NeRF setting: a failed fit is its autoencoder's outcome, what the claim compares: kept
    merged["failed"] = _failed(merged["status_a"], f"latent {a}", merged["status_b"], f"latent {b}")
    merged["excluded"] = ""
    merged["stopped"] = merged["stop_reason_a"] + "/" + merged["stop_reason_b"]
    merged["ae_sha256"] = f"{a}:" + merged["ae_sha256_a"] + f";{b}:" + merged["ae_sha256_b"]
    for name in ("config_hash", "versions"):
        pairs = zip(merged[f"{name}_a"], merged[f"{name}_b"], strict=True)
        merged[name] = [";".join(dict.fromkeys([x, y])) for x, y in pairs]
    return merged[[*key, "value", "failed", "excluded", "stopped", "config_hash", "ae_sha256", "versions"]]


def _failed(status_a: pd.Series, label_a: str, status_b: pd.Series, label_b: str) -> list[str]:
    """Per unit, which of its two fits failed (below its scene's floor: no result to compare), '' when neither."""
    return [
        " and ".join(label for label, status in ((label_a, a), (label_b, b)) if status == "failed")
        for a, b in zip(status_a, status_b, strict=True)
    ]


def _ratios(timing: pd.DataFrame, igae: str, numerator: pd.Series, denominator: pd.Series) -> pd.DataFrame:
    """(method, dataset, scene, seed, value = numerator / denominator, provenance) of the IG-AE's latent runs."""
    rows = timing.assign(value=numerator / denominator)[timing["autoencoder"] == igae].copy()
    if rows.duplicated(["method", *UNIT_KEY]).any():
        raise ValueError(
            f"igae.report.claims: timing has several rows for one (method, dataset, scene, seed) of {igae}"
        )
    rows["failed"] = _failed(rows["latent_status"], f"latent {igae}", rows["rgb_status"], "RGB")
    # a failed RGB fit is no reference to time against: the unit is left out; a failed latent fit counts against
    rows["excluded"] = ["RGB" if status == "failed" else "" for status in rows["rgb_status"]]
    rows["stopped"] = rows["latent_stop_reason"] + "/" + rows["rgb_stop_reason"]
    rows["ae_sha256"] = f"{igae}:" + rows["ae_sha256"]
    return rows[["method", *UNIT_KEY, "value", "failed", "excluded", "stopped", "config_hash", "ae_sha256", "versions"]]


def paired_units(latent_nvs: pd.DataFrame, timing: pd.DataFrame, roles: Mapping[str, str | None]) -> pd.DataFrame:
    """One row per claim, method and unit (dataset, scene, seed) with the paired value: :data:`UNIT_COLUMNS`.

    ``roles``: {"standard", "igae", "control"} -> autoencoder name or None (:func:`igae.config.claim_roles`).
    Units whose value is missing or not finite (a metric the run did not record, a ratio without its RGB partner) are
    dropped. ``failed`` names the failed fit(s) of a unit (below their scene's floor:
    :func:`igae.nerf.scoring.fit_status`); ``excluded`` those that make :func:`claims_table` leave the unit out;
    ``stopped`` is the two fits' stop reasons (e.g. ``converged/cap``). Sorted by claim (in :data:`CLAIMS` order),
    method (in table order), dataset, scene, seed.

    Failed fits, claim by claim: in the claims that compare autoencoders (both latent fits share every NeRF setting)
    a failed fit is its autoencoder's outcome, what the claim is about: the unit is kept, and the note counts it. In
    the claims that compare a latent fit with its RGB baseline, a failed RGB fit is no reference (nerfacto without
    its background prior collapsed on 2 of 5 scenes): the unit is left out and n reduced; a failed latent fit is
    kept (it counts against the claim).
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
        parts["latent_trains_faster"] = _ratios(
            timing, igae, _column(timing, "rgb_s_to_target"), _column(timing, "latent_s_to_target")
        )
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


def _column(table: pd.DataFrame, name: str) -> pd.Series:
    """A numeric column of a table, all NaN when the table (written by older code) has none."""
    return table[name].astype(float) if name in table.columns else pd.Series(np.nan, index=table.index)


@dataclass(frozen=True)
class Evidence:
    """What the paired values of one (claim, method) say: the statistics and verdict of its claims.csv row."""

    estimate: float
    """The mean of the values (the geometric mean for a ratio claim)."""
    ci_low: float
    """Lower bound of the :data:`CONFIDENCE` BCa interval; NaN below :data:`MIN_UNITS` units."""
    ci_high: float
    """Upper bound of that interval; NaN below :data:`MIN_UNITS` units."""
    p_value: float
    """One-sided sign-flip p of the claimed direction (statistic above the null); NaN for a single unit."""
    p_opposite: float
    """One-sided sign-flip p of the other direction (statistic below the null); NaN for a single unit."""
    test: str
    """Which sign-flip test gave the p-values ('sign-flip exact 2^6', 'sign-flip Monte-Carlo 9999'); '' for one unit."""
    verdict: str
    """``holds``, ``fails`` or ``inconclusive``: :func:`verdict`."""
    note: str
    """Why the verdict is ``inconclusive``, and whether the interval is degenerate; '' when there is nothing to say."""


def bca_interval(sample: np.ndarray, n_boot: int = N_BOOT, seed: int = BOOTSTRAP_SEED) -> tuple[float, float, str]:
    """(low, high, note): the :data:`CONFIDENCE` BCa bootstrap interval of the mean of ``sample`` (n,).

    NaN bounds below :data:`MIN_UNITS` values. All values equal (BCa undefined: every resample has the same mean, the
    jackknife no spread): the interval is that value, and the note says so.
    """
    n = len(sample)
    if n < MIN_UNITS:
        return math.nan, math.nan, ""
    if np.ptp(sample) <= 1e-12 * max(1.0, float(np.abs(sample).max())):  # equal up to float rounding
        value = float(sample.mean())
        return value, value, f"all {n} paired values are equal: BCa is undefined, the interval is that value"
    result = stats.bootstrap(
        (sample,),
        np.mean,  # vectorised: scipy passes axis=-1
        n_resamples=n_boot,
        confidence_level=CONFIDENCE,
        method="BCa",
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):
        return math.nan, math.nan, "scipy could not compute a BCa interval for these values (see the log)"
    return low, high, ""


def sign_flip_test(sample: np.ndarray, seed: int = BOOTSTRAP_SEED) -> tuple[float, float, str]:
    """(p_value, p_opposite, test): one-sided sign-flip p-values of the mean of ``sample`` (n,) about 0.

    ``p_value``: the mean lies above 0; ``p_opposite``: below. Exact (2^n flips) for n <= :data:`EXACT_MAX_UNITS`,
    otherwise :data:`N_PERMUTATIONS` random flips from ``default_rng(seed)``. NaN for a single value.
    """
    n = len(sample)
    if n < 2:  # scipy needs two observations; one sign flip of one value says nothing
        return math.nan, math.nan, ""
    exact = n <= EXACT_MAX_UNITS
    resamples = 2**n if exact else N_PERMUTATIONS  # permutation_test is exact when n_resamples >= 2^n
    p = {
        alternative: float(
            stats.permutation_test(
                (sample,),
                np.mean,  # vectorised: scipy passes axis=-1
                permutation_type="samples",  # one sample: the null distribution flips each value's sign
                vectorized=True,
                n_resamples=resamples,
                alternative=alternative,
                rng=np.random.default_rng(seed),
            ).pvalue
        )
        for alternative in ("greater", "less")
    }
    test = f"sign-flip exact 2^{n}" if exact else f"sign-flip Monte-Carlo {N_PERMUTATIONS}"
    return p["greater"], p["less"], test


def verdict(n: int, ci_low: float, ci_high: float, null: float, p_value: float, p_opposite: float) -> tuple[str, str]:
    """(verdict, note): ``holds``, ``fails`` or ``inconclusive``, and why when inconclusive.

    ``holds``: n >= :data:`MIN_UNITS`, the interval above the null (the claimed direction) and ``p_value`` <
    :data:`ALPHA`. ``fails``: n >= :data:`MIN_UNITS`, the interval below the null and ``p_opposite`` < :data:`ALPHA`.
    """
    if n < MIN_UNITS:
        return "inconclusive", (
            f"n = {n} < {MIN_UNITS}: no exact sign-flip test can reach p < {ALPHA:g} "
            f"(smallest p = 2^-{n} = {2.0**-n:.3g}); no interval"
        )
    if math.isnan(ci_low) or math.isnan(ci_high):
        return "inconclusive", "no interval"
    if ci_low > null:
        if p_value < ALPHA:
            return "holds", ""
        return "inconclusive", f"the interval lies above the null but the sign-flip p = {p_value:.2g} >= {ALPHA:g}"
    if ci_high < null:
        if p_opposite < ALPHA:
            return "fails", ""
        return "inconclusive", (
            f"the interval lies below the null but the sign-flip p of that direction = {p_opposite:.2g} >= {ALPHA:g}"
        )
    return "inconclusive", f"the interval [{ci_low:.4g}, {ci_high:.4g}] contains the null {null:g} (p = {p_value:.2g})"


def evidence(values: np.ndarray, ratio: bool = False, n_boot: int = N_BOOT, seed: int = BOOTSTRAP_SEED) -> Evidence:
    """The estimate, interval, p-values and verdict of one (claim, method)'s paired ``values`` (n,).

    ``ratio``: the values are ratios, analysed on the log scale (geometric mean, bounds exponentiated, null 1).
    """
    values = np.asarray(values, dtype=np.float64)
    sample = np.log(values) if ratio else values  # (n,) on the analysis scale, where the null is 0 for both kinds
    back = math.exp if ratio else float
    low, high, interval_note = bca_interval(sample, n_boot, seed)
    p_value, p_opposite, test = sign_flip_test(sample, seed)
    ci_low, ci_high = back(low), back(high)  # exp(NaN) is NaN
    outcome, verdict_note = verdict(len(values), ci_low, ci_high, 1.0 if ratio else 0.0, p_value, p_opposite)
    note = "; ".join(part for part in (interval_note, verdict_note) if part)
    estimate = back(sample.mean()) if len(sample) else math.nan  # every unit left out: no estimate
    return Evidence(estimate, ci_low, ci_high, p_value, p_opposite, test, outcome, note)


def interval_label(claims: pd.DataFrame) -> str:
    """'90 % BCa': the confidence and kind of interval a claims table reports; '' for a table without those columns."""
    if not {"confidence", "interval"} <= set(claims.columns) or claims.empty:
        return ""
    confidences = pd.to_numeric(claims["confidence"], errors="coerce").dropna().unique()
    kinds = claims["interval"].dropna().astype(str).unique()
    if len(confidences) != 1 or len(kinds) != 1:
        raise ValueError(f"igae.report.claims: a claims table mixes intervals ({list(kinds)} at {list(confidences)})")
    return f"{100 * confidences[0]:g} % {kinds[0]}"


def verdict_rule(label: str = f"{100 * CONFIDENCE:g} % {INTERVAL}") -> str:
    """How a verdict is decided, in one Markdown sentence (the summary and the results page show it)."""
    return (
        f"Verdicts: `holds` needs n ≥ {MIN_UNITS} paired units, the {label} interval above the null and a one-sided "
        f"sign-flip p < {ALPHA:g}; `fails` the same below the null; anything else is `inconclusive` (its note says "
        "why)."
    )


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
        kept = group[group["excluded"].fillna("").astype(str) == ""]
        result = evidence(kept["value"].to_numpy(float), claim.ratio, n_boot, seed)
        rows.append(
            {
                "claim": claim_id,
                "method": method,
                "statement": claim.fill(claim.statement, roles),
                "statistic": claim.fill(claim.statistic, roles),
                "null": claim.null,
                "estimate": result.estimate,
                "ci_low": result.ci_low,
                "ci_high": result.ci_high,
                "interval": INTERVAL,
                "confidence": CONFIDENCE,
                "p_value": result.p_value,
                "p_opposite": result.p_opposite,
                "test": result.test,
                "n": len(kept),
                "n_excluded": len(group) - len(kept),
                "verdict": result.verdict,
                "n_boot": n_boot,
                "bootstrap_seed": seed,
                "datasets": ";".join(sorted(group["dataset"].astype(str).unique())),
                "config_hash": _joined(group["config_hash"]),
                "ae_sha256": _joined(group["ae_sha256"]),
                "versions": _joined(group["versions"]),
                "note": "; ".join(part for part in (_exclusion_note(group), _stop_note(kept), result.note) if part),
            }
        )
    return pd.DataFrame(rows, columns=CLAIMS_COLUMNS)


def _exclusion_note(group: pd.DataFrame) -> str:
    """Which units a claim row left out (a failed RGB reference) and which it kept although a fit failed, or ''."""
    excluded = group["excluded"].fillna("").astype(str) != ""
    failed = group["failed"].fillna("").astype(str) != ""
    notes = []
    if excluded.any():
        units = ", ".join(f"{row.scene}/seed {row.seed}" for row in group[excluded].itertuples())
        notes.append(
            f"{int(excluded.sum())} of {len(group)} units left out, n reduced to {int((~excluded).sum())}: the RGB "
            f"fit failed (eval PSNR below its scene's floor) in {units}"
        )
    if (failed & ~excluded).any():
        units = ", ".join(
            f"{row.scene}/seed {row.seed} ({row.failed})" for row in group[failed & ~excluded].itertuples()
        )
        notes.append(f"kept, a fit below its scene's floor being what is compared: {units}")
    return "; ".join(notes)


def _stop_note(kept: pd.DataFrame) -> str:
    """How many of a claim row's units paired two fits that stopped for different reasons (converged / cap), or ''."""
    stops = kept["stopped"].fillna("").astype(str).str.split("/")
    differ = int(sum(len(set(pair)) > 1 for pair in stops if len(pair) == 2 and all(pair)))
    return f"{differ} of {len(kept)} units pair fits that stopped for different reasons" if differ else ""


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
