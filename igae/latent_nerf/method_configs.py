"""Trainer configs of the latent methods and their RGB baselines, built by one function for ns-train and the workflow.

``ns-train latent-<method> --data <scene> --pipeline.autoencoder <ae folder>`` trains with the paper's schedule, for
each method of :data:`igae.latent_nerf.registry.METHODS` (instant-ngp needs a CUDA device); ``igae fit`` (and the
Snakemake rules) call :func:`trainer_config` with the schedule of the config file. Per-method settings follow the
official extension (docs/paper.md#nerf-methods); each model file defines its own (:func:`method_settings`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, replace
from pathlib import Path

from nerfstudio.configs.base_config import MachineConfig, ViewerConfig
from nerfstudio.data.datamanagers.base_datamanager import VanillaDataManagerConfig
from nerfstudio.data.datamanagers.full_images_datamanager import FullImageDatamanagerConfig
from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig
from nerfstudio.engine.optimizers import AdamOptimizerConfig
from nerfstudio.engine.schedulers import ExponentialDecaySchedulerConfig
from nerfstudio.engine.trainer import TrainerConfig
from nerfstudio.pipelines.base_pipeline import VanillaPipelineConfig
from nerfstudio.plugins.types import MethodSpecification

from igae.latent_nerf import registry
from igae.latent_nerf.camera_data import LatentCameraDataManagerConfig
from igae.latent_nerf.data import LatentDataManagerConfig
from igae.latent_nerf.pipeline import LatentPipelineConfig
from igae.latent_nerf.settings import MethodSettings


@dataclass
class TwoStageSchedule:
    latent_steps: int = 10_000
    """Stage 1: iterations of the method's own loss on encoded latents."""
    align_steps: int = 15_000
    """Stage 2: iterations of RGB alignment, decoder fine-tuned."""
    decoder_lr: float = 1e-4
    """Adam learning rate of the decoder in stage 2."""
    decoder_lr_decay: float = 0.99969
    """Per-step exponential decay of the decoder learning rate over stage 2."""
    loss_d_weight: float = 0.01
    """Weight of the alignment loss MSE(D(render), x)."""
    lr_factor: float = 0.1
    """Multiplier of nerfstudio's learning rates for the latent NeRF (0.1 in the official extension, but vanilla-nerf:
    1). Latent fits only: the RGB baselines keep nerfstudio's learning rates (:func:`method_settings`)."""
    rgb_rays_per_batch: int = 4096
    """Rays per step of the RGB baseline (stock nerfstudio sampling); it runs latent_steps + align_steps steps."""
    scale_lr_schedulers: bool = False
    """Scale the NeRF learning-rate schedulers' horizons (max_steps, warm-up) by total_steps / 25,000, so that a short
    schedule decays as the paper's 10k + 15k steps do (K-Planes' 512-step warm-up alone outlasts a 150-step CPU fit).
    False keeps nerfstudio's stock horizons, as the paper and the official code."""

    @property
    def total_steps(self) -> int:
        return self.latent_steps + self.align_steps


OFFICIAL_PIPELINE = {"train_post_quant_conv": False, "clamp_alignment": False, "normalizer_eps": 1e-6}
"""The :class:`LatentPipelineConfig` fields ``parity: official`` sets (the official extension's behaviour)."""

PAPER_TOTAL_STEPS = 25_000
"""The paper's NeRF schedule (10k latent + 15k alignment steps), which the stock scheduler horizons go with."""


def scale_scheduler_horizons(optimizers: dict, factor: float) -> dict:
    """The optimizer groups with each scheduler's step counts (max_steps, warm-up) multiplied by ``factor``."""
    scaled = {}
    for name, group in optimizers.items():
        scheduler = group.get("scheduler")
        if scheduler is not None:
            steps = {
                key: max(1, round(getattr(scheduler, key) * factor))
                for key in ("max_steps", "warm_up_end", "warmup_steps")
                if getattr(scheduler, key, None)
            }
            group = {**group, "scheduler": replace(scheduler, **steps)}
        scaled[name] = group
    return scaled


def _dataparser(scene: Path | None) -> NerfstudioDataParserConfig:
    # The official extension's data settings (docs/paper.md#nerf-methods); the split comes from the scene's
    # *_filenames lists.
    return NerfstudioDataParserConfig(
        data=scene or Path(), auto_scale_poses=True, center_method="poses", orientation_method="up", scene_scale=1.0
    )


