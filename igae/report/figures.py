"""Figures from run folders, autoencoders and tables (matplotlib, Agg backend: no display needed).

- :func:`qualitative_figure` is the paper's Fig. 2/5: one row per eval view, the ground truth first, then each run's
  decoded render, with the PSNR of each render under its panel.
- :func:`claims_figure`: a forest plot of claims.csv (:mod:`igae.report.claims`): per claim and method, the estimate,
its
  interval (the kind and confidence the table names: 90 % BCa), the null, the per-unit paired values, the verdict, n
  and the one-sided sign-flip p.
- :func:`convergence_figure`: eval PSNR against training seconds, latent runs (one colour per AE) beside RGB runs, each
  run ending where it stopped (converged or not), failed runs marked.
- :func:`ae_reconstruction_figure` is the paper's Fig. 9: images and each autoencoder's reconstruction D(E(x)).
- :func:`igae_training_figure`: the IG-AE training curves (the official evaluator's ``metrics_e``, ``metrics_d``,
  ``metrics_ae``) of each IG-AE kind autoencoder, from its card.

Run folders and result formats: see :mod:`igae.report.tables`. Every figure is written atomically.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

from igae.files import atomic_write_bytes  # noqa: E402
from igae.metrics import DEFAULT_PROTOCOL, psnr, read_rgb  # noqa: E402
from igae.report.claims import CLAIMS, interval_label  # noqa: E402
from igae.report.tables import ResultFileError, read_result_json  # noqa: E402

LOGGER = logging.getLogger(__name__)


def _view_stem(view: str) -> str:
    """'images/r_000.png' or 'r_000' -> 'r_000'."""
    return Path(view).stem


def _ground_truth_path(scene_dir: Path, view: str) -> Path:
    """The scene's image of ``view``: a frame file_path ('images/r_000.png') or a stem ('r_000')."""
    candidate = scene_dir / view
    path = candidate if candidate.suffix and candidate.is_file() else scene_dir / "images" / f"{_view_stem(view)}.png"
    if not path.is_file():
        raise FileNotFoundError(f"igae: {scene_dir}: no ground-truth image for view {view!r} (looked for {path})")
    return path


def _recorded_psnr(run_dir: Path) -> tuple[dict[str, float], bool]:
    """{view stem: PSNR} from the run's metrics.json (the protocol's number, on the unrounded render), and whether the
    run failed (its eval PSNR is below its scene's floor: ``status``)."""
    path = run_dir / "metrics.json"
    if not path.is_file():
        return {}, False
    metrics = read_result_json(path, ["per_image"])
    try:
        psnrs = {_view_stem(row["view"]): float(row["psnr"]) for row in metrics["per_image"]}
    except (KeyError, TypeError, ValueError) as error:
        raise ResultFileError(f"igae: {path}: per_image rows need a view and a psnr ({error})") from error
    return psnrs, metrics.get("status") == "failed"


def qualitative_figure(
    scene_dir: str | os.PathLike,
    columns: Sequence[tuple[str, str | os.PathLike]],
    views: Sequence[str],
    out_png: str | os.PathLike,
    panel_inches: float = 1.8,
) -> Path:
    """Grid of eval views (rows) x [ground truth, each run's decoded render] (columns), written atomically to out_png.

    columns: (label, run folder) pairs, e.g. [("RGB TensoRF", "results/runs/rgb/tensorf/procedural/vase_03"), ...].
    views: frame file paths ("images/r_000.png") or stems ("r_000"); the render is ``{run}/renders/{stem}.png``.
    The PSNR under a panel is the one recorded in the run's metrics.json (computed on the unrounded render); when the
    run has no entry for the view, it is computed from the PNG files and marked "(png)". A failed run (eval PSNR below
    its scene's floor: no result) is drawn faded under a red "failed" and framed in red, never as a result.
    """
    scene_dir, out_png = Path(scene_dir), Path(out_png)
    if not views or not columns:
        raise ValueError("igae: qualitative_figure needs at least one view and one run column")
    recorded = {label: _recorded_psnr(Path(run_dir)) for label, run_dir in columns}
    rows = []
    for view in views:
        stem = _view_stem(view)
        ground_truth = read_rgb(_ground_truth_path(scene_dir, view))  # (H, W, 3) in [0, 1]
        panels = [("ground truth", ground_truth, "", False)]
        for label, run_dir in columns:
            render_path = Path(run_dir) / "renders" / f"{stem}.png"
            if not render_path.is_file():
                raise FileNotFoundError(f"igae: {run_dir}: no render of view {view!r} (expected {render_path})")
            render = read_rgb(render_path)
            psnrs, failed = recorded[label]
            if stem in psnrs:
                caption = f"PSNR {psnrs[stem]:.2f} dB" + (" · FAILED fit" if failed else "")
            elif render.shape == ground_truth.shape:
                caption = f"PSNR {psnr(render, ground_truth, DEFAULT_PROTOCOL).item():.2f} dB (png)"
            else:
                caption = f"{render.shape[1]}x{render.shape[0]} vs GT {ground_truth.shape[1]}x{ground_truth.shape[0]}"
            panels.append((label, render, caption, failed))
        rows.append((stem, panels))
    return _image_grid(rows, out_png, panel_inches)


