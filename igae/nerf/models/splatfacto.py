"""Splatfacto (3D Gaussian splatting) in latent space, and its RGB baseline, on a GPU or a CPU.

Both subclass nerfstudio's ``SplatfactoModel`` (its parameters, optimizer groups, densification strategy, training
callbacks and checkpoint loading) and replace what ties it to CUDA and to RGB:

- rasterization: :func:`igae.nerf.components.rasterize.rasterize`, gsplat's CUDA kernels on a GPU and a PyTorch
  compositor with the same rules elsewhere (splatfacto calls ``.cuda()`` and gsplat's CUDA rasterizer directly);
  spherical harmonics are evaluated in PyTorch for any number of channels (gsplat's CUDA SH takes 3);
- colour channels: D = 3 (RGB) or C (the autoencoder's latent channels, 4 or 16): SH coefficients (N, K, D), an SSIM
  over D channels, the background and ``set_background`` of D values, ``render[..., :D]``; a 4-channel latent image
  is never taken for RGBA (splatfacto composites any 4-channel image over its background);
- background: fixed, the same prior in both spaces, as for the NeRFs: RGB splatting composites over the scenes'
  white, latent splatting over the autoencoder's latent of a white image (``latent_background``), in training too
  (splatfacto draws a random background in training);
- initialisation: :attr:`SplatfactoFields.num_random` Gaussians uniform in the scene box (the NeRFs' [-1, 1]^3),
  each of size the mean distance to its 3 nearest neighbours (splatfacto's rule), random rotation, opacity 0.1,
  random colour (splatfacto's). No SfM points (the scenes have none) and no mesh vertices: seeding from the meshes
  would give splatting geometry the NeRFs never get;
- the scene box: Gaussians whose centre leaves it are not rendered (a NeRF's field is empty outside its box) and are
  removed at the next refinement; Gaussians outside the near/far planes of the NeRFs (0.2, 2.4) are not rendered;
- densification (gsplat's ``DefaultStrategy``, as splatfacto) stops with stage 1 of a latent fit: opacity resets,
  splits, duplications and pruning run on encoded latents only; stage 2 aligns a fixed set of Gaussians. A Gaussian
  count that reaches 0 or exceeds :attr:`SplatfactoFields.max_gaussians` stops the fit (:class:`GaussianCountError`).

The latent model's densification thresholds are chosen for 16 x 16 latent images (docs/nerfstudio.md#splatting); the
RGB model keeps splatfacto's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from gsplat.strategy import DefaultStrategy
from gsplat.strategy.ops import remove
from nerfstudio.cameras.camera_optimizers import CameraOptimizerConfig
from nerfstudio.cameras.cameras import Cameras
from nerfstudio.engine.callbacks import TrainingCallbackAttributes
from nerfstudio.engine.optimizers import AdamOptimizerConfig
from nerfstudio.models.splatfacto import SplatfactoModel, SplatfactoModelConfig, num_sh_bases, random_quat_tensor
from nerfstudio.utils.colors import get_color
from pytorch_msssim import SSIM
from torch import Tensor

from igae.nerf.components.latent_heads import LatentImageMetrics, LatentModelFields
from igae.nerf.components.offline import offline_safe_lpips
from igae.nerf.components.rasterize import backend_for, rasterize, viewmat_from_camera_to_world
from igae.nerf.settings import BACKGROUND, FAR, NEAR, MethodSettings, adam_exponential

INIT_GAUSSIANS = 20_000
"""Gaussians drawn uniformly in the scene box at the start of a fit (splatfacto's random init draws 50,000 in a cube of
side 10, most of them outside our [-1, 1]^3 scenes)."""


class GaussianCountError(RuntimeError):
    """The number of Gaussians fell to 0 or exceeded ``max_gaussians``: the fit stops (and leaves no run folder)."""


@dataclass
class SplatfactoFields:
    """Config fields both splatfacto models add to nerfstudio's (second base of their config classes)."""

    near_plane: float = NEAR
    """Gaussians closer to the camera than this are not drawn (the NeRFs' near plane)."""
    far_plane: float = FAR
    """Gaussians farther than this are not drawn (the NeRFs' far plane)."""
    max_gaussians: int = 500_000
    """Stop the fit when densification makes more Gaussians than this (a runaway), naming the scene and step."""
    rasterizer: str | None = None
    """Backend: None picks gsplat's CUDA rasterizer on a GPU and the PyTorch compositor elsewhere; "torch" forces the
    PyTorch compositor (e.g. to compare the two on a GPU)."""


