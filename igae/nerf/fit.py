"""Fit one nerfstudio method on one scene, in latent or RGB space, then render and score the final model's eval views.

A run folder holds ``metrics.json``, ``timing.json``, ``renders/`` and ``nerfstudio/`` (the trainer's config and
checkpoint, loadable with nerfstudio's own loaders). ``renders/eval.safetensors`` keeps every eval view's final render
losslessly (float32; latent runs: also the rendered and encoded latents and D(E(x))), ``renders/{stem}.png`` are 8-bit
previews for the figures. The metrics are not computed here: :func:`fit` saves the renders and calls
:func:`igae.nerf.scoring.score_run`, which reads them back with the scene's ground truth and writes ``metrics.json``,
exactly as ``igae score <run>`` does later (e.g. under a new metric protocol) without re-training.

Every fit also records its convergence curve (:class:`ConvergenceProbe`): the eval PSNR (decoded, for latent fits)
every ``check_every`` steps of each stage (:meth:`TwoStageSchedule.probe_steps`), on the first :data:`CURVE_VIEWS`
eval views. A latent probe renders the whole 16x16 latent image and decodes it; an RGB probe renders every
:data:`CURVE_PIXEL_STRIDE`-th pixel of each axis (a 128-px vanilla-nerf view costs ~36 s on a CPU, its 32x32 sample
~2 s). The probe runs outside the timed iterations and under a forked RNG, so the fit's numbers are the same with or
without it. The curve is measured on the model while it trains, so it is not re-scorable: ``igae score`` keeps it as
the fit recorded it. A fit is ``converged`` when the least-squares line through the points of the second half of its
last stage changes by less than 0.3 dB over them (:mod:`igae.nerf.convergence`). With ``until_converged`` a fit stops at
the first probe of its last stage where that holds (``stop_reason: converged``), else at its step cap (``cap``);
``steps`` says how many it ran. A run is written into a temporary sibling and renamed at the end, so an
interrupted run never leaves a folder that looks like a result.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import yaml
from nerfstudio.engine.callbacks import TrainingCallbackLocation

from igae.files import atomic_folder, atomic_write_json, file_sha256
from igae.metrics import psnr, read_rgb
from igae.nerf.convergence import is_converged, tail_change_db
from igae.nerf.method_configs import TwoStageSchedule, method_settings, trainer_config
from igae.nerf.registry import Space
from igae.nerf.scoring import EvalRender, save_eval_renders, score_run
from igae.parity import Parity
from igae.provenance import provenance
from igae.timing import IterationTimer, device_label, median_time_ms, peak_memory_mb, reset_peak_memory


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


CURVE_VIEWS = 3
"""Eval views the convergence curve is scored on (the first ones of the split: all of the default's 3)."""
CURVE_PIXEL_STRIDE = 4
"""RGB probes render every 4th pixel of each axis (1/16 of the rays); latent probes render the whole latent image."""


class ConvergenceProbe:
    """The eval PSNR of the model being trained, on a few eval views, cheap enough to call a few times per fit."""

    def __init__(
        self,
        pipeline,
        space: Space,
        device,
        whole_images: bool = False,
        views: int = CURVE_VIEWS,
        stride: int = CURVE_PIXEL_STRIDE,
    ):
        """``whole_images``: the model renders whole cameras only (``MethodSettings.renders_cameras``: splatting), so
        RGB probes render every pixel, as latent probes always do."""
        self.pipeline, self.space, self.device = pipeline, space, device
        self.stride = 1 if space == Space.LATENT or whole_images else stride
        dataset = pipeline.datamanager.eval_dataset
        self.indices = list(range(min(views, len(dataset))))
        data_dir = eval_scene_dir(pipeline)
        self.views = [Path(dataset.image_filenames[i]).relative_to(data_dir).as_posix() for i in self.indices]
        self.targets = [read_rgb(dataset.image_filenames[i]).to(device) for i in self.indices]  # (H, W, 3) each

    @torch.no_grad()
    def __call__(self) -> float:
        """Mean PSNR (dB) over the probe views; the pipeline is put back in training mode, the RNG state restored."""
        pipeline = self.pipeline
        cameras = pipeline.datamanager.eval_dataset.cameras
        with torch.random.fork_rng(devices=[self.device] if str(self.device).startswith("cuda") else []):
            pipeline.eval()
            scores = []
            for index, target in zip(self.indices, self.targets, strict=True):
                camera = cameras[index : index + 1].to(self.device)
                if self.space == Space.LATENT:
                    with pipeline.latent_renders_only():
                        latent = pipeline.model.get_outputs_for_camera(camera)["rgb"]  # (h, w, C)
                    render = pipeline.decode_latent_image(latent)  # (H, W, 3)
                else:
                    render, target = self._strided_render(camera, target)  # (H/s, W/s, 3) each
                scores.append(psnr(render.clamp(0, 1), target).item())
            pipeline.train()
        return float(np.mean(scores))

    def _strided_render(self, camera, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Render every ``stride``-th pixel centre of each axis; the matching ground-truth pixels."""
        if self.stride == 1:
            return self.pipeline.model.get_outputs_for_camera(camera)["rgb"], target
        rows = torch.arange(0, target.shape[0], self.stride, device=self.device)
        cols = torch.arange(0, target.shape[1], self.stride, device=self.device)
        coords = torch.stack(torch.meshgrid(rows, cols, indexing="ij"), -1).float() + 0.5  # (h, w, 2) as (y, x)
        bundle = camera.generate_rays(camera_indices=0, coords=coords, keep_shape=True)
        render = self.pipeline.model.get_outputs_for_camera_ray_bundle(bundle)["rgb"]  # (h, w, 3)
        return render, target[rows][:, cols]


def train(
    trainer,
    steps: int,
    device,
    log=print,
    log_every: int = 50,
    probe: ConvergenceProbe | None = None,
    curve_at: Sequence[int] = (),
    stop_when_converged: bool = False,
    final_stage_start: int = 0,
) -> tuple[dict, list[dict], str]:
    """nerfstudio's training loop (callbacks before and after each iteration) for at most ``steps`` iterations, timing
    each iteration alone.

    With a ``probe``, the eval PSNR is measured after each iteration count of ``curve_at`` (outside the timed
    iterations) into ``curve``: ``[{"step", "train_seconds", "stage", "psnr"}, ...]``. ``stop_when_converged``: stop
    at the first probe of the last stage (from ``final_stage_start``) where the convergence criterion holds
    (:mod:`igae.nerf.convergence`). Returns the timing, the curve and why training stopped (:data:`STOP_REASONS`).
    """
    timer = IterationTimer(device)
    probe_after = set(curve_at) if probe is not None else set()
    curve, stop_reason, done = [], "cap" if stop_when_converged else "fixed", 0
    pipeline = trainer.pipeline
    for step in range(steps):
        stage = "align" if getattr(pipeline, "in_stage_2", lambda s: False)(step) else "fit"
        for callback in trainer.callbacks:
            callback.run_callback_at_location(step, location=TrainingCallbackLocation.BEFORE_TRAIN_ITERATION)
        with timer.iteration(stage):
            loss, loss_dict, _ = trainer.train_iteration(step)
        for callback in trainer.callbacks:
            callback.run_callback_at_location(step, location=TrainingCallbackLocation.AFTER_TRAIN_ITERATION)
        done = step + 1
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {step}: {loss_dict}")
        if step % log_every == 0 or done == steps:
            losses = ", ".join(f"{k}={v.item():.5f}" for k, v in loss_dict.items())
            log(f"step {step:5d}/{steps} [{stage}] {losses}")
        if done not in probe_after:
            continue
        point = {"step": done, "train_seconds": timer.total_seconds, "stage": stage, "psnr": probe()}
        curve.append(point)
        change = tail_change_db(curve, final_stage_start) if done > final_stage_start else None
        trend = "" if change is None else f", trend over the second half of the stage {change:+.2f} dB"
        log(f"curve: step {done} ({point['train_seconds']:.1f} s) eval PSNR {point['psnr']:.2f} dB{trend}")
        if stop_when_converged and is_converged(change):  # None before the last stage: as convergence.stops_here
            stop_reason = "converged"
            log(f"converged at step {done} of at most {steps}: stopping")
            break
    timing = {"train_seconds": timer.total_seconds, "iterations": done, "stage_seconds": timer.stage_seconds}
    return timing, curve, stop_reason


@torch.no_grad()
def render_eval_views(pipeline, space: Space, device) -> tuple[list[EvalRender], dict]:
    """Render every eval view of the final model (latent runs: and decode it), timing renders and decodes apart.

    Returns the renders (on the CPU, unclamped: :mod:`igae.nerf.scoring` saves and scores them) and their timing.
    """
    pipeline.eval()
    latent_only = pipeline.latent_renders_only() if space == Space.LATENT else contextlib.nullcontext()
    with latent_only:
        renders, render_ms, decode_ms = _render_views(pipeline, space, device)
    timing = {
        "render_ms_per_view": float(np.median(render_ms)),
        "decode_ms_per_view": float(np.median(decode_ms)) if decode_ms else 0.0,
    }
    return renders, timing


def eval_scene_dir(pipeline) -> Path:
    """The scene folder the eval views' ``file_path``s are relative to (the folder holding ``images/``)."""
    return Path(pipeline.datamanager.eval_dataset.image_filenames[0]).parent.parent


def _render_views(pipeline, space: Space, device) -> tuple[list[EvalRender], list[float], list[float]]:
    model, dataset = pipeline.model, pipeline.datamanager.eval_dataset
    data_dir = eval_scene_dir(pipeline)
    renders, render_ms, decode_ms = [], [], []
    for index in range(len(dataset)):
        camera = dataset.cameras[index : index + 1].to(device)
        start = time.perf_counter()
        rendered = model.get_outputs_for_camera(camera)["rgb"]  # (h, w, C) latent or (H, W, 3) RGB, in [0, 1]
        # the first render warms up; renders slower than a second (RGB vanilla-nerf on a CPU: ~20 s) are timed once
        repeats = 2 if time.perf_counter() - start < 1.0 else 1
        render = lambda cam=camera: model.get_outputs_for_camera(cam)  # noqa: E731
        render_ms.append(median_time_ms(render, warmup=0, repeats=repeats, device=device))
        view = Path(dataset.image_filenames[index]).relative_to(data_dir).as_posix()
        if space == Space.LATENT:
            decode_ms.append(
                median_time_ms(lambda r=rendered: pipeline.decode_latent_image(r), warmup=1, repeats=3, device=device)
            )
            encoded = dataset.latents[index].to(rendered.device)  # (h, w, C) in [0, 1]: the stage-1 target
            renders.append(
                EvalRender(
                    view,
                    rgb=pipeline.decode_latent_image(rendered).cpu(),  # (H, W, 3)
                    latent=rendered.cpu(),
                    encoded=encoded.cpu(),
                    reconstruction=pipeline.decode_latent_image(encoded).cpu(),  # (H, W, 3) D(E(x)), final decoder
                )
            )
        else:
            renders.append(EvalRender(view, rgb=rendered.cpu()))
    return renders, render_ms, decode_ms


def fit(
    space: Space,
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
    curve: bool = True,
    parity: Parity = Parity.PAPER,
) -> dict:
    """Train, render, score and write one run folder. ``labels``: dataset/scene/autoencoder names for the tables.

    ``curve``: measure the convergence curve at the schedule's probe steps (:meth:`TwoStageSchedule.probe_steps`);
    False (timing benchmarks) measures none, which an adaptive schedule needs, so it then runs every step. The fit's
    numbers are the same with or without it. ``parity``: ``official`` fits with the official extension's behaviours
    (:func:`trainer_config`).
    """
    space, parity, out_dir = Space.parse(space), Parity.parse(parity), Path(out_dir).resolve()
    reset_peak_memory(device)  # on a GPU, the peak of this fit alone (the CPU's max RSS is the process')
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
            parity=parity,
        )
        config.machine.device_type = "cuda" if str(device).startswith("cuda") else "cpu"
        # AMP (and its CUDA grad scaler) only where the official configs use it and the device is a GPU
        config.mixed_precision = config.mixed_precision and config.machine.device_type == "cuda"
        config.experiment_name, config.timestamp = "nerfstudio", ""
        trainer = config.setup(local_rank=0, world_size=1)
        trainer.setup()
        datamanager = trainer.pipeline.datamanager
        steps, final_stage_start = schedule.steps(space), schedule.final_stage_start(space)
        adaptive = schedule.until_converged and curve
        log(
            f"{space} {method} on {scene}: {'at most ' if adaptive else ''}{steps} steps "
            f"({len(datamanager.train_dataset)} train views, {len(datamanager.eval_dataset)} eval views)"
        )
        whole_images = method_settings(space, method, schedule.lr_factor, model_overrides).renders_cameras
        probe = ConvergenceProbe(trainer.pipeline, space, device, whole_images=whole_images)
        timing, curve_points, stop_reason = train(
            trainer,
            steps,
            device,
            log=log,
            probe=probe,
            curve_at=schedule.probe_steps(space) if curve else (),
            stop_when_converged=adaptive,
            final_stage_start=final_stage_start,
        )
        trainer.save_checkpoint(timing["iterations"] - 1)
        # nerfstudio's config.yml, written for where the run folder will be, so ns-eval / ns-render load it from there
        config.output_dir = out_dir
        (tmp / config.get_base_dir().relative_to(out_dir) / "config.yml").write_text(yaml.dump(config), "utf8")
        renders, eval_timing = render_eval_views(trainer.pipeline, space, device)
        save_eval_renders(tmp, space, eval_scene_dir(trainer.pipeline), renders, relative_to=out_dir)
        timing.update(eval_timing, peak_memory_mb=peak_memory_mb(device), device=device_label(device))
        ae_sha = trainer.pipeline.card.sha256 if space == Space.LATENT else None
        change = tail_change_db(curve_points, final_stage_start)
        fit_record = {
            "space": space,
            "method": method,
            **(labels or {}),
            "curve": curve_points,
            "curve_views": probe.views,
            "curve_pixel_stride": probe.stride,
            "converged": is_converged(change),
            "curve_delta_db": change,
            "stop_reason": stop_reason,
            "steps": timing["iterations"],
            "step_cap": steps,
            "schedule": vars(schedule),
            "seed": seed,
            **({"parity": parity} if parity != Parity.PAPER else {}),
            "latents_sha256": file_sha256(latents) if latents else None,
            **getattr(trainer.pipeline.model, "fit_record_fields", dict)(),  # splatting: rasterizer, Gaussian counts
            "provenance": provenance(config_for_provenance or {}, ae_sha256=ae_sha, device=device),
        }
        # metrics from the saved renders and the scene folder they recorded, exactly as `igae score <run>` computes them
        result = score_run(tmp, fit_record=fit_record)
        atomic_write_json(tmp / "timing.json", timing)
    log(
        f"done: PSNR {result['mean']['psnr']:.2f} dB ({'' if result['converged'] else 'not '}converged; "
        f"{result['steps']} of {result['step_cap']} steps, stopped: {result['stop_reason']}"
        f"{', FAILED: below the scene floor' if result['status'] == 'failed' else ''}), "
        f"train {timing['train_seconds']:.1f} s, "
        f"render {timing['render_ms_per_view']:.1f} ms + decode {timing['decode_ms_per_view']:.1f} ms per view"
    )
    return result