def _image_grid(
    rows: Sequence[tuple[str, Sequence[tuple[str, Any, str, bool]]]], out_png: str | os.PathLike, panel_inches: float
) -> Path:
    """Draw ``[(row label, [(column title, (H, W, 3) image tensor, caption, failed), ...]), ...]`` as a grid and save
    it; a ``failed`` panel is faded, crossed by "failed" in red and framed in red."""
    columns = len(rows[0][1])
    figure, axes = plt.subplots(
        len(rows), columns, figsize=(panel_inches * columns, panel_inches * 1.15 * len(rows)), squeeze=False
    )  # axes: (rows, columns)
    for row, (row_label, panels) in enumerate(rows):
        for column, (title, image, caption, failed) in enumerate(panels):
            axis = axes[row, column]
            axis.imshow((0.3 * image + 0.7 if failed else image).numpy(), interpolation="nearest")
            if failed:
                axis.text(0.5, 0.5, "failed", transform=axis.transAxes, ha="center", va="center", color="tab:red",
                          fontsize=11, fontweight="bold", rotation=30)  # fmt: skip
                for spine in axis.spines.values():
                    spine.set(color="tab:red", linewidth=2)
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_xlabel(caption, fontsize=7)
            if row == 0:
                axis.set_title(title, fontsize=8)
            if column == 0:
                axis.set_ylabel(row_label, fontsize=7)
    return _save(figure, out_png)


def _save(figure, out_png: str | os.PathLike, dpi: int = 150) -> Path:
    """Lay out, render to PNG in memory, close, and write atomically (a reader never sees half a file)."""
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    return atomic_write_bytes(Path(out_png), buffer.getvalue())


VERDICT_COLOURS = {"holds": "tab:green", "fails": "tab:red", "inconclusive": "tab:gray"}


def _message_figure(message: str, out_png: str | os.PathLike) -> Path:
    """A figure that says why there is nothing to draw (a figure rule must still write its output)."""
    figure, axis = plt.subplots(figsize=(6.0, 1.2))
    axis.axis("off")
    axis.text(0.5, 0.5, message, ha="center", va="center", fontsize=8, wrap=True)
    return _save(figure, out_png)


def _minor_ratio_label(value: float, _position) -> str:
    """Label the log axis' minor ticks at 2x and 5x powers of ten only (readable at any range)."""
    mantissa = value / 10 ** np.floor(np.log10(value))
    return f"{value:g}x" if round(mantissa) in (2, 5) and abs(mantissa - round(mantissa)) < 1e-6 else ""


