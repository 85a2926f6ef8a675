"""When a NeRF fit has stopped gaining: where its convergence curve is probed, the criterion, and the stopping rule
(pure Python: the tables read the same functions without nerfstudio).

A fit's curve (:class:`igae.nerf.fit.ConvergenceProbe`) is its eval PSNR every ``check_every`` steps of each stage
(:func:`probe_steps`). Its *tail* is the points of the last stage that lie in that stage's second half, as far as the
fit has gone (:func:`curve_tail`); :func:`tail_change_db` is the change of their least-squares line from the first of
them to the last. A fit is **converged** when that change is smaller than :data:`CONVERGED_DB` (rising or falling)
and the tail has at least :data:`TAIL_POINTS` points.

Adaptive fits (``until_converged``) test the criterion at every probe of their last stage and stop at the first probe
where it holds (``stop_reason: converged``), or at their step cap (``cap``); fixed schedules run their steps and are
judged at the end (``fixed``). The tail is half of what the fit has run, so the test is scale-free: a fit stops when
doubling its last stage's length so far gained less than 0.3 dB along the trend, and the earliest stop comes after
``(2 * TAIL_POINTS - 2) * check_every`` steps of the last stage.
"""

from __future__ import annotations

import numpy as np

CONVERGED_DB = 0.3
"""A fit is converged when the trend of its tail changes by less than this (dB) over the tail."""
TAIL_POINTS = 5
"""The fewest tail points the criterion decides from. A latent alignment stage's PSNR moves by up to ±0.6 dB between
neighbouring points (one decoder step per image), so a line through a handful of points, not two, is read."""
STOP_REASONS = ("converged", "cap", "fixed")
"""Why a fit stopped: its criterion held (adaptive), it reached its step cap (adaptive), or it ran a fixed schedule."""


def probe_steps(stage_start: int, stage_end: int, every: int) -> list[int]:
    """Iterations completed at each probe of the stage ``(stage_start, stage_end]``: every ``every`` steps from its
    start, and its last step."""
    if stage_end <= stage_start:
        return []
    return sorted({*range(stage_start + every, stage_end, every), stage_end})


def curve_tail(curve: list[dict], final_stage_start: int) -> list[dict]:
    """The points of the curve's last stage (``stage`` of its last point) whose ``step`` lies in the second half of
    that stage so far, ``[start + (last - start) / 2, last]``."""
    if not curve:
        return []
    stage, last = curve[-1].get("stage"), curve[-1]["step"]
    middle = final_stage_start + (last - final_stage_start) / 2
    return [point for point in curve if point.get("stage") == stage and point["step"] >= middle]


def tail_change_db(curve: list[dict], final_stage_start: int, min_points: int = TAIL_POINTS) -> float | None:
    """The PSNR change (dB) of the least-squares line through :func:`curve_tail` (``step``, ``psnr``), from its first
    point to its last; None with fewer than ``min_points`` tail points."""
    tail = curve_tail(curve, final_stage_start)
    if len(tail) < max(2, min_points):
        return None
    steps = np.array([point["step"] for point in tail], dtype=float)
    psnrs = np.array([point["psnr"] for point in tail], dtype=float)
    return float(np.polyfit(steps, psnrs, 1)[0] * (steps[-1] - steps[0]))


def is_converged(change_db: float | None, tolerance_db: float = CONVERGED_DB) -> bool | None:
    """True when the tail's change (:func:`tail_change_db`) is below ``tolerance_db`` in size; None when undecided."""
    return None if change_db is None else bool(abs(change_db) < tolerance_db)


def stops_here(curve: list[dict], final_stage_start: int) -> bool:
    """Whether an adaptive fit stops at the curve's last point: it lies in the last stage and the fit is converged
    there (:func:`tail_change_db`, :func:`is_converged`)."""
    return (
        bool(curve)
        and curve[-1]["step"] > final_stage_start
        and bool(is_converged(tail_change_db(curve, final_stage_start)))
    )


def converged_at(curve: list[dict], final_stage_start: int) -> int | None:
    """Index of the point of a whole curve where an adaptive fit would have stopped (the first :func:`stops_here`),
    or None when it would have run to its cap: the stopping rule replayed, e.g. on a fixed schedule's curve."""
    return next((i for i in range(len(curve)) if stops_here(curve[: i + 1], final_stage_start)), None)