class SplattingOnAnyDevice:
    """Mixin (put it before ``SplatfactoModel``): splatfacto's model with :mod:`.rasterize`, D colour channels, a
    fixed background, initialisation in the scene box and the Gaussian-count checks. ``channels`` and
    ``background_values`` are what the RGB and latent models differ in."""

    config: SplatfactoModelConfig
    scene_label = "<scene>"

    @property
    def channels(self) -> int:
        raise NotImplementedError

    def background_values(self) -> Tensor:
        """(D,) the constant background every render is composited over."""
        raise NotImplementedError

    def populate_modules(self):
        if not 0.0 <= self.config.cull_alpha_thresh < 0.5:  # gsplat would reset opacities to logit(>= 1) = NaN
            raise ValueError(
                f"cull_alpha_thresh = {self.config.cull_alpha_thresh} must be in [0, 0.5): gsplat's opacity reset sets "
                "opacities to twice it (splatfacto: 0.1, splatfacto-big: 0.005; benchmark.model.splatfacto)"
            )
        low, high = self.scene_box.aabb  # (3,), (3,): the NeRFs' box (splatfacto's random_scale is not used)
        means = low + (high - low) * torch.rand(self.config.num_random, 3)  # (N, 3)
        distances, _ = self.k_nearest_sklearn(means, 3)
        scales = torch.log(torch.from_numpy(distances).mean(dim=-1, keepdim=True).repeat(1, 3))  # (N, 3)
        n = len(means)
        self.gauss_params = torch.nn.ParameterDict(
            {
                "means": torch.nn.Parameter(means),
                "scales": torch.nn.Parameter(scales),
                "quats": torch.nn.Parameter(random_quat_tensor(n)),
                "features_dc": torch.nn.Parameter(torch.rand(n, self.channels)),  # (N, D): SH degree 0
                "features_rest": torch.nn.Parameter(
                    torch.zeros(n, num_sh_bases(self.config.sh_degree) - 1, self.channels)
                ),  # (N, K - 1, D)
                "opacities": torch.nn.Parameter(torch.logit(0.1 * torch.ones(n, 1))),
            }
        )
        self.camera_optimizer = self.config.camera_optimizer.setup(num_cameras=self.num_train_data, device="cpu")
        from torchmetrics.image import PeakSignalNoiseRatio

        self.psnr = PeakSignalNoiseRatio(data_range=1.0)
        self.ssim = SSIM(data_range=1.0, size_average=True, channel=self.channels)
        self.step = 0
        self.crop_box = None
        self.register_buffer("background_color", self.background_values())
        self.strategy = DefaultStrategy(
            prune_opa=self.config.cull_alpha_thresh,
            grow_grad2d=self.config.densify_grad_thresh,
            grow_scale3d=self.config.densify_size_thresh,
            grow_scale2d=self.config.split_screen_size,
            prune_scale3d=self.config.cull_scale_thresh,
            prune_scale2d=self.config.cull_screen_size,
            refine_scale2d_stop_iter=self.config.stop_screen_size_at,
            refine_start_iter=self.config.warmup_length,
            refine_stop_iter=self.config.stop_split_at,
            reset_every=self.config.reset_alpha_every * self.config.refine_every,
            refine_every=self.config.refine_every,
            pause_refine_after_reset=self.num_train_data + self.config.refine_every,
            absgrad=self.config.use_absgrad,
            revised_opacity=False,
        )
        self.strategy_state = self.strategy.initialize_state(scene_scale=1.0)
        self.gaussian_counts = [(0, n)]  # (step, count) at the start and after each refinement

    @property
    def backend(self) -> str:
        return self.config.rasterizer or backend_for(self.device)

    def set_background(self, background_color: Tensor):
        if background_color.shape != (self.channels,):
            raise ValueError(f"the background needs {self.channels} values, got {tuple(background_color.shape)}")
        self.background_color = background_color.to(self.background_color)

    def _get_background_color(self) -> Tensor:
        return self.background_color

    def colours(self, camera_to_world: Tensor) -> Tensor:
        """(N, D) colour of each Gaussian seen from the camera: splatfacto's SH (degree raised every
        ``sh_degree_interval`` steps) evaluated in PyTorch for any D, or sigmoid colours without SH."""
        from gsplat.cuda._torch_impl import _spherical_harmonics  # plain PyTorch, any number of channels

        if self.config.sh_degree == 0:
            return torch.sigmoid(self.features_dc)
        degree = min(self.step // self.config.sh_degree_interval, self.config.sh_degree)
        coeffs = torch.cat([self.features_dc[:, None], self.features_rest], dim=1)[:, : (degree + 1) ** 2]  # (N,K,D)
        directions = self.means - camera_to_world[0, :3, 3]  # (N, 3) from the camera centre
        return torch.clamp_min(_spherical_harmonics(degree, directions, coeffs) + 0.5, 0.0)  # gsplat's offset

    def inside_box(self) -> Tensor:
        """(N,) bool: the Gaussians whose centre is in the scene box."""
        low, high = self.scene_box.aabb.to(self.device)
        return ((self.means >= low) & (self.means <= high)).all(dim=-1).detach()

    def get_outputs(self, camera: Cameras) -> dict[str, Tensor]:
        if not isinstance(camera, Cameras):
            raise TypeError(f"{type(self).__name__} renders cameras, not {type(camera).__name__}")
        if self.training:
            if camera.shape[0] != 1:
                raise ValueError("one camera at a time")
            camera_to_world = self.camera_optimizer.apply_to_camera(camera)  # (1, 3, 4)
        else:
            camera_to_world = camera.camera_to_worlds
        downscale = self._get_downscale_factor()
        camera.rescale_output_resolution(1 / downscale)
        K = camera.get_intrinsics_matrices().to(self.device)  # (1, 3, 3) pixels
        width, height = int(camera.width.item()), int(camera.height.item())
        camera.rescale_output_resolution(downscale)
        self.last_size = (height, width)
        depth_wanted = self.config.output_depth_during_training or not self.training
        opacities = torch.sigmoid(self.opacities).squeeze(-1) * self.inside_box()  # (N,): none outside the box
        render, alpha, self.info = rasterize(
            self.means, self.quats, torch.exp(self.scales), opacities, self.colours(camera_to_world),
            viewmat_from_camera_to_world(camera_to_world), K, width, height,
            near_plane=self.config.near_plane, far_plane=self.config.far_plane,
            antialiased=self.config.rasterize_mode == "antialiased", expected_depth=depth_wanted,
            absgrad=self.strategy.absgrad, backend=self.backend,
        )  # fmt: skip
        if self.training:
            self.strategy.step_pre_backward(self.gauss_params, self.optimizers, self.strategy_state, self.step,
                                            self.info)  # fmt: skip
        channels = self.channels
        image = torch.clamp(render[0, ..., :channels] + (1 - alpha[0]) * self.background_color, 0.0, 1.0)  # (h,w,D)
        depth = None
        if depth_wanted:
            depth = torch.where(alpha[0] > 0, render[0, ..., channels:], render[0, ..., channels:].detach().max())
        return {"rgb": image, "depth": depth, "accumulation": alpha[0], "background": self.background_color}

    def get_loss_dict(self, outputs, batch, metrics_dict=None) -> dict[str, Tensor]:
        # splatfacto's loss: (1 - l) L1 + l (1 - SSIM), here over D channels; masks are not supported
        target = self.composite_with_background(self.get_gt_img(batch["image"]), outputs["background"])  # (h, w, D)
        prediction = outputs["rgb"]
        l1 = torch.abs(target - prediction).mean()
        ssim = self.ssim(target.permute(2, 0, 1)[None], prediction.permute(2, 0, 1)[None])
        loss = {"main_loss": (1 - self.config.ssim_lambda) * l1 + self.config.ssim_lambda * (1 - ssim)}
        if self.config.use_scale_regularization and self.step % 10 == 0:
            scales = torch.exp(self.scales)
            ratio = scales.amax(dim=-1) / scales.amin(dim=-1)
            excess = torch.clamp_min(ratio, self.config.max_gauss_ratio) - self.config.max_gauss_ratio
            loss["scale_reg"] = 0.1 * excess.mean()
        return loss

    def get_training_callbacks(self, training_callback_attributes: TrainingCallbackAttributes):
        pipeline = training_callback_attributes.pipeline
        if pipeline is not None:
            datamanager_config = pipeline.datamanager.config
            self.scene_label = str(datamanager_config.data or datamanager_config.dataparser.data)
            latent_steps = getattr(pipeline.config, "latent_steps", None)
            if latent_steps is not None:  # densification and opacity resets end with stage 1
                self.strategy.refine_stop_iter = min(self.strategy.refine_stop_iter, latent_steps)
        return super().get_training_callbacks(training_callback_attributes)

    def refines_at(self, step: int) -> bool:
        """Whether the strategy grows and prunes Gaussians after ``step`` (gsplat's ``DefaultStrategy`` condition)."""
        strategy = self.strategy
        return (
            strategy.refine_start_iter < step < strategy.refine_stop_iter
            and step % strategy.refine_every == 0
            and step % strategy.reset_every >= strategy.pause_refine_after_reset
        )

    def step_post_backward(self, step):
        super().step_post_backward(step)  # the strategy: grow, prune, reset opacities
        if self.refines_at(step):
            outside = ~self.inside_box()
            if outside.any():
                remove(params=self.gauss_params, optimizers=self.optimizers, state=self.strategy_state, mask=outside)
            self.gaussian_counts.append((step + 1, self.num_points))
        self.check_count(step)

    def check_count(self, step: int) -> None:
        """Stop the fit when the Gaussians are gone or more than ``max_gaussians``."""
        count, cap = self.num_points, self.config.max_gaussians
        if count == 0:
            raise GaussianCountError(
                f"{self.scene_label}: no Gaussian left after step {step} (all pruned: opacity below "
                f"cull_alpha_thresh = {self.config.cull_alpha_thresh}, too large, or out of the scene box). Lower "
                "cull_alpha_thresh or raise cull_screen_size in benchmark.model.splatfacto"
            )
        if count > cap:
            raise GaussianCountError(
                f"{self.scene_label}: {count} Gaussians after step {step}, more than max_gaussians = {cap} "
                "(densification ran away). Raise densify_grad_thresh, or max_gaussians if the memory allows, in "
                "benchmark.model.splatfacto"
            )

    def fit_record_fields(self) -> dict:
        """What :func:`igae.nerf.fit.fit` adds to the run's metrics.json: the rasterizer and the Gaussian counts."""
        import gsplat

        counts = [*self.gaussian_counts, (self.step + 1, self.num_points)]
        return {
            "rasterizer": {"backend": self.backend, "gsplat": gsplat.__version__},
            "gaussian_counts": [{"step": step, "count": count} for step, count in dict(counts).items()],
        }


@dataclass
class RGBSplatfactoModelConfig(SplatfactoFields, SplatfactoModelConfig):
    """Stock splatfacto over the scenes' white background, initialised in the scene box, on a GPU or a CPU."""

    _target: type = field(default_factory=lambda: RGBSplatfactoModel)


class RGBSplatfactoModel(SplattingOnAnyDevice, SplatfactoModel):
    config: RGBSplatfactoModelConfig

    @property
    def channels(self) -> int:
        return 3

    def background_values(self) -> Tensor:
        """The configured colour (:data:`BACKGROUND`, the scenes' white); splatfacto's ``random`` is refused."""
        if self.config.background_color == "random":
            raise ValueError("RGB splatting composites over a fixed background (the scenes' white), not 'random'")
        return get_color(self.config.background_color).float()

    def populate_modules(self):
        super().populate_modules()
        import torchmetrics.image.lpip as lpip  # looked up inside the block, where offline_safe_lpips patches it

        with offline_safe_lpips(type(self)):
            self.lpips = lpip.LearnedPerceptualImagePatchSimilarity(normalize=True)


@dataclass
class LatentSplatfactoModelConfig(LatentModelFields, SplatfactoFields, SplatfactoModelConfig):
    """Splatfacto rendering C latent channels in [0, 1] over the autoencoder's latent background, with densification
    thresholds for 16 x 16 latent images (docs/nerfstudio.md#splatting)."""

    _target: type = field(default_factory=lambda: LatentSplatfactoModel)
    num_downscales: int = 0
    """No coarse-to-fine: a 16-px latent image has no resolution to spare (splatfacto starts at 1/4)."""
    stop_screen_size_at: int = 0
    """No screen-size rules: at 16 px gsplat's 0.3 px^2 blur alone gives every Gaussian a radius of >= 2 px, 12.5 % of
    the image, so splatfacto's split rule (> 5 %) splits every Gaussian at every refinement and its cull rule
    (> 15 %) culls all but the smallest (measured: docs/nerfstudio.md#splatting)."""


class LatentSplatfactoModel(LatentImageMetrics, SplattingOnAnyDevice, SplatfactoModel):
    config: LatentSplatfactoModelConfig

    @property
    def channels(self) -> int:
        return self.config.latent_channels

    def background_values(self) -> Tensor:
        background = torch.tensor(self.config.latent_background, dtype=torch.float32)
        if background.shape != (self.channels,):
            raise ValueError(f"latent_background has {len(background)} values for {self.channels} latent channels")
        return background

    def composite_with_background(self, image: Tensor, background: Tensor) -> Tensor:
        return image  # a latent image has no alpha channel, whatever its C (splatfacto takes 4 channels for RGBA)

    def get_outputs_for_camera(self, camera: Cameras, obb_box=None) -> dict[str, Tensor]:
        outputs = super().get_outputs_for_camera(camera, obb_box)
        # ns-render's rgb_decoded (the latent pipeline's decoder; None inside its latent_renders_only)
        decoded = self.decode_outputs(outputs["rgb"]) if self.decode_outputs is not None else None
        if decoded is not None:
            outputs["rgb_decoded"] = decoded
        return outputs


def settings(model_config: type[SplatfactoModelConfig], lr_factor: float) -> MethodSettings:
    """Splatfacto's learning rates (nerfstudio's method config) times ``lr_factor``, no camera optimiser, no
    bilateral grid; :data:`INIT_GAUSSIANS` random Gaussians in the scene box, a white (RGB) or latent-white
    background. Whole cameras per step (``renders_cameras``)."""
    model = model_config(
        random_init=True,
        num_random=INIT_GAUSSIANS,
        background_color=BACKGROUND,  # RGB: the scenes' white (splatfacto: random); latent: the AE's latent of it
        camera_optimizer=CameraOptimizerConfig(mode="off"),
    )
    optimizers = {
        "means": adam_exponential(1.6e-4 * lr_factor, 1.6e-6 * lr_factor, 30000),
        **{
            name: {"optimizer": AdamOptimizerConfig(lr=lr * lr_factor, eps=1e-15), "scheduler": None}
            for name, lr in (
                ("features_dc", 0.0025),
                ("features_rest", 0.0025 / 20),
                ("opacities", 0.05),
                ("scales", 0.005),
                ("quats", 0.001),
            )
        },
    }
    return MethodSettings(model, optimizers, mixed_precision=False, renders_cameras=True)
