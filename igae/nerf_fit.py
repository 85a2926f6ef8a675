"""Fit one nerfstudio method on one scene, in latent or RGB space, then evaluate the final model on every eval view.

A run folder holds ``metrics.json``, ``timing.json``, ``renders/`` (decoded RGB renders of the eval views) and
``nerfstudio/`` (the trainer's config and checkpoint, loadable with nerfstudio's own loaders). It is written into a
temporary sibling and renamed at the end, so an interrupted run never leaves a folder that looks like a result.
"""

from __future__ import annotations

import contextlib
import random
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from nerfstudio.engine.callbacks import TrainingCallbackLocation
from PIL import Image

from igae.latent_nerf.method_configs import TwoStageSchedule, trainer_config
from igae.metrics import DEFAULT_PROTOCOL, image_metrics, lpips_status, read_rgb, summarize
from igae.provenance import atomic_folder, atomic_write_json, file_sha256, provenance
from igae.timing import IterationTimer, median_time_ms, peak_memory_mb


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(trainer, total_steps: int, device, log=print, log_every: int = 50) -> dict:
    """nerfstudio's training loop (callbacks before and after each iteration), timing each iteration alone."""
    timer = IterationTimer(device)
    pipeline = trainer.pipeline
    for step in range(total_steps):
        stage = "align" if getattr(pipeline, "in_stage_2", lambda s: False)(step) else "fit"
        for callback in trainer.callbacks:
            callback.run_callback_at_location(step, location=TrainingCallbackLocation.BEFORE_TRAIN_ITERATION)
        with timer.iteration(stage):
            loss, loss_dict, _ = trainer.train_iteration(step)
        for callback in trainer.callbacks:
            callback.run_callback_at_location(step, location=TrainingCallbackLocation.AFTER_TRAIN_ITERATION)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {step}: {loss_dict}")
        if step % log_every == 0 or step == total_steps - 1:
            losses = ", ".join(f"{k}={v.item():.5f}" for k, v in loss_dict.items())
            log(f"step {step:5d}/{total_steps} [{stage}] {losses}")
    return {"train_seconds": timer.total_seconds, "iterations": total_steps, "stage_seconds": timer.stage_seconds}


@torch.no_grad()
def evaluate(pipeline, space: str, out_dir: Path, device) -> tuple[list[dict], dict]:
    """Render every eval view of the final model, decode latents, score against the ground truth, save PNGs."""
    pipeline.eval()
    renders_dir = out_dir / "renders"
    renders_dir.mkdir(parents=True, exist_ok=True)
    latent_only = pipeline.latent_renders_only() if space == "latent" else contextlib.nullcontext()
    with latent_only:
        per_image, render_ms, decode_ms = _evaluate_views(pipeline, space, renders_dir, device)
    timing = {
        "render_ms_per_view": float(np.median(render_ms)),
        "decode_ms_per_view": float(np.median(decode_ms)) if decode_ms else 0.0,
    }
    return per_image, timing


def _evaluate_views(pipeline, space: str, renders_dir: Path, device) -> tuple[list[dict], list[float], list[float]]:
    model, dataset = pipeline.model, pipeline.datamanager.eval_dataset
    data_dir = Path(dataset.image_filenames[0]).parent.parent
    per_image, render_ms, decode_ms = [], [], []
    for index in range(len(dataset)):
        camera = dataset.cameras[index : index + 1].to(device)
        start = time.perf_counter()
        rendered = model.get_outputs_for_camera(camera)["rgb"]  # (h, w, C) latent or (H, W, 3) RGB, in [0, 1]
        # the first render warms up; renders slower than a second (RGB vanilla-nerf on a CPU: ~20 s) are timed once
        repeats = 2 if time.perf_counter() - start < 1.0 else 1
        render = lambda cam=camera: model.get_outputs_for_camera(cam)  # noqa: E731
        render_ms.append(median_time_ms(render, warmup=0, repeats=repeats, device=device))
        view = Path(dataset.image_filenames[index]).relative_to(data_dir).as_posix()
        if space == "latent":
            decode_ms.append(
                median_time_ms(lambda r=rendered: pipeline.decode_latent_image(r), warmup=1, repeats=3, device=device)
            )
            row, rendered = pipeline.score_eval_view(index, rendered)
        else:
            row = image_metrics(rendered.clamp(0, 1), read_rgb(dataset.image_filenames[index]).to(rendered.device))
        row = {"view": view, **row}
        per_image.append(row)
        image = (rendered.clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)
        Image.fromarray(image).save(renders_dir / Path(row["view"]).name)
    return per_image, render_ms, decode_ms


