"""Volume compositing of C latent channels (nerfstudio's ``RGBRenderer`` asserts 3 channels)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class LatentRenderer(nn.Module):
    """Composite per-sample latents along each ray over the autoencoder's latent background colour.

    A drop-in for ``RGBRenderer`` in latent models: same call signature, and the background blending helpers that
    nerfstudio models call on ground truth are identities (latent targets have no alpha channel).
    """

    def __init__(self, background: Sequence[float] | Tensor) -> None:
        super().__init__()
        self.register_buffer("background", torch.as_tensor(background, dtype=torch.float32))

    def forward(
        self,
        rgb: Tensor,
        weights: Tensor,
        ray_indices=None,
        num_rays=None,
        background_color=None,
    ) -> Tensor:
        """(..., S, C) per-sample latents and (..., S, 1) weights -> (..., C) composited latents.

        Packed samples (instant-ngp's nerfacc sampler): ``rgb`` (S_all, C) and ``weights`` (S_all, 1) of all rays
        together, ``ray_indices`` (S_all,) saying which of the ``num_rays`` rays each sample belongs to.
        """
        if ray_indices is not None:
            if num_rays is None:
                raise ValueError("packed samples need num_rays")
            weighted = weights * rgb  # (S_all, C)
            composited = weighted.new_zeros(num_rays, rgb.shape[-1]).index_add_(0, ray_indices, weighted)  # (R, C)
            opacity = weights.new_zeros(num_rays, 1).index_add_(0, ray_indices, weights)  # (R, 1)
        else:
            composited = torch.sum(weights * rgb, dim=-2)  # (*bs, C)
            opacity = torch.sum(weights, dim=-2)  # (*bs, 1)
        latent = composited + self.background * (1.0 - opacity)
        if not self.training:
            latent = torch.clamp(torch.nan_to_num(latent), 0.0, 1.0)
        return latent

    def blend_background(self, image: Tensor, background_color=None) -> Tensor:
        return image

    def blend_background_for_loss_computation(self, pred_image, pred_accumulation, gt_image):
        return pred_image, gt_image