def claims_figure(
    claims: pd.DataFrame, units: pd.DataFrame, out_png: str | os.PathLike, width_inches: float = 7.0
) -> Path:
    """Forest plot of claims.csv: one panel per claim, one row per method, written atomically to out_png.

    claims: :func:`igae.report.claims.claims_table`; units: :func:`igae.report.claims.paired_units` (the per-unit
    paired values). Each row shows the estimate with its interval (a hollow marker when there is none), the paired
    values of the units as small points just below it, and the verdict with n and the claimed direction's p at the
    right; the dashed vertical line is the null. Each panel names the interval (``90 % BCa interval``, read from the
    table's ``confidence`` and ``interval``). Ratio claims are drawn on a log axis.
    """
    claim_ids = list(dict.fromkeys(claims["claim"]))
    if not claim_ids:
        return _message_figure("no claim has a paired unit: see latent_nvs.csv, timing.csv and claims.csv", out_png)
    label = interval_label(claims)  # '90 % BCa'
    kind = f"{label} interval, one-sided sign-flip p" if label else "interval"
    counts = [int((claims["claim"] == claim_id).sum()) for claim_id in claim_ids]
    figure, axes = plt.subplots(
        len(claim_ids),
        1,
        figsize=(width_inches, sum(0.4 * count + 1.1 for count in counts)),
        gridspec_kw={"height_ratios": [count + 1.5 for count in counts]},
        squeeze=False,
    )  # axes: (claims, 1)
    for axis, claim_id in zip(axes[:, 0], claim_ids, strict=True):
        rows = claims[claims["claim"] == claim_id].reset_index(drop=True)
        null = float(rows["null"].iloc[0])
        at_row = blended_transform_factory(axis.transAxes, axis.transData)  # x in axes fraction, y in rows
        for y, row in rows.iterrows():
            colour = VERDICT_COLOURS.get(row["verdict"], "k")
            values = units.loc[(units["claim"] == claim_id) & (units["method"] == row["method"]), "value"]
            values = values.to_numpy(float)  # (n,) one paired value per (dataset, scene, seed)
            spread = np.linspace(-0.06, 0.06, len(values)) if len(values) > 1 else np.zeros(len(values))
            axis.scatter(values, y + 0.28 + spread, s=8, color=colour, alpha=0.6, linewidths=0)
            low, high, estimate = float(row["ci_low"]), float(row["ci_high"]), float(row["estimate"])
            if np.isfinite(low) and np.isfinite(high):
                error = [[estimate - low], [high - estimate]]
                axis.errorbar(estimate, y, xerr=error, fmt="o", color=colour, capsize=3, markersize=5)
            else:
                axis.plot(estimate, y, "o", color=colour, markerfacecolor="none", markersize=5)
            p_value = pd.to_numeric(row.get("p_value"), errors="coerce")
            p_text = "" if pd.isna(p_value) else f", p={p_value:.2g}"
            if row["verdict"] == "fails":  # the p of the direction it failed in, as the summary shows it
                p_text += f"; opposite {float(row['p_opposite']):.2g}"
            verdict = f"{row['verdict']} (n={row['n']}{p_text})"
            axis.text(1.02, y, verdict, transform=at_row, color=colour, fontsize=7, va="center")
        axis.axvline(null, color="k", linewidth=0.8, linestyle="--")
        ratio = CLAIMS[claim_id].ratio if claim_id in CLAIMS else null == 1.0
        if ratio:
            axis.set_xscale("log")
            axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}x"))
            axis.xaxis.set_minor_formatter(FuncFormatter(_minor_ratio_label))
        axis.set_yticks(range(len(rows)), rows["method"], fontsize=8)
        axis.set_ylim(len(rows) - 0.4, -0.6)  # first method on top; room below each row for its units
        axis.set_title(claim_id, fontsize=9, loc="left")
        axis.set_title(kind, fontsize=7, loc="right", color="0.35")
        axis.set_xlabel(rows["statistic"].iloc[0], fontsize=7)
        axis.tick_params(axis="x", which="both", labelsize=7)
    return _save(figure, out_png)


def _read_curve(run_dir: Path) -> dict | None:
    """A run's training curve with its labels and how it ended, or None (logged) when its metrics.json has none."""
    path = run_dir / "metrics.json"
    metrics = read_result_json(path, ["space", "method"])
    curve = metrics.get("curve")
    if not curve:
        LOGGER.warning("igae: %s has no curve; the run is left out of the convergence figure", path)
        return None
    try:
        seconds = [float(point["train_seconds"]) for point in curve]
        psnrs = [float(point["psnr"]) for point in curve]
    except (KeyError, TypeError, ValueError) as error:
        raise ResultFileError(f"igae: {path}: every curve point needs train_seconds and psnr ({error})") from error
    latent = metrics["space"] == "latent"
    return {
        "method": str(metrics["method"]),
        "series": f"latent, AE {metrics.get('autoencoder')}" if latent else "RGB",
        "seconds": np.asarray(seconds),  # (P,) cumulative training seconds at each evaluation
        "psnr": np.asarray(psnrs),  # (P,)
        "converged": metrics.get("converged") is True,
        "failed": metrics.get("status") == "failed",
    }