def fit(
    space: str,
    method: str,
    scene: Path,
    out_dir: Path,
    schedule: TwoStageSchedule,
    autoencoder: Path | None = None,
    latents: Path | None = None,
    model_overrides: dict | None = None,
    seed: int = 1234,
    device: str = "cpu",
    labels: dict | None = None,
    config_for_provenance: dict | None = None,
    log=print,
) -> dict:
    """Train, evaluate and write one run folder. ``labels``: dataset/scene/autoencoder names for the tables."""
    out_dir = Path(out_dir).resolve()
    with atomic_folder(out_dir) as tmp:
        seed_everything(seed)
        config = trainer_config(
            space,
            method,
            schedule,
            scene=Path(scene).resolve(),
            autoencoder=Path(autoencoder).resolve() if autoencoder else None,
            latents=Path(latents).resolve() if latents else None,
            model_overrides=model_overrides,
            output_dir=tmp,
            seed=seed,
        )
        config.machine.device_type = "cuda" if str(device).startswith("cuda") else "cpu"
        # AMP (and its CUDA grad scaler) only where the official configs use it and the device is a GPU
        config.mixed_precision = config.mixed_precision and config.machine.device_type == "cuda"
        config.experiment_name, config.timestamp = "nerfstudio", ""
        trainer = config.setup(local_rank=0, world_size=1)
        trainer.setup()
        datamanager = trainer.pipeline.datamanager
        log(
            f"{space} {method} on {scene}: {schedule.total_steps} steps ({len(datamanager.train_dataset)} train "
            f"views, {len(datamanager.eval_dataset)} eval views)"
        )
        timing = train(trainer, schedule.total_steps, device, log=log)
        trainer.save_checkpoint(schedule.total_steps - 1)
        # nerfstudio's config.yml, written for where the run folder will be, so ns-eval / ns-render load it from there
        config.output_dir = out_dir
        (tmp / config.get_base_dir().relative_to(out_dir) / "config.yml").write_text(yaml.dump(config), "utf8")
        per_image, eval_timing = evaluate(trainer.pipeline, space, tmp, device)
        mean = summarize(per_image)
        timing.update(eval_timing, peak_memory_mb=peak_memory_mb(device))
        ae_sha = trainer.pipeline.card.sha256 if space == "latent" else None
        lpips_ok, lpips_reason = lpips_status()
        result = {
            "space": space,
            "method": method,
            **(labels or {}),
            "per_image": per_image,
            "mean": {key: mean[key] for key in ("psnr", "ssim", "lpips")},
            "latent_mean": {key: mean[f"latent_{key}"] for key in ("psnr", "ssim", "rel_mse")}
            if space == "latent"
            else {},
            "ae_mean": {key: mean[f"ae_{key}"] for key in ("psnr", "ssim", "lpips")} if space == "latent" else {},
            "vs_ae_mean": {key: mean[f"vs_ae_{key}"] for key in ("psnr", "ssim", "lpips")} if space == "latent" else {},
            "lpips_reason": None if lpips_ok else lpips_reason,
            "protocol": DEFAULT_PROTOCOL.as_dict(),
            "schedule": vars(schedule),
            "seed": seed,
            "latents_sha256": file_sha256(latents) if latents else None,
            "provenance": provenance(config_for_provenance or {}, ae_sha256=ae_sha),
        }
        atomic_write_json(tmp / "metrics.json", result)
        atomic_write_json(tmp / "timing.json", timing)
    log(
        f"done: PSNR {result['mean']['psnr']:.2f} dB, train {timing['train_seconds']:.1f} s, "
        f"render {timing['render_ms_per_view']:.1f} ms + decode {timing['decode_ms_per_view']:.1f} ms per view"
    )
    return result
