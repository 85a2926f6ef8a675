"""Scoring a run folder from its saved renders: the metrics of a fit, re-computable without re-training.

``igae fit`` trains, then saves every eval view's final render losslessly in the run folder (:func:`save_eval_renders`)
and scores that file (:func:`score_run`); ``igae score <run>`` runs the same scoring again, e.g. after a change of the
metric protocol (:mod:`igae.metrics`), and rewrites ``metrics.json`` in place. Scoring reads only the run folder and the
scene's ground-truth images, always on the CPU, so a run scores to the same numbers wherever and whenever it is scored.

``renders/eval.safetensors`` (:data:`RENDERS_FILE`), float32 tensors as the final model produced them (not clamped,
not rounded), one per view and kind, named ``{kind}/{view}`` (e.g. ``rgb/images/r_000.png``):

- ``rgb``: (H, W, 3), the image scored against the ground truth (an RGB run's render; a latent run's decoded render);
- latent runs also: ``latent`` (h, w, C), the rendered latent in the normaliser's [0, 1] space; ``encoded`` (h, w, C),
  the encoded latent E(x) it was trained on, same space; ``reconstruction`` (H, W, 3), D(E(x)) with the run's final
  (fine-tuned) decoder.

Its string metadata: ``format`` (:data:`RENDERS_FORMAT`), ``space``, ``scene`` (the scene folder, relative to the run
folder), ``views`` (JSON list of the frames' ``file_path``) and ``ground_truth_sha256`` (JSON {view: sha256}, so that a
scene changed since the fit is refused rather than scored). Size: 12 bytes per RGB pixel, 4 per latent value: a 128 px
view takes 192 KiB in an RGB run, 416 KiB in a latent run with 16x16x16 latents (2 images + 2 latents); the default
config's 3 eval views make 0.6 MiB (RGB) and 1.2 MiB (latent) per run. Beside it, ``renders/{stem}.png`` are 8-bit
previews for the figures; they are never scored.

Not re-scorable: the convergence curve (``curve`` in metrics.json) is measured on the model *during* training
(:class:`igae.nerf.fit.ConvergenceProbe`); :func:`score_run` keeps it as the fit recorded it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save as safetensors_bytes

from igae.files import atomic_write_bytes, atomic_write_json, file_sha256
from igae.metrics import (
    DEFAULT_PROTOCOL,
    MetricProtocol,
    image_metrics,
    latent_metrics,
    lpips_status,
    read_rgb,
    summarize,
)
from igae.nerf.registry import Space
from igae.scenes.floor import scene_floor

RENDERS_FILE = "renders/eval.safetensors"
"""The lossless eval renders of a run, relative to the run folder."""
RENDERS_FORMAT = "igae-eval-renders-1"
"""Version of the layout of :data:`RENDERS_FILE`; change it whenever the layout changes."""
SCORING_DEVICE = "cpu"
"""Where runs are scored: the CPU, so that the numbers do not depend on the GPU a run was fitted on."""
SCORE_KEYS = (
    "per_image", "mean", "latent_mean", "ae_mean", "vs_ae_mean", "lpips_reason", "floor", "status", "protocol",
    "scoring",
)  # fmt: skip
"""The metrics.json fields :func:`score_run` writes; every other field (labels, curve, provenance...) is the fit's."""
LATENT_KINDS = ("latent", "encoded", "reconstruction")
FIT_STATUSES = ("ok", "failed")
"""``status`` of a scored run: ``failed`` when its eval PSNR is below its scene's floor
(:func:`igae.scenes.floor.scene_floor`)."""


@dataclass
class EvalRender:
    """One eval view of the final model, as saved in :data:`RENDERS_FILE` (tensors on any device, any float dtype)."""

    view: str
    """The frame's ``file_path`` in the scene, e.g. ``images/r_000.png``."""
    rgb: torch.Tensor
    """(H, W, 3): the image scored against the ground truth; a latent run's decoded render."""
    latent: torch.Tensor | None = None
    """Latent runs: (h, w, C) rendered latent, normaliser space [0, 1]."""
    encoded: torch.Tensor | None = None
    """Latent runs: (h, w, C) encoded latent E(x), the stage-1 target, same space."""
    reconstruction: torch.Tensor | None = None
    """Latent runs: (H, W, 3) D(E(x)) with the run's final decoder (the autoencoder's own bound)."""


