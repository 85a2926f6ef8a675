"""Nerfacto in latent space (C output channels, latent background), and the offline-safe RGB nerfacto baseline.

What is RGB-specific in nerfstudio's ``NerfactoModel`` and how the latent model handles it:

- the colour head ``field.mlp_head`` (3 outputs, sigmoid) -> rebuilt with C outputs, same depth and widths;
- ``renderer_rgb`` (3-channel background: "last_sample" by default) -> :class:`LatentRenderer`, whose
  ``blend_background`` / ``blend_background_for_loss_computation`` are identities, so nerfacto's own
  ``get_metrics_dict`` (PSNR works on any channel count) and ``get_loss_dict`` (MSE + interlevel + distortion) run
  unchanged on latents;
- LPIPS in ``get_image_metrics_and_images`` -> replaced by latent PSNR/SSIM (:class:`LatentImageMetrics`).

The hash grids run with ``implementation="torch"`` where tiny-cuda-nn is absent (the method configs set it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nerfstudio.cameras.camera_optimizers import CameraOptimizerConfig
from nerfstudio.models.nerfacto import NerfactoModel, NerfactoModelConfig

from igae.nerf.components.latent_heads import LatentImageMetrics, LatentModelFields, latent_renderer, rebuilt_mlp
from igae.nerf.components.offline import OfflineSafeLPIPS
from igae.nerf.settings import BACKGROUND, FAR, NEAR, MethodSettings, adam_exponential


@dataclass
class RGBNerfactoModelConfig(NerfactoModelConfig):
    """Stock nerfacto, built so that a missing LPIPS backbone does not stop training offline."""

    _target: type = field(default_factory=lambda: RGBNerfactoModel)


class RGBNerfactoModel(OfflineSafeLPIPS, NerfactoModel):
    config: RGBNerfactoModelConfig


@dataclass
class LatentNerfactoModelConfig(LatentModelFields, NerfactoModelConfig):
    """Nerfacto rendering C latent channels in [0, 1] over the autoencoder's latent background."""

    _target: type = field(default_factory=lambda: LatentNerfactoModel)


class LatentNerfactoModel(LatentImageMetrics, OfflineSafeLPIPS, NerfactoModel):
    config: LatentNerfactoModelConfig

    def populate_modules(self):
        if self.config.predict_normals:
            raise ValueError("latent-nerfacto does not support predict_normals")
        super().populate_modules()  # OfflineSafeLPIPS: a missing LPIPS backbone does not stop it
        # colour MLP: (N, SH(16) + geo features(15) [+ appearance]) -> (N, C), sigmoid as nerfacto's RGB head
        self.field.mlp_head = rebuilt_mlp(self.field.mlp_head, out_dim=self.config.latent_channels)
        self.renderer_rgb = latent_renderer(self.config.latent_channels, self.config.latent_background)


def settings(model_config: type[NerfactoModelConfig], lr_factor: float) -> MethodSettings:
    """No appearance embedding or camera optimiser, torch hash grids; nerfstudio's learning rates x ``lr_factor``."""
    model = model_config(
        eval_num_rays_per_chunk=1 << 15,
        average_init_density=0.01,
        camera_optimizer=CameraOptimizerConfig(mode="off"),
        near_plane=NEAR,
        far_plane=FAR,
        use_appearance_embedding=False,
        background_color=BACKGROUND,  # RGB: over the known white background (nerfstudio: last_sample)
        implementation="torch",  # torch hash grid and MLPs: runs without tiny-cuda-nn (set "tcnn" on a GPU with it)
    )
    optimizers = {
        "proposal_networks": adam_exponential(1e-2 * lr_factor, 1e-4 * lr_factor, 200000),
        "fields": adam_exponential(1e-2 * lr_factor, 1e-4 * lr_factor, 200000),
    }
    return MethodSettings(model, optimizers, mixed_precision=True)
