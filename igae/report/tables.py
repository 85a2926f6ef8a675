"""From result files to the paper's tables: long-format CSVs, one row per measurement, each with its provenance.

Inputs (written by other stages; every malformed or missing file raises :class:`ResultFileError` naming it):

``results/ae_eval/{ae}.json`` (autoencoder reconstruction, Tab. 1)::

    {"autoencoder": "igae",
     "rows": [{"data": "synthetic" | "real", "psnr": 27.1, "ssim": 0.91, "lpips": 0.08 | null, "n_images": 40}, ...],
     "lpips_reason": null | "LPIPS unavailable: ...",
     "protocol": {...MetricProtocol.as_dict()...},
     "provenance": {"config_hash": ..., "ae_sha256": ..., "versions": ...}}

A run folder, latent ``results/runs/latent/{ae}/{method}/{dataset}/{scene}/seed{seed}/`` or RGB
``results/runs/rgb/{method}/{dataset}/{scene}/seed{seed}/`` (Tab. 2 and Tab. 5; one per fitting seed):

- ``metrics.json``::

    {"space": "latent" | "rgb", "method": "tensorf", "dataset": "procedural", "scene": "vase_03",
     "autoencoder": "igae" | null,
     "per_image": [{"view": "images/r_000.png", "psnr": ..., "ssim": ..., "lpips": ... | null}, ...],
     "mean": {"psnr": ..., "ssim": ..., "lpips": ... | null},
     "latent_mean": {"psnr": ..., "ssim": ... | null, "rel_mse": ...},  # latent runs: rendered vs encoded
                                               # latents; rel_mse = MSE / Var(encoded latent), scale-free
     "ae_mean": {"psnr", "ssim", "lpips"}, "vs_ae_mean": {...},  # latent runs: D(E(x)) vs x; render vs D(E(x))
     "seed": 1234,
     "curve": [{"step": 80, "train_seconds": 8.1, "stage": "fit" | "align", "psnr": 17.2}, ...],  # eval PSNR during
                                          # training (igae.nerf.fit.ConvergenceProbe)
     "converged": true | false | null, "curve_delta_db": 0.12 | null,  # igae.nerf.convergence: the tail's trend
     "stop_reason": "converged" | "cap" | "fixed", "steps": 260, "step_cap": 600,  # steps run, and the most allowed
     "floor": {"background_psnr", "mean_image_psnr", "floor_psnr"},  # the scene's failure floor (igae.nerf.scoring)
     "status": "ok" | "failed",  # failed: the eval PSNR is below floor_psnr (no better than ignoring the camera)
     "lpips_reason": null | "...", "protocol": {...}, "provenance": {...},
     "scoring": {"renders": "renders/eval.safetensors", "renders_sha256": ..., "device": "cpu"}}

  The metric fields (per_image, the means, lpips_reason, protocol, scoring) are written by
  ``igae.nerf.scoring.score_run`` from the saved renders, at the end of the fit or later by ``igae score <run>``; the
  others are the fit's. Runs fitted before renders were saved losslessly have no ``scoring`` and cannot be re-scored.

- ``timing.json``::

    {"train_seconds": 36.2, "iterations": 2000, "stage_seconds": {"latent": 20.1, "align": 16.1},
     "render_ms_per_view": 12.0, "decode_ms_per_view": 3.1 (0 for RGB runs), "peak_memory_mb": 812.0 | null,
     "device": "cpu" | "cuda:NVIDIA H200"}   # igae.timing.device_label; older runs lack it: then the device comes
                                            # from metrics.json's provenance.device, else it is "unknown"

- ``renders/eval.safetensors``: every eval view's final render, float32 (latent runs: also the rendered and encoded
  latents and D(E(x))), what the metrics are computed from (layout in ``igae.nerf.scoring``);
- ``renders/{view_stem}.png``: an 8-bit preview of the decoded RGB render of each eval view (``images/r_000.png`` ->
  ``renders/r_000.png``), for the figures; the ground truth stays in the scene folder
  ``resources/scenes/{dataset}/{scene}/images/``.

All run folders of one table must have been scored under the same metric protocol (``protocol.name``): after a protocol
change, re-score the older runs with ``igae score <run> ...`` rather than mixing numbers that do not compare.

Outputs (:func:`write_tables`): ``ae_reconstruction.csv``, ``latent_nvs.csv``, ``timing.csv``, ``ablation.csv``: the
entries of :data:`igae.layout.OUTPUTS` written by rule ``tables``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from igae import layout
from igae.files import atomic_write_text
from igae.nerf.convergence import STOP_REASONS
from igae.nerf.scoring import FIT_STATUSES
from igae.provenance import versions_string
from igae.timing import UNKNOWN_DEVICE, device_from_description

PROVENANCE_COLUMNS = ["config_hash", "ae_sha256", "versions"]

AE_RECONSTRUCTION_COLUMNS = [
    "autoencoder", "data", "psnr", "ssim", "lpips", "lpips_reason", "n_images", *PROVENANCE_COLUMNS,
]  # fmt: skip
LATENT_NVS_COLUMNS = [
    "method", "dataset", "scene", "space", "autoencoder", "psnr", "ssim", "lpips", "lpips_reason",
    "latent_psnr", "latent_ssim", "latent_rel_mse", "ae_psnr", "vs_ae_psnr", "n_views", "seed", "status",
    "floor_psnr", "curve_final_psnr", "curve_delta_db", "converged", "stop_reason", "steps", "step_cap",
    *PROVENANCE_COLUMNS, "note",
]  # fmt: skip
TIMING_COLUMNS = [
    "method", "dataset", "scene", "seed", "autoencoder", "device", "latent_train_s", "rgb_train_s", "latent_render_ms",
    "latent_decode_ms", "rgb_render_ms", "train_speedup", "render_speedup", "iterations", "rgb_iterations",
    "step_speedup", "quality_target_psnr", "latent_s_to_target", "rgb_s_to_target", "train_speedup_at_quality",
    "latent_stop_reason", "rgb_stop_reason", "latent_status", "rgb_status", "latent_peak_memory_mb",
    "rgb_peak_memory_mb", *PROVENANCE_COLUMNS,
]  # fmt: skip

ABLATION_COLUMNS = [
    "method", "dataset", "autoencoder", "role", "n_scenes", "n_failed", "psnr", "psnr_std", "ssim", "latent_rel_mse",
    "ae_psnr", "ae_sha256",
]  # fmt: skip


class ResultFileError(ValueError):
    """A result file that is missing or does not have the documented format."""


def read_result_json(path: str | os.PathLike, required: Sequence[str] = ()) -> dict[str, Any]:
    """A result JSON object, checked to hold the ``required`` top-level keys."""
    path = Path(path)
    if not path.is_file():
        raise ResultFileError(f"igae: {path} does not exist; run the stage that writes it first")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ResultFileError(f"igae: {path} is not valid JSON ({error}); delete it and rerun its stage") from error
    if not isinstance(obj, dict):
        raise ResultFileError(f"igae: {path} holds a JSON {type(obj).__name__}, expected an object")
    missing = [key for key in required if key not in obj]
    if missing:
        raise ResultFileError(
            f"igae: {path} lacks {', '.join(missing)} (format documented in igae/report/tables.py); rerun its stage"
        )
    return obj


def _number(obj: dict[str, Any], key: str, path: Path, where: str = "", optional: bool = False) -> float:
    """obj[key] as a float; NaN for an optional None. Raises naming the file and the key."""
    value = obj.get(key)
    if value is None and optional:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ResultFileError(f"igae: {path}: {where}{key} = {value!r}, expected a number")
    return float(value)


def _provenance_columns(obj: dict[str, Any], path: Path) -> dict[str, str]:
    provenance = obj.get("provenance")
    if not isinstance(provenance, dict) or "config_hash" not in provenance:
        raise ResultFileError(f"igae: {path}: provenance is missing or lacks config_hash (see igae.provenance)")
    versions = provenance.get("versions", "")
    if isinstance(versions, dict):
        versions = versions_string(versions)
    return {
        "config_hash": str(provenance["config_hash"]),
        "ae_sha256": provenance.get("ae_sha256") or "",
        "versions": str(versions),
    }


def ae_reconstruction_table(ae_eval_files: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Tab. 1: one row per (autoencoder, data) from ``results/ae_eval/{ae}.json`` files."""
    rows = []
    for file in map(Path, ae_eval_files):
        result = read_result_json(file, ["autoencoder", "rows", "provenance"])
        provenance = _provenance_columns(result, file)
        if not isinstance(result["rows"], list):
            raise ResultFileError(f"igae: {file}: rows must be a list of {{data, psnr, ssim, lpips, n_images}}")
        for index, row in enumerate(result["rows"]):
            where = f"rows[{index}]."
            if not isinstance(row, dict) or "data" not in row:
                raise ResultFileError(f"igae: {file}: rows[{index}] must be an object with a data key")
            rows.append(
                {
                    "autoencoder": str(result["autoencoder"]),
                    "data": str(row["data"]),
                    "psnr": _number(row, "psnr", file, where),
                    "ssim": _number(row, "ssim", file, where),
                    "lpips": _number(row, "lpips", file, where, optional=True),
                    "lpips_reason": result.get("lpips_reason") or "",
                    "n_images": int(_number(row, "n_images", file, where)),
                    **provenance,
                }
            )
    return pd.DataFrame(rows, columns=AE_RECONSTRUCTION_COLUMNS)


