"""What each model file's ``settings(model_config, lr_factor)`` returns, and the pieces the methods' settings share.

The settings are the official extension's (docs/paper.md#nerf-methods): nerfstudio's learning rates times
``lr_factor``, no camera optimiser, no appearance embedding, the near/far planes below, AMP as in the official
configs. :func:`igae.nerf.method_configs.method_settings` passes the configured ``lr_factor`` for latent fits
and 1.0 for the RGB baselines (nerfstudio's own learning rates).
"""

from __future__ import annotations

from dataclasses import dataclass

from nerfstudio.engine.optimizers import AdamOptimizerConfig
from nerfstudio.engine.schedulers import ExponentialDecaySchedulerConfig
from nerfstudio.models.base_model import ModelConfig

NEAR, FAR = 0.2, 2.4
"""Near and far planes of the official nerfacto and K-Planes configs (vanilla-nerf: 0.2 / 4.0; instant-ngp: far 4.0)."""
BACKGROUND = "white"
"""The scenes' known background (every source writes objects on white: igae.scenes.dataset_io). Every RGB baseline
composites over it, exactly as its latent counterpart composites over the autoencoder's latent of a white image
(``latent_background``): the same prior in both spaces. nerfstudio's own defaults differ by method (TensoRF, vanilla
NeRF: white; nerfacto: ``last_sample``, which must learn the background from the train views and collapsed on 2 of 5
held-out scenes; instant-ngp: ``random``), so each model file sets this one."""


@dataclass
class MethodSettings:
    """One method's model config and NeRF optimizers, latent or RGB, before the schedule and the pipeline."""

    model: ModelConfig
    """The model config, an instance of the class the registry names for the space."""
    optimizers: dict
    """nerfstudio's optimizer groups of the NeRF: {group: {"optimizer": ..., "scheduler": ... or None}}."""
    mixed_precision: bool
    """AMP as in the official config (nerfstudio's trainer switches it off on the CPU)."""
    renders_cameras: bool = False
    """The model renders whole cameras, not ray bundles (Gaussian splatting): each training step gets one full
    training camera and its image (:mod:`igae.nerf.data.camera_datamanager`, nerfstudio's ``FullImageDatamanager``)."""


def adam_exponential(lr: float, lr_final: float, max_steps: int, eps: float = 1e-15) -> dict:
    """An optimizer group: Adam with an exponential decay from ``lr`` to ``lr_final`` over ``max_steps``."""
    return {
        "optimizer": AdamOptimizerConfig(lr=lr, eps=eps),
        "scheduler": ExponentialDecaySchedulerConfig(lr_final=lr_final, max_steps=max_steps),
    }
