"""When a NeRF fit has stopped gaining: where its convergence curve is probed, and the criterion (pure Python).

A fit's curve (:class:`igae.nerf_fit.ConvergenceProbe`) is its eval PSNR at :data:`CURVE_POINTS` iteration counts
(:func:`curve_steps`); the last :data:`TAIL_POINTS` span the second half of its last stage, and :func:`is_converged`
reads their trend (:func:`tail_change_db`). The tables (igae.tables) read the same functions, without nerfstudio.
"""

from __future__ import annotations

import numpy as np

CURVE_POINTS = 8
"""Points of the convergence curve (:func:`curve_steps`); the last is the final step."""
TAIL_POINTS = 5
"""The last points of the curve, evenly spaced over the second half of the final stage (its middle to its end): what
:func:`is_converged` reads. One point per eighth of the stage: a latent alignment stage's PSNR moves by up to ±0.6 dB
between neighbouring points (one decoder step per image), so two points alone would call a flat stage unconverged."""
CONVERGED_DB = 0.3
"""A fit is converged when the trend of its tail points changes by less than this (dB) over them."""


def curve_steps(total_steps: int, points: int = CURVE_POINTS, final_stage_start: int = 0) -> list[int]:
    """Iterations completed at each curve point, the last one ``total_steps`` (deduplicated).

    The last :data:`TAIL_POINTS` are evenly spaced from the middle to the end of the final stage (the whole fit, or a
    latent fit's RGB alignment, which starts at ``final_stage_start``), so that ``converged`` reads points of one
    stage. The others: one stage, evenly spaced over its first half at the tail's spacing; two stages, evenly spaced
    over the first stage, ending with it. Fewer than ``TAIL_POINTS + 1`` points: all in the tail.
    """
    start = final_stage_start if 0 < final_stage_start < total_steps else 0
    final_steps, tail = total_steps - start, min(points, TAIL_POINTS)
    spacing = final_steps / (2 * (tail - 1)) if tail > 1 else final_steps
    steps = {start + round(final_steps - spacing * k) for k in range(tail)}
    head = points - tail
    if start:  # the first stage, ending with it
        steps |= {round(start * k / head) for k in range(1, head + 1)}
    else:  # the first half, at the tail's spacing
        steps |= {round(final_steps / 2 - spacing * k) for k in range(1, head + 1)}
    return sorted(step for step in steps if 0 < step <= total_steps) or [total_steps]


def is_converged(curve: list[dict], tolerance_db: float = CONVERGED_DB, tail_points: int = TAIL_POINTS) -> bool | None:
    """True when the least-squares line through the last ``tail_points`` points (``step``, ``psnr``) of the last stage
    changes by less than ``tolerance_db`` from the first of them to the last (rising or falling); None with fewer than
    two such points. With two points this is their difference."""
    change = tail_change_db(curve, tail_points)
    return None if change is None else bool(abs(change) < tolerance_db)


def tail_change_db(curve: list[dict], tail_points: int = TAIL_POINTS) -> float | None:
    """The PSNR change (dB) of the least-squares line through the last ``tail_points`` points (``step``, ``psnr``) of
    the last stage, from the first of them to the last; None with fewer than two such points."""
    stage = curve[-1].get("stage") if curve else None
    tail = [point for point in curve[-tail_points:] if point.get("stage") == stage]
    if len(tail) < 2:
        return None
    steps = np.array([point["step"] for point in tail], dtype=float)
    psnrs = np.array([point["psnr"] for point in tail], dtype=float)
    return float(np.polyfit(steps, psnrs, 1)[0] * (steps[-1] - steps[0]))
