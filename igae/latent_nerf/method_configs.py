"""Trainer configs of the latent methods and their RGB baselines, built by one function for ns-train and the workflow.

``ns-train latent-<method> --data <scene> --pipeline.autoencoder <ae folder>`` trains with the paper's schedule, for
the five methods of the paper (:data:`METHODS`; instant-ngp needs a CUDA device); ``igae fit`` (and the Snakemake
rules) call :func:`trainer_config` with the schedule of the config file. Per-method settings follow the official
extension (digest §3.2): :func:`method_settings`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from nerfstudio.cameras.camera_optimizers import CameraOptimizerConfig
from nerfstudio.configs.base_config import MachineConfig, ViewerConfig
from nerfstudio.data.datamanagers.base_datamanager import VanillaDataManagerConfig
from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig
from nerfstudio.engine.optimizers import AdamOptimizerConfig, RAdamOptimizerConfig
from nerfstudio.engine.schedulers import CosineDecaySchedulerConfig, ExponentialDecaySchedulerConfig
from nerfstudio.engine.trainer import TrainerConfig
from nerfstudio.pipelines.base_pipeline import VanillaPipelineConfig
from nerfstudio.plugins.types import MethodSpecification

from igae.latent_nerf.data import LatentDataManagerConfig
from igae.latent_nerf.instant_ngp import LatentInstantNGPModelConfig, RGBInstantNGPModelConfig
from igae.latent_nerf.kplanes import LatentKPlanesModelConfig, RGBKPlanesModelConfig
from igae.latent_nerf.nerfacto import LatentNerfactoModelConfig, RGBNerfactoModelConfig
from igae.latent_nerf.pipeline import LatentPipelineConfig
from igae.latent_nerf.tensorf import LatentTensoRFModelConfig, RGBTensoRFModelConfig
from igae.latent_nerf.vanilla_nerf import LatentVanillaNeRFModelConfig, RGBVanillaNeRFModelConfig

METHODS = ("tensorf", "nerfacto", "vanilla-nerf", "kplanes", "instant-ngp")
NEAR, FAR = 0.2, 2.4
"""Near and far planes of the official nerfacto and K-Planes configs (vanilla-nerf: 0.2 / 4.0; instant-ngp: far 4.0)."""


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
    """Multiplier of nerfstudio's learning rates for the NeRF (0.1 in the official extension, but vanilla-nerf: 1)."""
    rgb_rays_per_batch: int = 4096
    """Rays per step of the RGB baseline (stock nerfstudio sampling); it runs latent_steps + align_steps steps."""
    scale_lr_schedulers: bool = False
    """Scale the NeRF learning-rate schedulers' horizons (max_steps, warm-up) by total_steps / 25,000, so that a short
    schedule decays as the paper's 10k + 15k steps do (K-Planes' 512-step warm-up alone outlasts a 150-step CPU fit).
    False keeps nerfstudio's stock horizons, as the paper and the official code."""

    @property
    def total_steps(self) -> int:
        return self.latent_steps + self.align_steps


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
    # The official extension's data settings (digest §3.2); the split comes from the scene's *_filenames lists.
    return NerfstudioDataParserConfig(
        data=scene or Path(), auto_scale_poses=True, center_method="poses", orientation_method="up", scene_scale=1.0
    )


def _adam_exponential(lr: float, lr_final: float, max_steps: int, eps: float = 1e-15) -> dict:
    return {
        "optimizer": AdamOptimizerConfig(lr=lr, eps=eps),
        "scheduler": ExponentialDecaySchedulerConfig(lr_final=lr_final, max_steps=max_steps),
    }


def _tensorf(space: str, lr_factor: float):
    config_class = LatentTensoRFModelConfig if space == "latent" else RGBTensoRFModelConfig
    model = config_class(regularization="tv", camera_optimizer=CameraOptimizerConfig(mode="off"))
    optimizers = {
        "fields": _adam_exponential(1e-3 * lr_factor, 1e-4 * lr_factor, 30000),
        "encodings": _adam_exponential(2e-2 * lr_factor, 2e-3 * lr_factor, 30000),
    }
    return model, optimizers, False


def _nerfacto(space: str, lr_factor: float):
    config_class = LatentNerfactoModelConfig if space == "latent" else RGBNerfactoModelConfig
    model = config_class(
        eval_num_rays_per_chunk=1 << 15,
        average_init_density=0.01,
        camera_optimizer=CameraOptimizerConfig(mode="off"),
        near_plane=NEAR,
        far_plane=FAR,
        use_appearance_embedding=False,
        implementation="torch",  # torch hash grid and MLPs: runs without tiny-cuda-nn (set "tcnn" on a GPU with it)
    )
    optimizers = {
        "proposal_networks": _adam_exponential(1e-2 * lr_factor, 1e-4 * lr_factor, 200000),
        "fields": _adam_exponential(1e-2 * lr_factor, 1e-4 * lr_factor, 200000),
    }
    return model, optimizers, True