def convergence_figure(
    run_dirs: Sequence[str | os.PathLike], out_png: str | os.PathLike, panel_inches: float = 3.4
) -> Path:
    """Eval PSNR against training seconds, one panel per method, written atomically to out_png.

    Each latent AE has a colour, RGB is black; every run (scene, seed) is one line ending in a dot where it converged
    and a cross where it did not (adaptive fits stop at different steps, so no mean is drawn across them). A failed
    run (eval PSNR below its scene's floor) is dashed and red-ended. The legend gives per series the number of runs,
    how many did not converge and how many failed. Runs whose metrics.json has no ``curve`` are skipped with a logged
    warning.
    """
    curves = [curve for curve in map(_read_curve, map(Path, run_dirs)) if curve is not None]
    if not curves:
        return _message_figure("no run folder's metrics.json holds a training curve", out_png)
    methods = list(dict.fromkeys(curve["method"] for curve in curves))
    latent_series = list(dict.fromkeys(curve["series"] for curve in curves if curve["series"] != "RGB"))
    colours = {series: plt.get_cmap("tab10")(index % 10) for index, series in enumerate(latent_series)}
    colours["RGB"] = "k"
    columns = min(3, len(methods))
    rows = -(-len(methods) // columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(panel_inches * columns, panel_inches * 0.8 * rows), squeeze=False
    )  # axes: (rows, columns), one per method
    for axis in axes.flat[len(methods) :]:
        axis.axis("off")
    for axis, method in zip(axes.flat, methods, strict=False):
        for series in [*latent_series, "RGB"]:
            runs = [c for c in curves if c["method"] == method and c["series"] == series]
            if not runs:
                continue
            for run in runs:
                style = "--" if run["failed"] else "-"
                axis.plot(run["seconds"], run["psnr"], style, color=colours[series], linewidth=0.9, alpha=0.6)
                marker = "o" if run["converged"] else "x"
                axis.plot(
                    run["seconds"][-1:], run["psnr"][-1:], marker, markersize=4,
                    color="tab:red" if run["failed"] else colours[series],
                )  # fmt: skip
            unconverged = sum(not run["converged"] for run in runs)
            failed = sum(run["failed"] for run in runs)
            extra = [f"{unconverged} not converged"] * bool(unconverged) + [f"{failed} failed"] * bool(failed)
            label = f"{series} (n={len(runs)}" + "".join(f", {part}" for part in extra) + ")"
            axis.plot([], [], "-", color=colours[series], label=label)
        axis.set_title(f"{method} (o converged, x not)", fontsize=9)
        axis.set_xlabel("training seconds", fontsize=8)
        axis.set_ylabel("eval PSNR (dB, decoded)", fontsize=8)
        axis.tick_params(labelsize=7)
        axis.legend(fontsize=6)
    return _save(figure, out_png)


def ae_reconstruction_figure(
    autoencoders: Sequence[tuple[str, str | os.PathLike]],
    images: Sequence[tuple[str, str | os.PathLike]],
    out_png: str | os.PathLike,
    device: str = "cpu",
    panel_inches: float = 1.8,
) -> Path:
    """Grid of images (rows) x [ground truth, each autoencoder's D(E(x))] (columns), written atomically to out_png.

    autoencoders: (label, autoencoder folder) pairs (:func:`igae.ae.autoencoder.load_with_card`); images: (label, image
    file) pairs, read with :func:`igae.metrics.read_rgb`. Under each reconstruction: its PSNR against the image
    (:data:`igae.metrics.DEFAULT_PROTOCOL`), as ``results/ae_eval`` computes it.
    """
    from igae.ae.autoencoder import load_with_card, reconstruct, to_unit_hwc

    if not autoencoders or not images:
        raise ValueError("igae: ae_reconstruction_figure needs at least one autoencoder and one image")
    targets = [read_rgb(path) for _, path in images]  # each (H, W, 3) in [0, 1]
    panels = [[("ground truth", target, "", False)] for target in targets]
    for label, folder in autoencoders:
        ae, _ = load_with_card(folder, device)
        for row, target in enumerate(targets):
            x = target.permute(2, 0, 1)[None].to(device) * 2 - 1  # (1, 3, H, W) in [-1, 1]
            output = to_unit_hwc(reconstruct(ae, x))[0].cpu()  # (H, W, 3) in [0, 1]
            panels[row].append((label, output, f"PSNR {psnr(output, target, DEFAULT_PROTOCOL).item():.2f} dB", False))
        del ae
    return _image_grid([(label, row) for (label, _), row in zip(images, panels, strict=True)], out_png, panel_inches)


