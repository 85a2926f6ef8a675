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

from igae.convergence import probe_steps
from igae.latent_nerf import registry
from igae.latent_nerf.camera_data import LatentCameraDataManagerConfig
from igae.latent_nerf.data import LatentDataManagerConfig
from igae.latent_nerf.pipeline import LatentPipelineConfig
from igae.latent_nerf.settings import MethodSettings

STAGE_1_POINTS = 5
"""The most curve points a latent fit's stage 1 gets: probes cost a render and a decode, and stage 1 always runs in
full, so its curve only shows its shape (and where a PSNR was first reached, for the train time at equal quality)."""


@dataclass
class TwoStageSchedule:
    latent_steps: int = 10_000
    """Stage 1: iterations of the method's own loss on encoded latents (always run in full: the stage-2 switch)."""
    align_steps: int = 15_000
    """Stage 2: iterations of RGB alignment, decoder fine-tuned; with ``until_converged``, the most it may run."""
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
    """Rays per step of the RGB baseline (stock nerfstudio sampling)."""
    rgb_steps: int | None = None
    """Iterations of the RGB baseline (with ``until_converged``, the most it may run); None: latent_steps +
    align_steps, the paper's (both spaces train 25k steps)."""
    until_converged: bool = False
    """Stop a fit at the first probe of its last stage (a latent fit's alignment, an RGB fit's only stage) where its
    convergence criterion holds (:mod:`igae.convergence`), instead of running every step. False: the paper's fixed
    step counts. Either way the learning-rate schedules are laid over the step counts above (the caps)."""
    check_every: int = 500
    """Steps between two points of a latent fit's convergence curve (eval PSNR), in each stage."""
    rgb_check_every: int | None = None
    """Steps between two curve points of an RGB fit; None: ``check_every``."""
    scale_lr_schedulers: bool = False
    """Scale the NeRF learning-rate schedulers' horizons (max_steps, warm-up) by the fit's step count (its cap) /
    25,000, so that a short schedule decays as the paper's 10k + 15k steps do (K-Planes' 512-step warm-up alone
    outlasts a 150-step CPU fit). False keeps nerfstudio's stock horizons, as the paper and the official code."""

    @property
    def total_steps(self) -> int:
        """A latent fit's steps (its cap), both stages."""
        return self.latent_steps + self.align_steps

    def steps(self, space: str) -> int:
        """The step count (the cap, when ``until_converged``) of a fit in ``space``."""
        if space == "latent":
            return self.total_steps
        return self.total_steps if self.rgb_steps is None else self.rgb_steps

    def final_stage_start(self, space: str) -> int:
        """The iteration at which a fit's last stage begins: a latent fit's alignment, an RGB fit's 0."""
        return self.latent_steps if space == "latent" else 0

    def probe_steps(self, space: str) -> list[int]:
        """Iterations completed at each point of the fit's convergence curve (:func:`igae.convergence.probe_steps`):
        every ``check_every`` (RGB: ``rgb_check_every``) steps of the last stage, where the stopping rule reads them,
        and of a latent fit's stage 1 at most :data:`STAGE_1_POINTS` (the curve's shape there; no stop is decided)."""
        if space == "latent":
            stage_1 = max(self.check_every, -(-self.latent_steps // STAGE_1_POINTS))
            return probe_steps(0, self.latent_steps, stage_1) + probe_steps(
                self.latent_steps, self.total_steps, self.check_every
            )
        return probe_steps(0, self.steps(space), self.rgb_check_every or self.check_every)


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
    steps = schedule.steps(space)  # the cap of an adaptive fit: its schedules are laid over it
    if schedule.scale_lr_schedulers:
        optimizers = scale_scheduler_horizons(optimizers, steps / PAPER_TOTAL_STEPS)
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
        max_num_iterations=steps,
        steps_per_save=steps,
        steps_per_eval_batch=steps + 1,
        steps_per_eval_image=steps + 1,
        steps_per_eval_all_images=steps + 1,
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
