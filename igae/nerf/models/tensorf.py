"""TensoRF in latent space (C output channels, latent background), and the offline-safe RGB TensoRF baseline."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from nerfstudio.cameras.camera_optimizers import CameraOptimizerConfig
from nerfstudio.field_components.field_heads import FieldHeadNames
from nerfstudio.models.tensorf import TensoRFModel, TensoRFModelConfig

from igae.nerf.components.latent_heads import LatentImageMetrics, LatentModelFields, latent_field_head, latent_renderer
from igae.nerf.components.offline import OfflineSafeLPIPS
from igae.nerf.settings import BACKGROUND, MethodSettings, adam_exponential


@dataclass
class RGBTensoRFModelConfig(TensoRFModelConfig):
    """Stock TensoRF, built so that a missing LPIPS backbone does not stop training offline."""

    _target: type = field(default_factory=lambda: RGBTensoRFModel)


class RGBTensoRFModel(OfflineSafeLPIPS, TensoRFModel):
    config: RGBTensoRFModelConfig


@dataclass
class LatentTensoRFModelConfig(LatentModelFields, TensoRFModelConfig):
    """TensoRF rendering C latent channels in [0, 1] over the autoencoder's latent background."""

    _target: type = field(default_factory=lambda: LatentTensoRFModel)


class LatentTensoRFModel(LatentImageMetrics, OfflineSafeLPIPS, TensoRFModel):
    config: LatentTensoRFModelConfig

    def populate_modules(self):
        if self.config.use_gradient_scaling:
            raise ValueError("latent-tensorf does not support use_gradient_scaling yet")
        super().populate_modules()  # OfflineSafeLPIPS: a missing LPIPS backbone does not stop it
        channels = self.config.latent_channels
        self.renderer_rgb = latent_renderer(channels, self.config.latent_background)
        self.field.field_output_rgb = latent_field_head(self.field.mlp_head.get_out_dim(), channels)

    def get_outputs(self, ray_bundle):
        # TensoRF's own get_outputs fills empty samples and rays with an RGB white: here they get the latent
        # background instead; the sampling and rendering components are TensoRF's.
        if self.training:
            self.camera_optimizer.apply_to_raybundle(ray_bundle)
        samples_uniform = self.sampler_uniform(ray_bundle)
        weights_uniform = samples_uniform.get_weights(self.field.get_density(samples_uniform))
        occupied = (self.renderer_accumulation(weights_uniform) >= 1e-4).reshape(
            -1
        )  # skip the fine field on empty rays
        samples_pdf = self.sampler_pdf(ray_bundle, samples_uniform, weights_uniform)
        field_outputs = self.field(samples_pdf, mask=occupied, bg_color=self.renderer_rgb.background)
        weights = samples_pdf.get_weights(field_outputs[FieldHeadNames.DENSITY])
        return {
            "rgb": self.renderer_rgb(rgb=field_outputs[FieldHeadNames.RGB], weights=weights),  # (N, C) in [0, 1]
            "accumulation": torch.clamp(self.renderer_accumulation(weights), min=0),
            "depth": self.renderer_depth(weights, samples_pdf),
        }


def settings(model_config: type[TensoRFModelConfig], lr_factor: float) -> MethodSettings:
    """TV regularisation, no camera optimiser; nerfstudio's learning rates times ``lr_factor``, Adam's default eps
    1e-8 (nerfstudio's and the official extension's TensoRF; the other methods set 1e-15)."""
    model = model_config(
        regularization="tv", camera_optimizer=CameraOptimizerConfig(mode="off"), background_color=BACKGROUND
    )
    optimizers = {
        "fields": adam_exponential(1e-3 * lr_factor, 1e-4 * lr_factor, 30000, eps=1e-8),
        "encodings": adam_exponential(2e-2 * lr_factor, 2e-3 * lr_factor, 30000, eps=1e-8),
    }
    return MethodSettings(model, optimizers, mixed_precision=False)