IGAE_CURVE_PANELS = (
    ("Tri-Plane fit: rendered vs encoded latents", "latent_psnr", ("train", "heldout")),
    ("Decoded renders vs ground truth", "decoded_psnr", ("train", "heldout")),
    ("AE reconstruction D(E(x))", "ae_psnr", ("heldout", "real")),
)
"""(title, curve key prefix, splits) of each panel of :func:`igae_training_figure`."""
IGAE_CURVE_SPLITS = {
    "train": ("train views", "-"),
    "heldout": ("held-out synthetic views", "--"),
    "real": ("real test images", ":"),
}
"""split -> (legend label, line style)."""


def igae_training_figure(
    autoencoders: Sequence[tuple[str, str | os.PathLike]], out_png: str | os.PathLike, panel_inches: float = 3.6
) -> Path:
    """The training curves of IG-AE kind autoencoders (``recipe.curves`` of their card.json), written atomically.

    Three panels (latent PSNR, decoded PSNR, AE reconstruction PSNR) against optimisation steps of both phases; one
    colour per autoencoder, one line style per split; a dotted vertical line where each joint phase starts. The AE
    reconstruction before the joint phase is the base AE's (the warm-up freezes it). An AE whose Tri-Planes nothing
    trains (no warm-up, L_latent and L_RGB off: the control) has only its reconstruction drawn."""
    from igae.ae.autoencoder import read_card

    series = []
    for name, folder in autoencoders:
        recipe = read_card(folder).recipe
        training = recipe.get("training", {})
        loss = training.get("loss", {})
        # without a warm-up and with L_latent and L_RGB off (the control) nothing trains the Tri-Planes: their
        # panels would show random planes, so only the AE's own reconstruction is drawn
        planes_trained = training.get("warmup_steps", 0) > 0 or loss.get("latent", True) or loss.get("rgb", True)
        if recipe.get("curves"):
            series.append((name, recipe["curves"], planes_trained))
    if not series:
        return _message_figure("no IG-AE card holds training curves (curve_points: 0, or no IG-AE)", out_png)
    figure, axes = plt.subplots(1, 3, figsize=(panel_inches * 3, panel_inches * 0.85), squeeze=False)
    for index, (name, points, planes_trained) in enumerate(series):
        colour = plt.get_cmap("tab10")(index % 10)
        steps = [point["step"] for point in points]
        joint_start = next((point["step"] for point in points if point["phase"] == "joint"), None)
        for axis, (title, key, splits) in zip(axes[0], IGAE_CURVE_PANELS, strict=True):
            if key != "ae_psnr" and not planes_trained:
                continue
            for split in splits:
                values = [point.get(f"{key}_{split}") for point in points]
                if all(value is None for value in values):
                    continue
                label, style = IGAE_CURVE_SPLITS[split]
                axis.plot(steps, values, style, color=colour, marker="o", markersize=2.5, label=f"{name}, {label}")
            if joint_start is not None and joint_start > 0:
                axis.axvline(joint_start, color=colour, linestyle=":", linewidth=0.8)
            axis.set_title(title, fontsize=9)
    for axis in axes[0]:
        axis.set_xlabel("step (warm-up, then joint phase)", fontsize=8)
        axis.set_ylabel("PSNR (dB)", fontsize=8)
        axis.tick_params(labelsize=7)
        axis.legend(fontsize=6)
    return _save(figure, out_png)