def save_eval_renders(
    run_dir: str | os.PathLike,
    space: Space,
    scene_dir: str | os.PathLike,
    renders: list[EvalRender],
    relative_to: str | os.PathLike | None = None,
) -> Path:
    """Write :data:`RENDERS_FILE` and the 8-bit previews ``renders/{stem}.png`` into ``run_dir``. Returns the file.

    ``relative_to``: the folder the run will finally live in (``run_dir`` itself unless the run is being built in a
    temporary sibling); the scene is recorded relative to it.
    """
    run_dir, scene_dir = Path(run_dir), Path(scene_dir).resolve()
    tensors = {}
    for render in renders:
        kinds = {"rgb": render.rgb} | ({k: getattr(render, k) for k in LATENT_KINDS} if space == Space.LATENT else {})
        for kind, tensor in kinds.items():
            if tensor is None:
                raise ValueError(f"igae: latent run render of {render.view} has no {kind} tensor")
            tensors[f"{kind}/{render.view}"] = tensor.detach().float().cpu().contiguous()
    metadata = {
        "format": RENDERS_FORMAT,
        "space": space,
        "scene": os.path.relpath(scene_dir, Path(relative_to or run_dir).resolve()),
        "views": json.dumps([render.view for render in renders]),
        "ground_truth_sha256": json.dumps({render.view: file_sha256(scene_dir / render.view) for render in renders}),
    }
    path = atomic_write_bytes(run_dir / RENDERS_FILE, safetensors_bytes(tensors, metadata=metadata))
    for render in renders:  # previews: rounded to 8 bits, for figures only
        image = (render.rgb.detach().clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)  # (H, W, 3)
        Image.fromarray(image).save(path.parent / f"{Path(render.view).stem}.png")
    return path


def load_eval_renders(run_dir: str | os.PathLike) -> tuple[dict[str, Any], list[EvalRender]]:
    """Metadata (views and hashes parsed from JSON) and the renders of a run's :data:`RENDERS_FILE`, on the CPU."""
    path = Path(run_dir) / RENDERS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"igae: {path} does not exist: {run_dir} has no lossless eval renders (runs fitted before they were saved "
            "have none), so it cannot be re-scored; fit it again"
        )
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        if metadata.get("format") != RENDERS_FORMAT:
            raise ValueError(f"format = {metadata.get('format')!r}, expected {RENDERS_FORMAT!r}")
        metadata["views"] = json.loads(metadata["views"])
        metadata["ground_truth_sha256"] = json.loads(metadata["ground_truth_sha256"])
        kinds = ("rgb", *LATENT_KINDS) if metadata["space"] == Space.LATENT else ("rgb",)
        renders = [
            EvalRender(view, **{kind: tensors[f"{kind}/{view}"] for kind in kinds}) for view in metadata["views"]
        ]
    except Exception as error:
        raise ValueError(f"igae: {path} is not a valid eval renders file ({type(error).__name__}: {error})") from error
    return metadata, renders


def latent_view_row(
    latent: torch.Tensor,
    encoded: torch.Tensor,
    decoded: torch.Tensor,
    reconstruction: torch.Tensor,
    target: torch.Tensor,
    protocol: MetricProtocol = DEFAULT_PROTOCOL,
) -> dict[str, float | None]:
    """The four metric families of one latent-run eval view (the official extension's).

    latent_*: rendered vs encoded latent, (h, w, C) each (PSNR/SSIM, + MSE relative to the latents' variance,
    comparable across AEs whose latents have other scales); psnr/ssim/lpips: decoded render vs ground truth, (H, W, 3)
    each (the NVS metric); ae_*: D(E(x)) vs ground truth (the AE's own bound); vs_ae_*: decoded render vs D(E(x)).
    """
    decoded, reconstruction = decoded.clamp(0, 1), reconstruction.clamp(0, 1)
    row = {f"latent_{k}": v for k, v in latent_metrics(latent, encoded, protocol).items()}
    row["latent_rel_mse"] = (((latent - encoded) ** 2).mean() / encoded.var()).item()
    row.update(image_metrics(decoded, target, protocol))
    row.update({f"ae_{k}": v for k, v in image_metrics(reconstruction, target, protocol).items()})
    row.update({f"vs_ae_{k}": v for k, v in image_metrics(decoded, reconstruction, protocol).items()})
    return row


def _scene_dir(run_dir: Path, metadata: dict[str, Any], scene: str | os.PathLike | None) -> Path:
    """The scene folder: ``scene`` when given, else the one recorded relative to the run folder."""
    scene_dir = Path(scene) if scene is not None else (run_dir / metadata["scene"]).resolve()
    if not scene_dir.is_dir():
        raise FileNotFoundError(
            f"igae: {run_dir}: the scene folder {scene_dir} does not exist (recorded in {RENDERS_FILE} relative to "
            "the run folder); pass the scene's folder (igae score --scene <folder>)"
        )
    return scene_dir


