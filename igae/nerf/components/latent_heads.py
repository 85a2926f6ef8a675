"""Pieces every latent model shares: C-channel colour heads, the checked latent renderer, latent-only eval metrics.

A nerfstudio model becomes latent by (1) giving its colour head C outputs instead of 3, (2) compositing over the
autoencoder's latent background (:class:`LatentRenderer`) and (3) scoring its eval images without LPIPS, which is
defined on RGB only. The model files (nerfacto.py, vanilla_nerf.py, kplanes.py, instant_ngp.py) combine these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from nerfstudio.field_components.field_heads import FieldHead, FieldHeadNames
from nerfstudio.field_components.mlp import MLP
from torch import nn

from igae.metrics import latent_metrics
from igae.nerf.components.renderers import LatentRenderer

# nerfstudio 1.1.5's schedulers leave numpy scalars in checkpoints (LambdaLR's last lr is np.float64), and its loaders
# call torch.load with torch >= 2.6's default weights_only=True, which refuses them: ns-eval / ns-render fail on any
# checkpoint. Allow-listing numpy's scalar reconstructor and dtypes (plain data, no code) makes them load. Here, not in
# the package's __init__ (kept light for the workflow): every model file imports this module, so loading a run's
# config.yml, which names a model config class, registers them before its checkpoint is read.
torch.serialization.add_safe_globals(
    [np.core.multiarray.scalar, np.dtype, *(type(np.dtype(t)) for t in ("float64", "float32", "int64"))]
)


@dataclass
class LatentModelFields:
    """Config fields every latent model shares (first base of its config class); the latent pipeline fills both."""

    latent_channels: int = 16
    """Channels of the autoencoder's latent space (filled from the autoencoder card by the latent pipeline)."""
    latent_background: tuple[float, ...] = ()
    """Normalised latent of a white image, one value per channel (filled from the autoencoder card)."""


def rebuilt_mlp(mlp: MLP, out_dim: int, in_dim: int | None = None) -> MLP:
    """A freshly initialised nerfstudio MLP like ``mlp`` (depth, width, activations, tcnn or torch) with another
    output size (and optionally input size)."""
    return MLP(
        in_dim=mlp.in_dim if in_dim is None else in_dim,
        num_layers=mlp.num_layers,
        layer_width=mlp.layer_width,
        out_dim=out_dim,
        skip_connections=mlp.skip_connections,
        activation=mlp.activation,
        out_activation=mlp.out_activation,
        implementation="tcnn" if mlp.tcnn_encoding is not None else "torch",
    )


def latent_field_head(in_dim: int, channels: int) -> FieldHead:
    """The C-channel counterpart of nerfstudio's ``RGBFieldHead``: linear layer + sigmoid, latents in [0, 1]."""
    return FieldHead(channels, FieldHeadNames.RGB, in_dim=in_dim, activation=nn.Sigmoid())


def latent_renderer(channels: int, background: Sequence[float]) -> LatentRenderer:
    """A :class:`LatentRenderer` over ``background``, checked to have one value per latent channel."""
    if len(background) != channels:
        raise ValueError(f"latent_background has {len(background)} values for {channels} latent channels")
    return LatentRenderer(background)


class LatentImageMetrics:
    """Mixin (put it before the nerfstudio model class): nerfstudio's per-image eval metrics on latents, and the
    decoded RGB image among a full-camera render's outputs.

    nerfstudio's ``get_image_metrics_and_images`` runs LPIPS, which takes 3-channel RGB only. Latent renders get PSNR
    and SSIM (data range 1); metrics of decoded RGB renders are the pipeline's job (``score_eval_view``).
    ``decode_outputs`` (set by the latent pipeline: (h, w, C) latent -> (H, W, 3) RGB, or None when it wants latents
    only) adds ``rgb_decoded`` to whole-camera renders, which is what ``ns-render dataset --rendered-output-names
    rgb_decoded`` writes.
    """

    decode_outputs = None

    def get_outputs_for_camera_ray_bundle(self, camera_ray_bundle):
        outputs = super().get_outputs_for_camera_ray_bundle(camera_ray_bundle)
        decoded = self.decode_outputs(outputs["rgb"]) if self.decode_outputs is not None else None
        if decoded is not None:
            outputs["rgb_decoded"] = decoded
        return outputs

    def get_image_metrics_and_images(self, outputs, batch):
        target = batch["image"].to(outputs["rgb"].device)  # (h, w, C)
        metrics = latent_metrics(outputs["rgb"], target)
        preview = torch.cat([target[..., :3], outputs["rgb"][..., :3]], dim=1)  # (h, 2w, 3): channels 0-2 only
        scores = {f"latent_{key}": value for key, value in metrics.items() if value is not None}
        return scores, {"latent_channels_0_2": preview}
