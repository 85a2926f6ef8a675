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
     "converged": true | false | null,    # training (igae.nerf_fit.ConvergenceProbe); igae.convergence.is_converged
     "lpips_reason": null | "...", "protocol": {...}, "provenance": {...},
     "scoring": {"renders": "renders/eval.safetensors", "renders_sha256": ..., "device": "cpu"}}

  The metric fields (per_image, the means, lpips_reason, protocol, scoring) are written by ``igae.scoring.score_run``
  from the saved renders, at the end of the fit or later by ``igae score <run>``; the others are the fit's. Runs fitted
  before renders were saved losslessly have no ``scoring`` and cannot be re-scored.

- ``timing.json``::

    {"train_seconds": 36.2, "iterations": 2000, "stage_seconds": {"latent": 20.1, "align": 16.1},
     "render_ms_per_view": 12.0, "decode_ms_per_view": 3.1 (0 for RGB runs), "peak_memory_mb": 812.0 | null,
     "device": "cpu" | "cuda:NVIDIA H200"}   # igae.timing.device_label; older runs lack it: then the device comes
                                            # from metrics.json's provenance.device, else it is "unknown"

- ``renders/eval.safetensors``: every eval view's final render, float32 (latent runs: also the rendered and encoded
  latents and D(E(x))), what the metrics are computed from (layout in ``igae.scoring``);
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
from igae.convergence import tail_change_db
from igae.provenance import atomic_write_text, versions_string
from igae.timing import UNKNOWN_DEVICE, device_from_description

PROVENANCE_COLUMNS = ["config_hash", "ae_sha256", "versions"]

AE_RECONSTRUCTION_COLUMNS = [
    "autoencoder", "data", "psnr", "ssim", "lpips", "lpips_reason", "n_images", *PROVENANCE_COLUMNS,
]  # fmt: skip
LATENT_NVS_COLUMNS = [
    "method", "dataset", "scene", "space", "autoencoder", "psnr", "ssim", "lpips", "lpips_reason",
    "latent_psnr", "latent_ssim", "latent_rel_mse", "ae_psnr", "vs_ae_psnr", "n_views", "seed", "curve_final_psnr",
    "curve_delta_db", "converged", *PROVENANCE_COLUMNS, "note",
]  # fmt: skip
TIMING_COLUMNS = [
    "method", "dataset", "scene", "seed", "autoencoder", "device", "latent_train_s", "rgb_train_s", "latent_render_ms",
    "latent_decode_ms", "rgb_render_ms", "train_speedup", "render_speedup", "iterations", "rgb_iterations",
    "latent_peak_memory_mb", "rgb_peak_memory_mb", *PROVENANCE_COLUMNS,
]  # fmt: skip

ABLATION_COLUMNS = [
    "method", "dataset", "autoencoder", "role", "n_scenes", "psnr", "psnr_std", "ssim", "latent_rel_mse",
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
            f"igae: {path} lacks {', '.join(missing)} (format documented in igae/tables.py); rerun its stage"
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


def _curve_columns(metrics: dict[str, Any], path: Path) -> dict[str, Any]:
    """curve_final_psnr (the last point), curve_delta_db (the trend's change over the tail of the last stage, what
    ``converged`` was decided from: igae.convergence.tail_change_db) and converged, from the curve."""
    curve = metrics.get("curve") or []
    if not isinstance(curve, list) or not all(isinstance(point, dict) for point in curve):
        raise ResultFileError(f"igae: {path}: curve must be a list of {{step, train_seconds, stage, psnr}} objects")
    for i, point in enumerate(curve):  # both fields the criterion reads, each error naming the point
        _number(point, "psnr", path, f"curve[{i}].")
        _number(point, "step", path, f"curve[{i}].")
    change = tail_change_db(curve)
    converged = metrics.get("converged")
    return {
        "curve_final_psnr": float(curve[-1]["psnr"]) if curve else math.nan,
        "curve_delta_db": math.nan if change is None else change,
        "converged": pd.NA if converged is None else bool(converged),
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

    ``seed`` is the fitting seed; ``curve_final_psnr``, ``curve_delta_db`` and ``converged`` summarise the run's
    convergence curve (empty for runs written before curves were recorded). Raises when the runs were scored under
    different metric protocols.
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
    return table.astype({"seed": "Int64", "converged": "boolean"})


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

    train_speedup = rgb_train_s / latent_train_s; render_speedup = rgb_render_ms / (latent_render_ms +
    latent_decode_ms): a latent view is only an image once decoded. ``device`` (``cpu``, ``cuda:<GPU name>``) is the
    latent run's: an RGB run on another device is never its partner, nor is a run whose device is unknown. A latent
    run without an RGB partner keeps its row with empty RGB columns and speed-ups.
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
                "latent_peak_memory_mb": latent["peak_memory_mb"],
                "rgb_peak_memory_mb": rgb.get("peak_memory_mb", math.nan),
                **_provenance_columns(metrics, run_dir / "metrics.json"),
            }
        )
    table = pd.DataFrame(rows, columns=TIMING_COLUMNS)
    return table.astype({"seed": "Int64", "rgb_iterations": "Int64"})


def ablation_table(latent_nvs: pd.DataFrame, main: Sequence[str], variants: Sequence[str]) -> pd.DataFrame:
    """Ablation: each AE variant beside the main AEs, over the scenes of each (method, dataset) the variants ran.

    One row per (method, dataset, autoencoder) with the mean over scenes (``psnr_std`` across scenes); ``role`` is
    ``main`` or ``variant``. Only the methods some variant was fitted with appear. Empty when there are no variants.
    """
    latent = latent_nvs[(latent_nvs["space"] == "latent") & latent_nvs["autoencoder"].isin([*main, *variants])]
    ablated_methods = latent.loc[latent["autoencoder"].isin(variants), "method"].unique()
    latent = latent[latent["method"].isin(ablated_methods)]
    if latent.empty:
        return pd.DataFrame(columns=ABLATION_COLUMNS)
    grouped = latent.groupby(["method", "dataset", "autoencoder"], sort=False)
    table = grouped.agg(
        n_scenes=("scene", "nunique"),
        psnr=("psnr", "mean"),
        psnr_std=("psnr", "std"),
        ssim=("ssim", "mean"),
        latent_rel_mse=("latent_rel_mse", "mean"),
        ae_psnr=("ae_psnr", "mean"),
        ae_sha256=("ae_sha256", "first"),
    ).reset_index()
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
