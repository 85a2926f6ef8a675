"""Instant-NGP in latent space (C output channels, latent background), and the offline-safe RGB baseline. GPU only.

nerfstudio's ``NGPModel`` samples with nerfacc's occupancy grid, whose CUDA extension has no CPU path: both models
check for a CUDA device before nerfacc is used and stop with a clear error otherwise.

Two departures from stock nerfstudio 1.1.5, both to match the paper's code:

- "no appearance embedding": nerfstudio 1.1.5's ``NGPModel`` inverts ``use_appearance_embedding`` (False gives a
  32-dim per-image embedding). The official fork fixed that inversion, so with ``use_appearance_embedding=False``
  the field's embedding is removed here and its colour MLP rebuilt without those inputs;
- the latent model composites packed samples (``ray_indices``) over the latent background (:class:`LatentRenderer`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from nerfstudio.models.instant_ngp import InstantNGPModelConfig, NGPModel

from igae.nerf.components.latent_heads import LatentImageMetrics, LatentModelFields, latent_renderer, rebuilt_mlp
from igae.nerf.components.nerfacc_cuda13 import load_nerfacc_cuda
from igae.nerf.components.offline import OfflineSafeLPIPS
from igae.nerf.registry import METHODS
from igae.nerf.settings import BACKGROUND, MethodSettings, adam_exponential

GPU_ONLY = f"{METHODS['instant-ngp'].gpu_only} (no CUDA device here)"


def require_cuda() -> None:
    """Stop before nerfacc's occupancy grid is built when there is no CUDA device; else build nerfacc's CUDA extension.

    The build runs here, not at nerfacc's first call, so that it gets the CUDA 13 header (:mod:`.nerfacc_cuda13`).
    """
    if not torch.cuda.is_available():
        raise RuntimeError(GPU_ONLY)
    load_nerfacc_cuda()


def set_colour_head(model: NGPModel, out_dim: int) -> None:
    """Rebuild the field's colour MLP with ``out_dim`` outputs, without appearance inputs unless they were asked for."""
    nerfacto_field = model.field
    if model.config.use_appearance_embedding:
        raise ValueError(
            "use_appearance_embedding=True is not supported: nerfstudio 1.1.5 inverts the flag (its NGPModel builds no "
            "embedding then); the paper's instant-ngp has none"
        )
    if nerfacto_field.appearance_embedding_dim:
        nerfacto_field.embedding_appearance = None
        nerfacto_field.appearance_embedding_dim = 0
    # colour MLP: (N, SH(16) + geo features(15)) -> (N, out_dim), sigmoid
    in_dim = nerfacto_field.direction_encoding.get_out_dim() + nerfacto_field.geo_feat_dim
    nerfacto_field.mlp_head = rebuilt_mlp(nerfacto_field.mlp_head, out_dim=out_dim, in_dim=in_dim)


@dataclass
class RGBInstantNGPModelConfig(InstantNGPModelConfig):
    """Stock instant-ngp without appearance embedding, built so that a missing LPIPS backbone does not stop it."""

    _target: type = field(default_factory=lambda: RGBInstantNGPModel)


class RGBInstantNGPModel(OfflineSafeLPIPS, NGPModel):
    config: RGBInstantNGPModelConfig

    def populate_modules(self):
        require_cuda()
        super().populate_modules()  # OfflineSafeLPIPS: a missing LPIPS backbone does not stop it
        set_colour_head(self, out_dim=3)


@dataclass
class LatentInstantNGPModelConfig(LatentModelFields, InstantNGPModelConfig):
    """Instant-NGP rendering C latent channels in [0, 1] over the autoencoder's latent background."""

    _target: type = field(default_factory=lambda: LatentInstantNGPModel)


class LatentInstantNGPModel(LatentImageMetrics, OfflineSafeLPIPS, NGPModel):
    config: LatentInstantNGPModelConfig

    def populate_modules(self):
        require_cuda()
        super().populate_modules()  # OfflineSafeLPIPS: a missing LPIPS backbone does not stop it
        set_colour_head(self, out_dim=self.config.latent_channels)
        self.renderer_rgb = latent_renderer(self.config.latent_channels, self.config.latent_background)


def settings(model_config: type[InstantNGPModelConfig], lr_factor: float) -> MethodSettings:
    """No appearance embedding, far plane 4.0; nerfstudio's learning rates times ``lr_factor``."""
    model = model_config(
        eval_num_rays_per_chunk=8192, use_appearance_embedding=False, far_plane=4.0, background_color=BACKGROUND
    )  # RGB: over the known white background (nerfstudio: random)
    optimizers = {"fields": adam_exponential(1e-2 * lr_factor, 1e-4 * lr_factor, 200000)}
    return MethodSettings(model, optimizers, mixed_precision=True)