def method_settings(space: str, method: str, lr_factor: float, model_overrides: dict | None = None) -> MethodSettings:
    """The model config (with ``model_overrides`` applied), optimizer groups and AMP flag of ``method`` in ``space``.

    The model file the registry names builds them (its ``settings``) with the registry's config class for ``space``.
    Latent fits: nerfstudio's learning rates times ``lr_factor`` (vanilla-nerf: always 1.0), as in the official
    extension, which defines the factor in its latent method configs only. RGB fits: nerfstudio's learning rates and
    schedules, whatever ``lr_factor`` says (the stock nerfstudio baseline the paper compares with; a 0.1 factor would
    handicap every RGB comparison). ``model_overrides`` (``benchmark.model.<method>``, e.g. the CPU configs' smaller
    model sizes) apply to both spaces. AMP follows the official configs; nerfstudio's trainer switches it off on the
    CPU.
    """
    if space not in ("latent", "rgb"):
        raise ValueError(f"space must be 'latent' or 'rgb', not {space!r}")
    entry = registry.method(method)
    module = importlib.import_module(entry.module)
    model_config = getattr(module, entry.latent_config if space == "latent" else entry.rgb_config)
    settings = module.settings(model_config, lr_factor if space == "latent" else 1.0)
    return replace(settings, model=replace(settings.model, **(model_overrides or {})))


def trainer_config(
    space: str,
    method: str,
    schedule: TwoStageSchedule,
    scene: Path | None = None,
    autoencoder: Path | None = None,
    latents: Path | None = None,
    model_overrides: dict | None = None,
    output_dir: Path = Path("outputs"),
    seed: int = 1234,
    parity: str = "paper",
) -> TrainerConfig:
    """A nerfstudio ``TrainerConfig`` for ``method`` in ``space`` ("latent" or "rgb") on one scene.

    ``parity: official``: the official extension's stage 2 (decoder without ``post_quant_conv``, no clamp before the
    alignment loss) and latent normaliser margin (1e-6); docs/paper.md#deviations."""
    if parity not in ("paper", "official"):
        raise ValueError(f"parity must be 'paper' or 'official', not {parity!r}")
    settings = method_settings(space, method, schedule.lr_factor, model_overrides)
    model, optimizers = settings.model, settings.optimizers
    if schedule.scale_lr_schedulers:
        optimizers = scale_scheduler_horizons(optimizers, schedule.total_steps / PAPER_TOTAL_STEPS)
    if space == "latent":
        decoder_final_lr = schedule.decoder_lr * schedule.decoder_lr_decay ** max(schedule.align_steps, 1)
        optimizers["decoder"] = {
            "optimizer": AdamOptimizerConfig(lr=schedule.decoder_lr, eps=1e-15),
            "scheduler": ExponentialDecaySchedulerConfig(
                lr_final=decoder_final_lr, max_steps=max(schedule.align_steps, 1)
            ),
        }
        latent_data = LatentCameraDataManagerConfig if settings.renders_cameras else LatentDataManagerConfig
        pipeline = LatentPipelineConfig(
            datamanager=latent_data(dataparser=_dataparser(scene), latents=latents, seed=seed),
            model=model,
            autoencoder=autoencoder,
            latent_steps=schedule.latent_steps,
            loss_d_weight=schedule.loss_d_weight,
            **(OFFICIAL_PIPELINE if parity == "official" else {}),
        )
    elif settings.renders_cameras:  # one whole image per step, as the latent fits (rgb_rays_per_batch unused)
        pipeline = VanillaPipelineConfig(
            datamanager=FullImageDatamanagerConfig(
                dataparser=_dataparser(scene), cache_images_type="uint8", train_cameras_sampling_seed=seed
            ),
            model=model,
        )
    else:
        pipeline = VanillaPipelineConfig(
            datamanager=VanillaDataManagerConfig(
                dataparser=_dataparser(scene), train_num_rays_per_batch=schedule.rgb_rays_per_batch
            ),
            model=model,
        )
    return TrainerConfig(
        method_name=f"{space}-{method}" if space == "latent" else method,
        output_dir=output_dir,
        max_num_iterations=schedule.total_steps,
        steps_per_save=schedule.total_steps,
        steps_per_eval_batch=schedule.total_steps + 1,
        steps_per_eval_image=schedule.total_steps + 1,
        steps_per_eval_all_images=schedule.total_steps + 1,
        save_only_latest_checkpoint=True,
        mixed_precision=settings.mixed_precision,
        pipeline=pipeline,
        optimizers=optimizers,
        viewer=ViewerConfig(num_rays_per_chunk=1 << 12, quit_on_train_completion=True),
        vis="tensorboard",
        machine=MachineConfig(seed=seed),
    )


def _specification(entry: registry.Method) -> MethodSpecification:
    gpu_only = " (GPU only)" if entry.gpu_only else ""
    return MethodSpecification(
        config=trainer_config("latent", entry.name, TwoStageSchedule()),
        description=f"{entry.description}{gpu_only} in the latent space of an autoencoder, two stages as in IG-AE "
        "(--pipeline.autoencoder).",
    )


# latent_tensorf, latent_nerfacto, ...: what pyproject.toml's entry points name (tests/test_latent_methods.py checks)
globals().update({entry.specification: _specification(entry) for entry in registry.METHODS.values()})
