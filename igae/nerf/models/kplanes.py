"""K-Planes (Fridovich-Keil et al. 2023) built from nerfstudio's own components, in RGB and in latent space.

The ``kplanes-nerfstudio`` package the official code vendors does not run on nerfstudio 1.1.5 and needs tiny-cuda-nn.
This model composes, for a static bounded scene (box [-1, 1]^3, no contraction):

- field: multiscale ``KPlanesEncoding`` (3 planes per scale, features multiplied across planes, concatenated across
  scales) -> torch MLP -> density (trunc_exp(x - 1), as K-Planes) + geometry features; SH(4) view directions +
  geometry features -> torch MLP -> colour (3 RGB or C latent channels, sigmoid);
- proposal sampling: nerfstudio's ``ProposalNetworkSampler`` with a uniform initial sampler over small single-scale
  K-Planes density fields;
- losses: colour MSE + interlevel + distortion (nerfstudio's) + plane total variation of the field and proposal planes.

Defaults are the official K-Planes settings of the paper's code (docs/paper.md#nerf-methods): grid 128^3, feature
dim 32, scales [1, 2, 4], proposal nets 128^3 and 256^3 with 8 features, loss weights interlevel 1, distortion 0.01,
plane TV 0.01, proposal plane TV 1e-4, near 0.2 / far 2.4.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from nerfstudio.data.scene_box import SceneBox
from nerfstudio.engine.callbacks import TrainingCallback, TrainingCallbackLocation
from nerfstudio.engine.optimizers import AdamOptimizerConfig
from nerfstudio.engine.schedulers import CosineDecaySchedulerConfig
from nerfstudio.field_components.activations import trunc_exp
from nerfstudio.field_components.encodings import KPlanesEncoding, SHEncoding
from nerfstudio.field_components.field_heads import FieldHeadNames
from nerfstudio.field_components.mlp import MLP
from nerfstudio.fields.base_field import Field
from nerfstudio.model_components.losses import MSELoss, distortion_loss, interlevel_loss
from nerfstudio.model_components.ray_samplers import ProposalNetworkSampler, UniformSampler
from nerfstudio.model_components.renderers import AccumulationRenderer, DepthRenderer, RGBRenderer
from nerfstudio.model_components.scene_colliders import NearFarCollider
from nerfstudio.models.base_model import Model, ModelConfig
from nerfstudio.utils import colormaps
from torch import Tensor, nn

from igae.nerf.components.latent_heads import LatentImageMetrics, LatentModelFields, latent_renderer
from igae.nerf.components.offline import offline_safe_lpips
from igae.nerf.settings import BACKGROUND, FAR, NEAR, MethodSettings


def _box_coordinates(ray_samples, aabb: Tensor) -> Tensor:
    """(*bs, 3) sample positions -> (prod(bs), 3) coordinates in [-1, 1] over the scene box (KPlanesEncoding's)."""
    positions = SceneBox.get_normalized_positions(ray_samples.frustums.get_positions(), aabb) * 2.0 - 1.0
    return positions.view(-1, 3)


def plane_tv(encodings: Iterable[KPlanesEncoding]) -> Tensor:
    """K-Planes' spatial total variation: for each (F, H, W) plane, 2 x (mean squared difference of vertical
    neighbours + mean squared difference of horizontal neighbours), averaged over all planes of all encodings."""
    terms = []
    for encoding in encodings:
        for plane in encoding.plane_coefs:  # (F, r, r)
            vertical = (plane[:, 1:, :] - plane[:, :-1, :]).square().mean()
            horizontal = (plane[:, :, 1:] - plane[:, :, :-1]).square().mean()
            terms.append(2.0 * (vertical + horizontal))
    return torch.stack(terms).mean()


class KPlanesField(Field):
    """Multiscale K-Planes features -> density and colour (``out_dim`` channels) with plain torch MLPs."""

    def __init__(
        self,
        aabb: Tensor,
        grid_base_resolution: tuple[int, int, int],
        grid_feature_dim: int,
        multiscale_res: tuple[int, ...],
        geo_feat_dim: int,
        hidden_dim: int,
        hidden_dim_color: int,
        out_dim: int,
    ) -> None:
        super().__init__()
        self.register_buffer("aabb", aabb)
        self.geo_feat_dim = geo_feat_dim
        self.grids = nn.ModuleList(
            KPlanesEncoding(tuple(r * scale for r in grid_base_resolution), grid_feature_dim)
            for scale in multiscale_res
        )
        # sigma net: (N, F * scales) -> (N, 1 + geo_feat_dim), one hidden layer as K-Planes'
        self.mlp_base = MLP(
            in_dim=grid_feature_dim * len(multiscale_res),
            num_layers=2,
            layer_width=hidden_dim,
            out_dim=1 + geo_feat_dim,
            activation=nn.ReLU(),
            out_activation=None,
        )
        self.direction_encoding = SHEncoding(levels=4, implementation="torch")
        # colour net: (N, 16 SH + geo_feat_dim) -> (N, out_dim), two hidden layers as K-Planes'
        self.mlp_head = MLP(
            in_dim=self.direction_encoding.get_out_dim() + geo_feat_dim,
            num_layers=3,
            layer_width=hidden_dim_color,
            out_dim=out_dim,
            activation=nn.ReLU(),
            out_activation=nn.Sigmoid(),
        )

    def get_density(self, ray_samples):
        coordinates = _box_coordinates(ray_samples, self.aabb)  # (N, 3)
        features = torch.cat([grid(coordinates) for grid in self.grids], dim=-1)  # (N, F * scales)
        h = self.mlp_base(features).view(*ray_samples.frustums.shape, -1)  # (*bs, 1 + geo_feat_dim)
        density_before_activation, geo_features = torch.split(h, [1, self.geo_feat_dim], dim=-1)
        return trunc_exp(density_before_activation - 1.0), geo_features

    def get_outputs(self, ray_samples, density_embedding=None):
        # torch SH takes unit directions as they are (tcnn's takes them mapped to [0, 1])
        directions = self.direction_encoding(ray_samples.frustums.directions.reshape(-1, 3))  # (N, 16)
        h = torch.cat([directions, density_embedding.reshape(-1, self.geo_feat_dim)], dim=-1)
        colour = self.mlp_head(h).view(*ray_samples.frustums.shape, -1)  # (*bs, out_dim)
        return {FieldHeadNames.RGB: colour}


class KPlanesDensityField(Field):
    """Proposal network: single-scale K-Planes features -> density, initialised as K-Planes' (planes U(0.1, 0.15))."""

    def __init__(self, aabb: Tensor, resolution: int, feature_dim: int, hidden_dim: int = 64) -> None:
        super().__init__()
        self.register_buffer("aabb", aabb)
        self.grid = KPlanesEncoding((resolution,) * 3, feature_dim, init_a=0.1, init_b=0.15)
        self.mlp = MLP(in_dim=feature_dim, num_layers=2, layer_width=hidden_dim, out_dim=1, activation=nn.ReLU())

    def get_density(self, ray_samples):
        features = self.grid(_box_coordinates(ray_samples, self.aabb))  # (N, feature_dim)
        density_before_activation = self.mlp(features).view(*ray_samples.frustums.shape, 1)
        return trunc_exp(density_before_activation - 1.0), None

    def get_outputs(self, ray_samples, density_embedding=None):
        return {}


@dataclass
class RGBKPlanesModelConfig(ModelConfig):
    """K-Planes for static bounded scenes, from nerfstudio components (RGB)."""

    _target: type = field(default_factory=lambda: RGBKPlanesModel)
    near_plane: float = 0.2
    """Where sampling starts along each ray."""
    far_plane: float = 2.4
    """Where sampling stops along each ray."""
    grid_base_resolution: tuple[int, int, int] = (128, 128, 128)
    """Plane resolution of the coarsest scale, per axis."""
    grid_feature_dim: int = 32
    """Features per plane cell."""
    multiscale_res: tuple[int, ...] = (1, 2, 4)
    """Multipliers of grid_base_resolution, one plane set per entry; their features are concatenated."""
    geo_feat_dim: int = 15
    """Geometry features passed from the density MLP to the colour MLP."""
    hidden_dim: int = 64
    """Width of the density MLP's hidden layer."""
    hidden_dim_color: int = 64
    """Width of the colour MLP's two hidden layers."""
    proposal_resolutions: tuple[int, ...] = (128, 256)
    """Plane resolution of each proposal network (one network per proposal sampling round)."""
    proposal_feature_dim: int = 8
    """Features per plane cell of the proposal networks."""
    num_proposal_samples: tuple[int, ...] = (256, 128)
    """Samples per ray of each proposal round (one entry per proposal network)."""
    num_samples: int = 48
    """Samples per ray evaluated by the field."""
    single_jitter: bool = False
    """Use the same random jitter for all samples of a ray."""
    proposal_warmup: int = 5000
    """Steps over which the proposal update interval grows from 1 to proposal_update_every."""
    proposal_update_every: int = 5
    """Proposal-sampler update interval after the warm-up."""
    use_proposal_weight_anneal: bool = True
    """Anneal the proposal weights before PDF sampling (mip-NeRF 360 eq. 18)."""
    proposal_weights_anneal_slope: float = 10.0
    """Slope of the annealing function."""
    proposal_weights_anneal_max_num_iters: int = 1000
    """Steps over which the annealing reaches 1."""
    background_color: Literal["random", "last_sample", "black", "white"] = "white"
    """Background of the RGB renders (latent models use the autoencoder's latent background instead)."""
    interlevel_loss_mult: float = 1.0
    """Weight of the proposal (interlevel) loss."""
    distortion_loss_mult: float = 0.01
    """Weight of the distortion loss."""
    plane_tv_mult: float = 0.01
    """Weight of the total variation of the field's planes."""
    plane_tv_proposal_mult: float = 1e-4
    """Weight of the total variation of the proposal networks' planes."""


class RGBKPlanesModel(Model):
    config: RGBKPlanesModelConfig

    @property
    def colour_channels(self) -> int:
        return 3

    def populate_modules(self):
        super().populate_modules()
        config = self.config
        if len(config.num_proposal_samples) != len(config.proposal_resolutions):
            raise ValueError(
                f"num_proposal_samples {config.num_proposal_samples} needs one entry per proposal network "
                f"(proposal_resolutions {config.proposal_resolutions})"
            )
        aabb = self.scene_box.aabb
        self.field = KPlanesField(
            aabb,
            tuple(config.grid_base_resolution),
            config.grid_feature_dim,
            tuple(config.multiscale_res),
            config.geo_feat_dim,
            config.hidden_dim,
            config.hidden_dim_color,
            out_dim=self.colour_channels,
        )
        self.proposal_networks = nn.ModuleList(
            KPlanesDensityField(aabb, resolution, config.proposal_feature_dim)
            for resolution in config.proposal_resolutions
        )
        self.density_fns = [network.density_fn for network in self.proposal_networks]

        def update_schedule(step):
            return np.clip(
                np.interp(step, [0, config.proposal_warmup], [0, config.proposal_update_every]),
                1,
                config.proposal_update_every,
            )

        # bounded scene: uniform initial samples between near and far (K-Planes without contraction)
        self.proposal_sampler = ProposalNetworkSampler(
            num_nerf_samples_per_ray=config.num_samples,
            num_proposal_samples_per_ray=tuple(config.num_proposal_samples),
            num_proposal_network_iterations=len(config.proposal_resolutions),
            single_jitter=config.single_jitter,
            update_sched=update_schedule,
            initial_sampler=UniformSampler(single_jitter=config.single_jitter),
        )
        self.collider = NearFarCollider(near_plane=config.near_plane, far_plane=config.far_plane)
        self.renderer_rgb = RGBRenderer(background_color=config.background_color)
        self.renderer_accumulation = AccumulationRenderer()
        self.renderer_depth = DepthRenderer()
        self.rgb_loss = MSELoss()

        from torchmetrics.functional import structural_similarity_index_measure
        from torchmetrics.image import PeakSignalNoiseRatio

        self.psnr = PeakSignalNoiseRatio(data_range=1.0)
        self.ssim = structural_similarity_index_measure
        with offline_safe_lpips(RGBKPlanesModel):
            from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

            self.lpips = LearnedPerceptualImagePatchSimilarity(normalize=True)

    def get_param_groups(self):
        return {"proposal_networks": list(self.proposal_networks.parameters()), "fields": list(self.field.parameters())}

    def get_training_callbacks(self, training_callback_attributes):
        if not self.config.use_proposal_weight_anneal:
            return []
        slope, steps = self.config.proposal_weights_anneal_slope, self.config.proposal_weights_anneal_max_num_iters

        def set_anneal(step):
            fraction = np.clip(step / steps, 0, 1)
            self.proposal_sampler.set_anneal(slope * fraction / ((slope - 1) * fraction + 1))

        return [
            TrainingCallback([TrainingCallbackLocation.BEFORE_TRAIN_ITERATION], set_anneal, update_every_num_iters=1),
            TrainingCallback(
                [TrainingCallbackLocation.AFTER_TRAIN_ITERATION],
                self.proposal_sampler.step_cb,
                update_every_num_iters=1,
            ),
        ]

    def get_outputs(self, ray_bundle):
        ray_samples, weights_list, ray_samples_list = self.proposal_sampler(ray_bundle, density_fns=self.density_fns)
        field_outputs = self.field(ray_samples)
        weights = ray_samples.get_weights(field_outputs[FieldHeadNames.DENSITY])  # (N, S, 1)
        weights_list.append(weights)
        ray_samples_list.append(ray_samples)
        outputs = {
            "rgb": self.renderer_rgb(rgb=field_outputs[FieldHeadNames.RGB], weights=weights),  # (N, 3 or C)
            "accumulation": self.renderer_accumulation(weights=weights),
            "depth": self.renderer_depth(weights=weights, ray_samples=ray_samples),
        }
        if self.training:
            outputs["weights_list"] = weights_list
            outputs["ray_samples_list"] = ray_samples_list
        for i in range(len(self.proposal_networks)):
            outputs[f"prop_depth_{i}"] = self.renderer_depth(weights=weights_list[i], ray_samples=ray_samples_list[i])
        return outputs

    def get_metrics_dict(self, outputs, batch):
        image = self.renderer_rgb.blend_background(batch["image"].to(self.device))
        metrics = {"psnr": self.psnr(outputs["rgb"], image)}
        if self.training:
            metrics["interlevel"] = interlevel_loss(outputs["weights_list"], outputs["ray_samples_list"])
            metrics["distortion"] = distortion_loss(outputs["weights_list"], outputs["ray_samples_list"])
            metrics["plane_tv"] = plane_tv(self.field.grids)
            metrics["plane_tv_proposal_net"] = plane_tv(network.grid for network in self.proposal_networks)
        return metrics

    def get_loss_dict(self, outputs, batch, metrics_dict=None):
        image = batch["image"].to(self.device)
        prediction, image = self.renderer_rgb.blend_background_for_loss_computation(
            pred_image=outputs["rgb"], pred_accumulation=outputs["accumulation"], gt_image=image
        )
        losses = {"rgb_loss": self.rgb_loss(image, prediction)}
        if self.training:
            config = self.config
            losses["interlevel_loss"] = config.interlevel_loss_mult * metrics_dict["interlevel"]
            losses["distortion_loss"] = config.distortion_loss_mult * metrics_dict["distortion"]
            losses["plane_tv_loss"] = config.plane_tv_mult * metrics_dict["plane_tv"]
            losses["plane_tv_proposal_loss"] = config.plane_tv_proposal_mult * metrics_dict["plane_tv_proposal_net"]
        return losses

    def get_image_metrics_and_images(self, outputs, batch):
        image = self.renderer_rgb.blend_background(batch["image"].to(self.device))  # (H, W, 3)
        rgb = outputs["rgb"]
        accumulation = colormaps.apply_colormap(outputs["accumulation"])
        depth = colormaps.apply_depth_colormap(outputs["depth"], accumulation=outputs["accumulation"])
        image_nchw, rgb_nchw = (torch.moveaxis(x, -1, 0)[None] for x in (image, rgb))  # (1, 3, H, W)
        metrics = {
            "psnr": float(self.psnr(image_nchw, rgb_nchw).item()),
            "ssim": float(self.ssim(image_nchw, rgb_nchw)),
            "lpips": float(self.lpips(image_nchw, rgb_nchw)),
        }
        images = {"img": torch.cat([image, rgb], dim=1), "accumulation": accumulation, "depth": depth}
        return metrics, images


@dataclass
class LatentKPlanesModelConfig(LatentModelFields, RGBKPlanesModelConfig):
    """K-Planes rendering C latent channels in [0, 1] over the autoencoder's latent background."""

    _target: type = field(default_factory=lambda: LatentKPlanesModel)


class LatentKPlanesModel(LatentImageMetrics, RGBKPlanesModel):
    config: LatentKPlanesModelConfig

    @property
    def colour_channels(self) -> int:
        return self.config.latent_channels

    def populate_modules(self):
        super().populate_modules()
        self.renderer_rgb = latent_renderer(self.config.latent_channels, self.config.latent_background)


def settings(model_config: type[RGBKPlanesModelConfig], lr_factor: float) -> MethodSettings:
    """The config's defaults (docs/paper.md#nerf-methods); Adam with cosine decay after a 512-step warm-up, lr 1e-2 x
    ``lr_factor``."""
    model = model_config(eval_num_rays_per_chunk=1 << 15, near_plane=NEAR, far_plane=FAR, background_color=BACKGROUND)

    def group():
        return {
            "optimizer": AdamOptimizerConfig(lr=1e-2 * lr_factor, eps=1e-12),
            "scheduler": CosineDecaySchedulerConfig(warm_up_end=512, max_steps=30000),
        }

    return MethodSettings(model, {"proposal_networks": group(), "fields": group()}, mixed_precision=True)