def _vanilla_nerf(space: str, lr_factor: float):
    # the official code keeps vanilla-nerf's own learning rate (lr_factor 1.0), whatever the schedule says
    config_class = LatentVanillaNeRFModelConfig if space == "latent" else RGBVanillaNeRFModelConfig
    model = config_class(collider_params={"near_plane": NEAR, "far_plane": 4.0})
    optimizers = {"fields": {"optimizer": RAdamOptimizerConfig(lr=5e-4, eps=1e-8), "scheduler": None}}
    return model, optimizers, False


def _kplanes(space: str, lr_factor: float):
    config_class = LatentKPlanesModelConfig if space == "latent" else RGBKPlanesModelConfig
    model = config_class(eval_num_rays_per_chunk=1 << 15, near_plane=NEAR, far_plane=FAR)  # defaults: digest §3.2

    def group():
        return {
            "optimizer": AdamOptimizerConfig(lr=1e-2 * lr_factor, eps=1e-12),
            "scheduler": CosineDecaySchedulerConfig(warm_up_end=512, max_steps=30000),
        }

    return model, {"proposal_networks": group(), "fields": group()}, True


def _instant_ngp(space: str, lr_factor: float):
    config_class = LatentInstantNGPModelConfig if space == "latent" else RGBInstantNGPModelConfig
    model = config_class(eval_num_rays_per_chunk=8192, use_appearance_embedding=False, far_plane=4.0)
    return model, {"fields": _adam_exponential(1e-2 * lr_factor, 1e-4 * lr_factor, 200000)}, True


_METHOD_SETTINGS = {
    "tensorf": _tensorf,
    "nerfacto": _nerfacto,
    "vanilla-nerf": _vanilla_nerf,
    "kplanes": _kplanes,
    "instant-ngp": _instant_ngp,
}
"""method -> (space, lr_factor) -> (model config, NeRF optimizer groups, mixed precision as the official code)."""


def method_settings(space: str, method: str, lr_factor: float, model_overrides: dict | None = None):
    """The model config (with ``model_overrides`` applied), optimizer groups and AMP flag of ``method`` in ``space``.

    Learning rates are nerfstudio's times ``lr_factor`` (vanilla-nerf: always 1.0), as in the official extension.
    AMP follows the official configs; nerfstudio's trainer switches it off on the CPU.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r} (known: {', '.join(METHODS)})")
    model, optimizers, mixed_precision = _METHOD_SETTINGS[method](space, lr_factor)
    return replace(model, **(model_overrides or {})), optimizers, mixed_precision


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
) -> TrainerConfig:
    """A nerfstudio ``TrainerConfig`` for ``method`` in ``space`` ("latent" or "rgb") on one scene."""
    if space not in ("latent", "rgb"):
        raise ValueError(f"space must be 'latent' or 'rgb', not {space!r}")
    model, optimizers, mixed_precision = method_settings(space, method, schedule.lr_factor, model_overrides)
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
        pipeline = LatentPipelineConfig(
            datamanager=LatentDataManagerConfig(dataparser=_dataparser(scene), latents=latents, seed=seed),
            model=model,
            autoencoder=autoencoder,
            latent_steps=schedule.latent_steps,
            loss_d_weight=schedule.loss_d_weight,
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
        mixed_precision=mixed_precision,
        pipeline=pipeline,
        optimizers=optimizers,
        viewer=ViewerConfig(num_rays_per_chunk=1 << 12, quit_on_train_completion=True),
        vis="tensorboard",
        machine=MachineConfig(seed=seed),
    )


def _specification(method: str, name: str) -> MethodSpecification:
    return MethodSpecification(
        config=trainer_config("latent", method, TwoStageSchedule()),
        description=f"{name} in the latent space of an autoencoder, two stages as in IG-AE (--pipeline.autoencoder).",
    )


latent_tensorf = _specification("tensorf", "TensoRF")
latent_nerfacto = _specification("nerfacto", "Nerfacto")
latent_vanilla_nerf = _specification("vanilla-nerf", "Vanilla NeRF")
latent_kplanes = _specification("kplanes", "K-Planes (nerfstudio components, no tiny-cuda-nn)")
latent_instant_ngp = _specification("instant-ngp", "Instant-NGP (GPU only)")
