"""Vanilla NeRF in latent space (C output channels, latent background), and the offline-safe RGB baseline.

nerfstudio's ``NeRFModel`` has a coarse and a fine field; each ends in an ``RGBFieldHead`` (3 outputs, sigmoid) in
``field.field_heads``. The latent model swaps both heads for C-channel ones and composites over the latent background.
Its losses (MSE on coarse and fine renders) run unchanged on latents.

nerfstudio's vanilla NeRF names its outputs ``rgb_coarse`` / ``rgb_fine`` only; both variants here also return the
fine render as ``rgb``, the name the latent pipeline, ``igae.nerf.fit`` and ``ns-render`` read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nerfstudio.engine.optimizers import RAdamOptimizerConfig
from nerfstudio.models.vanilla_nerf import NeRFModel, VanillaModelConfig
from torch import nn

from igae.nerf.components.latent_heads import LatentImageMetrics, LatentModelFields, latent_field_head, latent_renderer
from igae.nerf.components.offline import OfflineSafeLPIPS
from igae.nerf.settings import BACKGROUND, NEAR, MethodSettings


@dataclass
class RGBVanillaNeRFModelConfig(VanillaModelConfig):
    """Stock vanilla NeRF (+ an ``rgb`` output), built so that a missing LPIPS backbone does not stop it offline."""

    _target: type = field(default_factory=lambda: RGBVanillaNeRFModel)


class RGBVanillaNeRFModel(OfflineSafeLPIPS, NeRFModel):
    config: RGBVanillaNeRFModelConfig

    def get_outputs(self, ray_bundle):
        outputs = super().get_outputs(ray_bundle)
        outputs["rgb"] = outputs["rgb_fine"]  # (N, 3): the render that is evaluated
        return outputs


@dataclass
class LatentVanillaNeRFModelConfig(LatentModelFields, VanillaModelConfig):
    """Vanilla NeRF rendering C latent channels in [0, 1] over the autoencoder's latent background."""

    _target: type = field(default_factory=lambda: LatentVanillaNeRFModel)


class LatentVanillaNeRFModel(LatentImageMetrics, OfflineSafeLPIPS, NeRFModel):
    config: LatentVanillaNeRFModelConfig

    def populate_modules(self):
        super().populate_modules()  # OfflineSafeLPIPS: a missing LPIPS backbone does not stop it
        channels = self.config.latent_channels
        for nerf_field in (self.field_coarse, self.field_fine):
            # head MLP output (N, S, 128) -> (N, S, C) latents, one head per field as nerfstudio's RGBFieldHead
            nerf_field.field_heads = nn.ModuleList([latent_field_head(nerf_field.mlp_head.get_out_dim(), channels)])
        self.renderer_rgb = latent_renderer(channels, self.config.latent_background)

    def get_outputs(self, ray_bundle):
        outputs = super().get_outputs(ray_bundle)
        outputs["rgb"] = outputs["rgb_fine"]  # (N, C): the render that is decoded and evaluated
        return outputs


def settings(model_config: type[VanillaModelConfig], lr_factor: float) -> MethodSettings:
    """Far plane 4.0; vanilla-nerf's own learning rate, whatever ``lr_factor`` says (as the official code)."""
    model = model_config(collider_params={"near_plane": NEAR, "far_plane": 4.0}, background_color=BACKGROUND)
    optimizers = {"fields": {"optimizer": RAdamOptimizerConfig(lr=5e-4, eps=1e-8), "scheduler": None}}
    return MethodSettings(model, optimizers, mixed_precision=False)
