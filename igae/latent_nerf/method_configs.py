"""Trainer configs of the latent methods and their RGB baselines, built by one function for ns-train and the workflow.

``ns-train latent-tensorf --data <scene> --pipeline.autoencoder <ae folder>`` trains with the paper's schedule;
``igae fit`` (and the Snakemake rules) call :func:`trainer_config` with the schedule of the config file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from nerfstudio.cameras.camera_optimizers import CameraOptimizerConfig
from nerfstudio.configs.base_config import MachineConfig, ViewerConfig
from nerfstudio.data.datamanagers.base_datamanager import VanillaDataManagerConfig
from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig
from nerfstudio.engine.optimizers import AdamOptimizerConfig
from nerfstudio.engine.schedulers import ExponentialDecaySchedulerConfig
from nerfstudio.engine.trainer import TrainerConfig
from nerfstudio.pipelines.base_pipeline import VanillaPipelineConfig
from nerfstudio.plugins.types import MethodSpecification

from igae.latent_nerf.data import LatentDataManagerConfig
from igae.latent_nerf.pipeline import LatentPipelineConfig
from igae.latent_nerf.tensorf import LatentTensoRFModelConfig, RGBTensoRFModelConfig

METHODS = ("tensorf",)


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
    """Multiplier of nerfstudio's learning rates for the NeRF (0.1 in the official extension)."""
    rgb_rays_per_batch: int = 4096
    """Rays per step of the RGB baseline (stock nerfstudio sampling); it runs latent_steps + align_steps steps."""

    @property
    def total_steps(self) -> int:
        return self.latent_steps + self.align_steps


def _dataparser(scene: Path | None) -> NerfstudioDataParserConfig:
    # The official extension's data settings (digest §3.2); the split comes from the scene's *_filenames lists.
    return NerfstudioDataParserConfig(
        data=scene or Path(), auto_scale_poses=True, center_method="poses", orientation_method="up", scene_scale=1.0
    )


def _tensorf_model(space: str, overrides: dict):
    config_class = LatentTensoRFModelConfig if space == "latent" else RGBTensoRFModelConfig
    model = config_class(regularization="tv", camera_optimizer=CameraOptimizerConfig(mode="off"))
    return replace(model, **overrides)


def _tensorf_optimizers(lr_factor: float) -> dict:
    return {
        "fields": {
            "optimizer": AdamOptimizerConfig(lr=1e-3 * lr_factor, eps=1e-15),
            "scheduler": ExponentialDecaySchedulerConfig(lr_final=1e-4 * lr_factor, max_steps=30000),
        },
        "encodings": {
            "optimizer": AdamOptimizerConfig(lr=2e-2 * lr_factor, eps=1e-15),
            "scheduler": ExponentialDecaySchedulerConfig(lr_final=2e-3 * lr_factor, max_steps=30000),
        },
    }


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
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r} (known: {', '.join(METHODS)})")
    if space not in ("latent", "rgb"):
        raise ValueError(f"space must be 'latent' or 'rgb', not {space!r}")
    model = _tensorf_model(space, model_overrides or {})
    optimizers = _tensorf_optimizers(schedule.lr_factor)
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
        mixed_precision=False,
        pipeline=pipeline,
        optimizers=optimizers,
        viewer=ViewerConfig(num_rays_per_chunk=1 << 12, quit_on_train_completion=True),
        vis="tensorboard",
        machine=MachineConfig(seed=seed),
    )


latent_tensorf = MethodSpecification(
    config=trainer_config("latent", "tensorf", TwoStageSchedule()),
    description="TensoRF in the latent space of an autoencoder, two stages as in IG-AE (--pipeline.autoencoder).",
)