def fit_status(psnr_value: float, floor: dict[str, float]) -> str:
    """``failed`` when a fit's eval PSNR is below its scene's ``floor_psnr`` (no better than ignoring the camera), else
    ``ok``."""
    return "failed" if psnr_value < floor["floor_psnr"] else "ok"


def score_renders(
    run_dir: str | os.PathLike,
    scene: str | os.PathLike | None = None,
    protocol: MetricProtocol = DEFAULT_PROTOCOL,
) -> dict[str, Any]:
    """The score fields of metrics.json (:data:`SCORE_KEYS`) from a run's saved renders and its scene's ground truth.

    Raises when a ground-truth image is missing or differs from the one the run was fitted on (its sha256).
    """
    run_dir = Path(run_dir)
    metadata, renders = load_eval_renders(run_dir)
    scene_dir = _scene_dir(run_dir, metadata, scene)
    space = metadata["space"]
    per_image = []
    with torch.no_grad():
        for render in renders:
            ground_truth = scene_dir / render.view
            if not ground_truth.is_file():
                raise FileNotFoundError(f"igae: {ground_truth} does not exist: the ground truth of view {render.view}")
            if file_sha256(ground_truth) != metadata["ground_truth_sha256"][render.view]:
                raise ValueError(
                    f"igae: {ground_truth} is not the image {run_dir} was fitted on (its sha256 differs from the one "
                    f"in {RENDERS_FILE}): the scene changed since the fit; re-fit the run, or pass --scene"
                )
            target = read_rgb(ground_truth)  # (H, W, 3) in [0, 1]
            if space == Space.LATENT:
                row = latent_view_row(
                    render.latent, render.encoded, render.rgb, render.reconstruction, target, protocol
                )
            else:
                row = image_metrics(render.rgb.clamp(0, 1), target, protocol)
            per_image.append({"view": render.view, **row})
    mean = summarize(per_image)

    def family(prefix: str, keys: tuple[str, ...]) -> dict[str, float | None]:  # a latent run's metric family, means
        return {key: mean[f"{prefix}{key}"] for key in keys} if space == Space.LATENT else {}

    lpips_ok, lpips_reason = lpips_status()
    floor = scene_floor(scene_dir)
    return {
        "per_image": per_image,
        "mean": {key: mean[key] for key in ("psnr", "ssim", "lpips")},
        "latent_mean": family("latent_", ("psnr", "ssim", "rel_mse")),
        "ae_mean": family("ae_", ("psnr", "ssim", "lpips")),
        "vs_ae_mean": family("vs_ae_", ("psnr", "ssim", "lpips")),
        "lpips_reason": None if lpips_ok else lpips_reason,
        "floor": floor,
        "status": fit_status(mean["psnr"], floor),
        "protocol": protocol.as_dict(),
        "scoring": {
            "renders": RENDERS_FILE,
            "renders_sha256": file_sha256(run_dir / RENDERS_FILE),
            "device": SCORING_DEVICE,
        },
    }


def score_run(
    run_dir: str | os.PathLike,
    scene: str | os.PathLike | None = None,
    fit_record: dict[str, Any] | None = None,
    protocol: MetricProtocol = DEFAULT_PROTOCOL,
) -> dict[str, Any]:
    """Score a run folder's saved renders and write its ``metrics.json`` atomically; returns what it wrote.

    ``fit_record``: the fit's own fields (labels, curve, schedule, provenance...), as ``igae fit`` passes them; by
    default they are read from the run's metrics.json, whose score fields (:data:`SCORE_KEYS`) are replaced.
    ``scene``: the scene folder, when it is not where the run recorded it.
    """
    run_dir = Path(run_dir)
    path = run_dir / "metrics.json"
    if fit_record is None:
        if not path.is_file():
            raise FileNotFoundError(f"igae: {path} does not exist: {run_dir} is not a run folder of igae fit")
        try:
            fit_record = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"igae: {path} is not valid JSON ({error})") from error
    scores = score_renders(run_dir, scene, protocol)
    fit_fields = {key: value for key, value in fit_record.items() if key not in SCORE_KEYS}
    # score fields where a fit puts them (after the labels), so a re-scored file reads like a fitted one
    labels = {k: fit_fields.pop(k) for k in ("space", "method", "dataset", "scene", "autoencoder") if k in fit_fields}
    result = {**labels, **scores, **fit_fields}
    atomic_write_json(path, result)
    return result