def _read_run_metrics(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "metrics.json"
    metrics = read_result_json(path, ["space", "method", "dataset", "scene", "per_image", "mean", "provenance"])
    if metrics["space"] not in ("latent", "rgb"):
        raise ResultFileError(f"igae: {path}: space = {metrics['space']!r}, expected 'latent' or 'rgb'")
    if not isinstance(metrics["mean"], dict) or not isinstance(metrics["per_image"], list):
        raise ResultFileError(f"igae: {path}: mean must be an object and per_image a list")
    if metrics["space"] == "latent" and not metrics.get("autoencoder"):
        raise ResultFileError(f"igae: {path}: a latent run must name its autoencoder")
    return metrics


def _curve(metrics: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    """A run's convergence curve, checked: a list of points, each with a numeric ``step``, ``train_seconds`` and
    ``psnr`` (each error naming the point)."""
    curve = metrics.get("curve") or []
    if not isinstance(curve, list) or not all(isinstance(point, dict) for point in curve):
        raise ResultFileError(f"igae: {path}: curve must be a list of {{step, train_seconds, stage, psnr}} objects")
    for i, point in enumerate(curve):
        for key in ("psnr", "step", "train_seconds"):
            _number(point, key, path, f"curve[{i}].")
    return curve


def _curve_columns(metrics: dict[str, Any], path: Path) -> dict[str, Any]:
    """The run's status and failure floor, and its convergence as the fit recorded it: curve_final_psnr (the last
    point), curve_delta_db (the tail's trend, what ``converged`` was decided from: :mod:`igae.nerf.convergence`),
    converged, stop_reason, steps and step_cap."""
    curve = _curve(metrics, path)
    status = metrics.get("status")
    if status not in FIT_STATUSES:
        raise ResultFileError(f"igae: {path}: status = {status!r}, expected one of {FIT_STATUSES}; re-score the run")
    stop_reason = metrics.get("stop_reason")
    if stop_reason not in STOP_REASONS:
        raise ResultFileError(f"igae: {path}: stop_reason = {stop_reason!r}, expected one of {STOP_REASONS}")
    converged = metrics.get("converged")
    return {
        "status": status,
        "floor_psnr": _number(metrics.get("floor") or {}, "floor_psnr", path, "floor."),
        "curve_final_psnr": float(curve[-1]["psnr"]) if curve else math.nan,
        "curve_delta_db": _number(metrics, "curve_delta_db", path, optional=True),
        "converged": pd.NA if converged is None else bool(converged),
        "stop_reason": stop_reason,
        "steps": int(_number(metrics, "steps", path)),
        "step_cap": int(_number(metrics, "step_cap", path)),
    }


def _check_one_protocol(protocols: dict[Path, str | None]) -> None:
    """Raise when the runs ({metrics.json: protocol name}) were scored under more than one metric protocol."""
    by_name: dict[str | None, list[Path]] = {}
    for path, name in protocols.items():
        by_name.setdefault(name, []).append(path)
    if len(by_name) > 1:
        listing = "; ".join(f"{name or 'no protocol'}: {', '.join(map(str, paths))}" for name, paths in by_name.items())
        raise ResultFileError(
            f"igae: the runs were scored under different metric protocols ({listing}); their numbers do not compare. "
            "Re-score the older runs from their saved renders: igae score <run folder> ..."
        )


def latent_nvs_table(run_dirs: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Tab. 2: one row per run folder (latent and RGB), with the decoded-RGB metrics on the eval views.

    ``seed`` is the fitting seed; ``status`` is ``failed`` when the PSNR is below the scene's ``floor_psnr`` (the
    best of its white background and its mean train image: :func:`igae.scenes.floor.scene_floor`), which the tables,
    claims and figures then treat as no result; ``curve_final_psnr``, ``curve_delta_db``, ``converged``,
    ``stop_reason``, ``steps`` and ``step_cap`` say how far the fit trained and why it stopped. Raises when the runs
    were scored under different metric protocols.
    """
    rows, protocols = [], {}
    for run_dir in map(Path, run_dirs):
        metrics = _read_run_metrics(run_dir)
        path = run_dir / "metrics.json"
        protocol = metrics.get("protocol")
        protocols[path] = protocol.get("name") if isinstance(protocol, dict) else None
        mean, latent_mean = metrics["mean"], metrics.get("latent_mean") or {}
        seed = _run_unit(metrics, run_dir)[3]
        rows.append(
            {
                "method": str(metrics["method"]),
                "dataset": str(metrics["dataset"]),
                "scene": str(metrics["scene"]),
                "space": metrics["space"],
                "autoencoder": metrics.get("autoencoder") or "",
                "psnr": _number(mean, "psnr", path, "mean."),
                "ssim": _number(mean, "ssim", path, "mean."),
                "lpips": _number(mean, "lpips", path, "mean.", optional=True),
                "lpips_reason": metrics.get("lpips_reason") or "",
                "latent_psnr": _number(latent_mean, "psnr", path, "latent_mean.", optional=True),
                "latent_ssim": _number(latent_mean, "ssim", path, "latent_mean.", optional=True),
                "latent_rel_mse": _number(latent_mean, "rel_mse", path, "latent_mean.", optional=True),
                "ae_psnr": _number(metrics.get("ae_mean") or {}, "psnr", path, "ae_mean.", optional=True),
                "vs_ae_psnr": _number(metrics.get("vs_ae_mean") or {}, "psnr", path, "vs_ae_mean.", optional=True),
                "n_views": len(metrics["per_image"]),
                "seed": pd.NA if seed is None else seed,
                **_curve_columns(metrics, path),
                **_provenance_columns(metrics, path),
            }
        )
    _check_one_protocol(protocols)
    table = pd.DataFrame(rows, columns=LATENT_NVS_COLUMNS)
    return table.astype({"seed": "Int64", "converged": "boolean", "steps": "Int64", "step_cap": "Int64"})


def _read_run_timing(run_dir: Path, metrics: dict[str, Any]) -> dict[str, Any]:
    path = run_dir / "timing.json"
    timing = read_result_json(path, ["train_seconds", "iterations", "render_ms_per_view"])
    device = timing.get("device")
    if device is None:  # written before timing.json named its device: the run's provenance says where it ran
        device = device_from_description((metrics.get("provenance") or {}).get("device"))
    elif not isinstance(device, str) or not device:
        raise ResultFileError(f"igae: {path}: device = {device!r}, expected 'cpu' or 'cuda:<GPU name>'")
    return {
        "device": device,
        "train_s": _number(timing, "train_seconds", path),
        "iterations": int(_number(timing, "iterations", path)),
        "render_ms": _number(timing, "render_ms_per_view", path),
        "decode_ms": _number(timing, "decode_ms_per_view", path, optional=True),
        "peak_memory_mb": _number(timing, "peak_memory_mb", path, optional=True),
        "curve": _curve(metrics, run_dir / "metrics.json"),
        "stop_reason": metrics.get("stop_reason"),
        "status": metrics.get("status"),
    }


def seconds_to_reach(curve: list[dict[str, Any]], psnr: float) -> float:
    """Training seconds at which ``curve`` first reaches ``psnr`` (dB), interpolated linearly between the two curve
    points around the crossing (from 0 s before the first point); NaN when it never does."""
    previous_seconds, previous_psnr = 0.0, -math.inf
    for point in curve:
        if point["psnr"] >= psnr:
            if math.isinf(previous_psnr):
                return float(point["train_seconds"])
            share = (psnr - previous_psnr) / (point["psnr"] - previous_psnr)
            return previous_seconds + share * (point["train_seconds"] - previous_seconds)
        previous_seconds, previous_psnr = float(point["train_seconds"]), float(point["psnr"])
    return math.nan


def quality_timing(latent_curve: list[dict[str, Any]], rgb_curve: list[dict[str, Any]]) -> dict[str, float]:
    """Train time at a fixed quality: the PSNR both fits reach (the lower of their final curve points), and the
    training seconds each took to first reach it (:func:`seconds_to_reach`); their ratio RGB / latent.

    Fits that stop adaptively stop at different steps for different reasons, so their total train times compare
    unlike work; the time to one quality both reach compares like with like. NaN without both curves."""
    if not latent_curve or not rgb_curve:
        return dict.fromkeys(("quality_target_psnr", "latent_s_to_target", "rgb_s_to_target",
                              "train_speedup_at_quality"), math.nan)  # fmt: skip
    target = min(latent_curve[-1]["psnr"], rgb_curve[-1]["psnr"])
    latent_s, rgb_s = seconds_to_reach(latent_curve, target), seconds_to_reach(rgb_curve, target)
    return {
        "quality_target_psnr": target,
        "latent_s_to_target": latent_s,
        "rgb_s_to_target": rgb_s,
        "train_speedup_at_quality": rgb_s / latent_s if latent_s > 0 else math.nan,
    }


def _run_unit(metrics: dict[str, Any], run_dir: Path) -> tuple:
    """(method, dataset, scene, seed) of a run; seed None (pd.NA in a table) for runs that did not record one."""
    seed = None if metrics.get("seed") is None else int(_number(metrics, "seed", run_dir / "metrics.json"))
    return str(metrics["method"]), str(metrics["dataset"]), str(metrics["scene"]), seed


def timing_table(
    latent_run_dirs: Iterable[str | os.PathLike], rgb_run_dirs: Iterable[str | os.PathLike]
) -> pd.DataFrame:
    """Tab. 5: each latent run beside the RGB run of the same (method, dataset, scene, seed) and device, with the
    speed-ups.

    train_speedup = rgb_train_s / latent_train_s (whole fits, which may have stopped at different steps for different
    reasons: ``latent_stop_reason``, ``rgb_stop_reason``); step_speedup = RGB s per step / latent s per step;
    train_speedup_at_quality = rgb_s_to_target / latent_s_to_target, the training seconds each took to reach the PSNR
    both reach (:func:`quality_timing`), what the claim latent_trains_faster tests; render_speedup = rgb_render_ms /
    (latent_render_ms + latent_decode_ms): a latent view is only an image once decoded. ``latent_status`` and
    ``rgb_status``: ``failed`` fits (below their scene's floor) are no quality to time, and the claims leave them out.
    ``device`` (``cpu``, ``cuda:<GPU name>``) is the latent run's: an RGB run on another device is never its
    partner, nor is a run whose device is unknown. A latent run without an RGB partner keeps its row with empty RGB
    columns and speed-ups.
    """
    rgb_runs: dict[tuple, dict[str, Any]] = {}
    for run_dir in map(Path, rgb_run_dirs):
        metrics = _read_run_metrics(run_dir)
        timing = _read_run_timing(run_dir, metrics)
        key = (*_run_unit(metrics, run_dir), timing["device"])
        if key in rgb_runs and timing["device"] != UNKNOWN_DEVICE:
            raise ResultFileError(f"igae: {run_dir} and {rgb_runs[key]['dir']} are both the RGB run of {key}")
        rgb_runs[key] = {"dir": run_dir, **timing}
    rows = []
    for run_dir in map(Path, latent_run_dirs):
        metrics = _read_run_metrics(run_dir)
        latent = _read_run_timing(run_dir, metrics)
        key = (*_run_unit(metrics, run_dir), latent["device"])
        rgb = rgb_runs.get(key, {}) if latent["device"] != UNKNOWN_DEVICE else {}
        rgb_train_s, rgb_render_ms = rgb.get("train_s", math.nan), rgb.get("render_ms", math.nan)
        latent_decode_ms = 0.0 if math.isnan(latent["decode_ms"]) else latent["decode_ms"]
        latent_step_s = latent["train_s"] / latent["iterations"]
        rgb_step_s = rgb_train_s / rgb["iterations"] if rgb else math.nan
        rows.append(
            {
                "method": key[0],
                "dataset": key[1],
                "scene": key[2],
                "seed": key[3],
                "autoencoder": metrics.get("autoencoder") or "",
                "device": latent["device"],
                "latent_train_s": latent["train_s"],
                "rgb_train_s": rgb_train_s,
                "latent_render_ms": latent["render_ms"],
                "latent_decode_ms": latent_decode_ms,
                "rgb_render_ms": rgb_render_ms,
                "train_speedup": rgb_train_s / latent["train_s"] if latent["train_s"] > 0 else math.nan,
                "render_speedup": rgb_render_ms / (latent["render_ms"] + latent_decode_ms)
                if latent["render_ms"] + latent_decode_ms > 0
                else math.nan,
                "iterations": latent["iterations"],
                "rgb_iterations": rgb.get("iterations", pd.NA),
                "step_speedup": rgb_step_s / latent_step_s if latent_step_s > 0 else math.nan,
                **quality_timing(latent["curve"], rgb.get("curve", [])),
                "latent_stop_reason": latent["stop_reason"],
                "rgb_stop_reason": rgb.get("stop_reason", ""),
                "latent_status": latent["status"],
                "rgb_status": rgb.get("status", ""),
                "latent_peak_memory_mb": latent["peak_memory_mb"],
                "rgb_peak_memory_mb": rgb.get("peak_memory_mb", math.nan),
                **_provenance_columns(metrics, run_dir / "metrics.json"),
            }
        )
    table = pd.DataFrame(rows, columns=TIMING_COLUMNS)
    return table.astype({"seed": "Int64", "rgb_iterations": "Int64"})


def ablation_table(latent_nvs: pd.DataFrame, main: Sequence[str], variants: Sequence[str]) -> pd.DataFrame:
    """Ablation: each AE variant beside the main AEs, over the scenes of each (method, dataset) the variants ran.

    One row per (method, dataset, autoencoder) with the mean over scenes (``psnr_std`` across scenes) of the fits that
    did not fail (``n_scenes`` of them; ``n_failed`` fits below their scene's floor are left out); ``role`` is
    ``main`` or ``variant``. Only the methods some variant was fitted with appear. Empty when there are no variants.
    """
    latent = latent_nvs[(latent_nvs["space"] == "latent") & latent_nvs["autoencoder"].isin([*main, *variants])]
    ablated_methods = latent.loc[latent["autoencoder"].isin(variants), "method"].unique()
    latent = latent[latent["method"].isin(ablated_methods)]
    if latent.empty:
        return pd.DataFrame(columns=ABLATION_COLUMNS)
    latent = latent.assign(failed=latent["status"] == "failed")
    counts = latent.groupby(["method", "dataset", "autoencoder"], sort=False)["failed"].sum()
    grouped = latent[~latent["failed"]].groupby(["method", "dataset", "autoencoder"], sort=False)
    table = grouped.agg(
        n_scenes=("scene", "nunique"),
        psnr=("psnr", "mean"),
        psnr_std=("psnr", "std"),
        ssim=("ssim", "mean"),
        latent_rel_mse=("latent_rel_mse", "mean"),
        ae_psnr=("ae_psnr", "mean"),
        ae_sha256=("ae_sha256", "first"),
    ).reset_index()
    table = table.set_index(["method", "dataset", "autoencoder"]).reindex(counts.index).reset_index()
    table["n_failed"] = counts.to_numpy().astype(int)
    table["n_scenes"] = table["n_scenes"].fillna(0).astype(int)
    table["role"] = ["variant" if ae in variants else "main" for ae in table["autoencoder"]]
    return table[ABLATION_COLUMNS]


def write_tables(
    ae_eval_files: Iterable[str | os.PathLike],
    latent_run_dirs: Iterable[str | os.PathLike],
    rgb_run_dirs: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike = layout.TABLES,
    skipped: dict[str, str] | None = None,
    ablation: dict[str, Sequence[str]] | None = None,
) -> dict[str, Path]:
    """Write ae_reconstruction.csv, latent_nvs.csv, timing.csv and ablation.csv into ``out_dir`` atomically.

    Returns their paths. ``ablation``: ``{"main": [AE names], "variants": [AE names]}`` (see :func:`ablation_table`).

    ``skipped``: {method: reason} of methods that could not run here (e.g. GPU-only ones on a CPU): each gets a
    latent_nvs row with empty metrics and the reason in ``note``, so their absence is visible, not silent.
    All tables are built before any file is written, so a malformed input leaves the previous tables untouched.
    """
    latent_run_dirs, rgb_run_dirs = list(latent_run_dirs), list(rgb_run_dirs)
    latent_nvs = latent_nvs_table([*latent_run_dirs, *rgb_run_dirs])
    if skipped:
        notes = pd.DataFrame([{"method": method, "note": f"skipped: {reason}"} for method, reason in skipped.items()])
        latent_nvs = pd.concat([latent_nvs, notes.reindex(columns=LATENT_NVS_COLUMNS)], ignore_index=True)
    tables = {
        "ae_reconstruction": ae_reconstruction_table(ae_eval_files),
        "latent_nvs": latent_nvs,
        "timing": timing_table(latent_run_dirs, rgb_run_dirs),
        "ablation": ablation_table(latent_nvs, **(ablation or {"main": [], "variants": []})),
    }
    out = Path(out_dir)
    return {name: atomic_write_text(out / f"{name}.csv", table.to_csv(index=False)) for name, table in tables.items()}
