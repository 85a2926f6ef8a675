"""The IG-AE objective and its two phases (docs/paper.md#ig-ae-losses, #ig-ae-schedule): a warm-up of latent
Tri-Planes on a frozen AE, then the joint training of the AE with the Tri-Planes.

Warm-up: the AE is frozen; the Tri-Planes and the shared MLP learn to render the (normalised) latents of the
synthetic views: L_latent + plane TV. Joint phase: every switched-on term of

    1·L_latent + 1·L_RGB + 0.1·L_ae^synth + 1e-4·TV(planes) + 0.1·MSE_real + 0.01·perceptual_real + 1e-5·TV(z_real)

trains the encoder, the decoder and (unless ``parity_freeze_triplanes_in_joint``) the Tri-Planes and the MLP.

Latents are raw AE latents z (no ``scaling_factor``), normalised with tanh(scale·z) (:class:`LatentNormalizer`);
renderings r in [0, 1] are compared in the normalised range as clamp(2r - 1, -1, 1). Images are in [-1, 1].

Image storage: the synthetic views and the real images may be given as uint8 (0..255, what PNG files hold: 1 byte
per value, a quarter of float32's, which matters at the paper's 45,000 real images) or as float in [-1, 1]. They stay
on the host as given; each batch is moved to the device (pinned, non-blocking on CUDA) and only there converted to
float32 in [-1, 1] with x / 127.5 - 1 (:func:`images_to_model_range`), bit-identical to
:func:`igae.scenes.real_images.load_real_images`'s and :meth:`SceneViews.from_scene_data`'s float conversions.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from igae.ae.autoencoder import LatentNormalizer, decode, encode, latent_background, to_unit_hwc
from igae.ae.standard_training import heldout_psnr
from igae.ae.training_configs import IGAELossConfig, IGAEParity, IGAETrainingConfig
from igae.ae.triplanes import TriPlaneDecoder, TriPlanes, build_triplanes, render_latent_images
from igae.metrics import psnr
from igae.timing import synchronize

LOSS_TERMS = ("latent", "rgb", "ae_synth", "ae_real_mse", "ae_real_perceptual", "real_latent_tv", "plane_tv")
"""Names of the loss terms, as they appear in :attr:`IGAEResult.history`."""
JOINT_SYNTHETIC = ("latent", "rgb", "ae_synth", "plane_tv")
"""The terms computed on the synthetic views (the others need real images)."""


@dataclass
class SceneViews:
    """The training views of one synthetic scene."""

    images: torch.Tensor
    """(V, 3, H, W), square: uint8 in 0..255 (compact) or float in [-1, 1]; see :func:`images_to_model_range`."""
    c2w_opencv: torch.Tensor
    """(V, 4, 4) camera-to-world, OpenCV convention."""
    intrinsics_normalized: torch.Tensor
    """(V, 3, 3) intrinsics divided by the image size."""

    @classmethod
    def from_scene_data(cls, scene, indices: Sequence[int] | None = None, uint8: bool = False) -> SceneViews:
        """From :func:`igae.scenes.dataset_io.load_scene`'s ``SceneData``: its train views unless ``indices``.

        ``uint8``: keep the views as uint8 when they are exactly 8-bit values (RGB PNG views are: ``load_scene``
        gives u / 255), which train to bit-identical numbers in a quarter of the memory; views that are not (alpha
        composited on white) stay float32 in [-1, 1].
        """
        indices = np.asarray(scene.train_indices if indices is None else indices, dtype=np.int64)
        unit = np.asarray(scene.images, dtype=np.float32)[indices]  # (V, H, W, 3) in [0, 1]
        images = None
        if uint8:
            as_uint8 = np.rint(unit * 255).clip(0, 255).astype(np.uint8)  # (V, H, W, 3)
            if np.array_equal(as_uint8.astype(np.float32) / 255.0, unit):
                images = torch.from_numpy(as_uint8).permute(0, 3, 1, 2).contiguous()  # (V, 3, H, W) uint8
        if images is None:
            images = torch.from_numpy(unit).permute(0, 3, 1, 2).contiguous() * 2 - 1  # (V, 3, H, W) in [-1, 1]
        return cls(
            images=images,
            c2w_opencv=torch.as_tensor(np.asarray(scene.c2w_opencv)[indices], dtype=torch.float32),
            intrinsics_normalized=torch.as_tensor(
                np.asarray(scene.intrinsics_normalized)[indices], dtype=torch.float32
            ),
        )


@dataclass
class IGAEResult:
    """What :func:`train_igae` returns; the AE itself is trained in place."""

    ae: torch.nn.Module
    """The trained autoencoder (the object passed in), in eval mode."""
    triplanes: TriPlanes
    """The latent Tri-Planes of the synthetic scenes, in the order of ``scenes``."""
    decoder: TriPlaneDecoder
    """The shared Tri-Plane MLP."""
    background: torch.Tensor
    """(C,) latent background colour in [0, 1] the Tri-Planes were rendered over."""
    history: list[dict] = field(default_factory=list)
    """One dict per step: step (global), phase ('warmup' or 'joint'), phase_step, each active loss term (unweighted),
    total (weighted sum), seconds (wall time of the step)."""
    curves: list[dict] = field(default_factory=list)
    """The training curves, one dict per point (see :func:`measure_curve_point` for the keys): phase, phase_step (steps
    done in the phase), step (steps done in all), train_seconds (the steps' summed wall time so far) and PSNRs."""


@dataclass
class IGAECurveData:
    """What the training curves are measured on besides the train views: fixed for the whole training."""

    heldout: Sequence[SceneViews]
    """The held-out views of every synthetic scene, in the order of the training scenes: scene i's views are
    rendered by Tri-Plane i (never trained on), so the latent PSNR there measures 3D consistency."""
    real: torch.Tensor | None = None
    """(N, 3, H, W) real test images, uint8 or float in [-1, 1], for the AE's own reconstruction; or None."""


class _ShuffledCycle:
    """Indices 0..n-1 in a fresh random order each pass, handed out in batches (a batch may span two passes);
    without ``reshuffle``, 0..n-1 in order at every pass."""

    def __init__(self, n: int, generator: torch.Generator, reshuffle: bool = True):
        self.n, self.generator, self.reshuffle = n, generator, reshuffle
        self.order, self.position = self._new_order(), 0

    def _new_order(self) -> torch.Tensor:
        return torch.randperm(self.n, generator=self.generator) if self.reshuffle else torch.arange(self.n)

    def take(self, k: int) -> torch.Tensor:
        parts = []
        while k > 0:
            if self.position == self.n:
                self.order, self.position = self._new_order(), 0
            part = self.order[self.position : self.position + k]
            self.position += len(part)
            k -= len(part)
            parts.append(part)
        return torch.cat(parts)


def images_to_model_range(images: torch.Tensor) -> torch.Tensor:
    """Images as the AE sees them: uint8 (..., 3, H, W) in 0..255 -> float32 in [-1, 1] (x / 127.5 - 1, the same
    float32 numbers as u / 255 * 2 - 1); float images are returned as float32, unchanged."""
    if images.dtype == torch.uint8:
        return images.float() / 127.5 - 1.0
    return images.float()


def _fetch(store: torch.Tensor, indices: torch.Tensor | slice, device: torch.device) -> torch.Tensor:
    """Rows ``indices`` of an image store (uint8 or float, on the host) as float32 in [-1, 1] on ``device``.

    Only the batch is gathered, moved (from pinned memory, non-blocking, on CUDA) and converted on the device.
    """
    batch = store[indices]  # (B, 3, H, W), the store's dtype
    if batch.device.type == "cpu" and device.type == "cuda":
        batch = batch.pin_memory()
    return images_to_model_range(batch.to(device, non_blocking=True))  # (B, 3, H, W) float32


def latent_tv_l2(z: torch.Tensor) -> torch.Tensor:
    """Non-squared L2 total variation of (B, C, h, w) latents over the whole batch: (‖Δ_rows‖ + ‖Δ_cols‖) / (h + w)."""
    rows = torch.linalg.vector_norm(z[..., 1:, :] - z[..., :-1, :])
    cols = torch.linalg.vector_norm(z[..., :, 1:] - z[..., :, :-1])
    return (rows + cols) / (z.shape[-2] + z.shape[-1])


def _check_inputs(
    scenes: Sequence[SceneViews], real_images: torch.Tensor | None, config: IGAETrainingConfig, parity: IGAEParity
):
    if not scenes:
        raise ValueError("train_igae: no synthetic scenes given; IG-AE needs multi-view scenes to build Tri-Planes")
    size = scenes[0].images.shape[-2:]
    for index, images in enumerate([scene.images for scene in scenes] + [real_images]):
        if images is not None and images.dtype != torch.uint8 and not images.is_floating_point():
            what = f"scene {index}" if index < len(scenes) else "real_images"
            raise ValueError(f"train_igae: {what}: images must be uint8 (0..255) or float, got {images.dtype}")
    for index, scene in enumerate(scenes):
        views = scene.images.shape[0]
        if scene.images.ndim != 4 or scene.images.shape[1] != 3 or scene.images.shape[-2:] != size:
            raise ValueError(
                f"train_igae: scene {index}: images must be (V, 3, H, W) with the same H, W as scene 0 "
                f"({tuple(size)}), got {tuple(scene.images.shape)}"
            )
        if scene.c2w_opencv.shape != (views, 4, 4) or scene.intrinsics_normalized.shape != (views, 3, 3):
            raise ValueError(
                f"train_igae: scene {index}: cameras must be c2w (V, 4, 4) and intrinsics (V, 3, 3) with V = {views}, "
                f"got {tuple(scene.c2w_opencv.shape)} and {tuple(scene.intrinsics_normalized.shape)}"
            )
        if views == 0:
            raise ValueError(f"train_igae: scene {index} has no views")
    if size[0] != size[1]:
        raise ValueError(f"train_igae: images must be square (the renderer renders R x R latents), got {tuple(size)}")
    if real_images is not None and (
        real_images.ndim != 4 or real_images.shape[1] != 3 or len(real_images) == 0 or real_images.shape[-2:] != size
    ):
        raise ValueError(
            f"train_igae: real_images must be (N, 3, H, W) with N > 0 and the synthetic views' size {tuple(size)} "
            f"(they share the AE's batches), got {tuple(real_images.shape)}; resize them first"
        )
    if not 0.0 <= config.freeze_mlp_after_fraction <= 1.0:
        raise ValueError(
            f"train_igae: freeze_mlp_after_fraction must be in [0, 1], got {config.freeze_mlp_after_fraction}"
        )
    if min(config.warmup_steps, config.joint_steps) < 0 or min(config.batch_views, config.warmup_batch_views) < 1:
        raise ValueError("train_igae: step counts must be >= 0 and batch sizes >= 1")
    if config.posterior not in ("sample", "mean"):
        raise ValueError(f"train_igae: posterior must be 'sample' or 'mean', got {config.posterior!r}")
    if config.curve_points < 0 or config.curve_train_views < 1:
        raise ValueError("train_igae: curve_points must be >= 0 and curve_train_views >= 1")
    if parity.lr_decay_per_epoch is not None and config.lr_decay_per_step != 1.0:
        raise ValueError(
            f"train_igae: the lr decays per epoch (parity, {parity.lr_decay_per_epoch}) and per step "
            f"(lr_decay_per_step = {config.lr_decay_per_step}); keep one"
        )
    if min(parity.warmup_steps_per_epoch, parity.joint_steps_per_epoch) < 1:
        raise ValueError("train_igae: parity's steps per epoch must be >= 1")


@torch.no_grad()
def _posterior_mean_std(
    ae, images: torch.Tensor, batch_size: int, autocast: Callable[[], AbstractContextManager] = nullcontext
) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior mean and std (N, C, h, w) float32 of every image (an image store: uint8 or float), on the CPU; zero
    std for deterministic encoders."""
    device = next(ae.parameters()).device
    means, stds = [], []
    for start in range(0, len(images), batch_size):
        with autocast():
            output = ae.encode(_fetch(images, slice(start, start + batch_size), device))
        if hasattr(output, "latent_dist"):
            means.append(output.latent_dist.mean.float().cpu())
            stds.append(output.latent_dist.std.float().cpu())
        else:  # AutoencoderTiny: deterministic latents
            means.append(output.latents.float().cpu())
            stds.append(torch.zeros_like(means[-1]))
    return torch.cat(means), torch.cat(stds)


def lr_factor(config: IGAETrainingConfig, parity: IGAEParity, phase: str, step: int) -> float:
    """The lr multiplier at ``step`` (0-based) of ``phase`` ('warmup' or 'joint'): ``lr_decay_per_step ** step``, or
    under parity ``lr_decay_per_epoch ** (epochs completed)``, the official ``ExponentialLR`` stepped per epoch."""
    if parity.lr_decay_per_epoch is None:
        return config.lr_decay_per_step**step
    steps_per_epoch = getattr(parity, f"{phase}_steps_per_epoch")
    return parity.lr_decay_per_epoch ** (step // steps_per_epoch)


def _set_lrs(optimizer: torch.optim.Optimizer, factor: float, frozen: set[str] = frozenset()) -> None:
    for group in optimizer.param_groups:
        group["lr"] = 0.0 if group["name"] in frozen else group["initial_lr"] * factor


def _adam(groups: list[tuple[str, list[torch.nn.Parameter], float]]) -> torch.optim.Adam:
    return torch.optim.Adam(
        [{"params": params, "lr": lr, "initial_lr": lr, "name": name} for name, params, lr in groups if params]
    )


def warmup_loss_weights(loss: IGAELossConfig) -> dict[str, float]:
    """The warm-up's terms and their weights: L_latent, plus the plane TV when it is on."""
    weights = {"latent": loss.latent_weight}
    if loss.plane_tv:
        weights["plane_tv"] = loss.plane_tv_weight_warmup
    return weights


def joint_loss_weights(loss: IGAELossConfig, real_terms: Sequence[str]) -> dict[str, float]:
    """The joint phase's terms and their weights, in :data:`LOSS_TERMS` order: the synthetic terms switched on, and
    the real-image terms in ``real_terms`` (those switched on whose inputs, real images and perceptual network, exist).
    The keys are the terms :func:`_joint_losses` computes: a term not in them is neither computed nor added."""
    weights = {
        "latent": loss.latent_weight,
        "rgb": loss.rgb_weight,
        "ae_synth": loss.ae_synth_weight,
        "ae_real_mse": loss.ae_real_mse_weight,
        "ae_real_perceptual": loss.ae_real_perceptual_weight,
        "real_latent_tv": loss.real_latent_tv_weight,
        "plane_tv": loss.plane_tv_weight_joint,
    }
    on = [name for name in LOSS_TERMS if name in real_terms or (name in JOINT_SYNTHETIC and getattr(loss, name))]
    return {name: weights[name] for name in on}


def _weighted_total(terms: dict[str, torch.Tensor], weights: dict[str, float]) -> torch.Tensor:
    """Σ weight · term, summed in the order of ``terms``."""
    weighted = [weights[name] * value for name, value in terms.items()]
    return sum(weighted[1:], weighted[0])


def _descend(optimizer: torch.optim.Optimizer, total: torch.Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    optimizer.step()


def _flatten_views(
    scenes: Sequence[SceneViews], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """All synthetic views, flattened: view v belongs to scene ``scene_of[v]``. The images stay on the host, uint8 when
    every scene's are (else float32 in [-1, 1]); batches are moved to the device. The cameras are small: on the device.

    Returns images (T, 3, H, W), c2w (T, 4, 4), intrinsics (T, 3, 3), scene_of (T,).
    """
    if all(scene.images.dtype == torch.uint8 for scene in scenes):
        images = torch.cat([scene.images for scene in scenes])  # (T, 3, H, W) uint8
    else:
        images = torch.cat([images_to_model_range(scene.images) for scene in scenes])  # (T, 3, H, W) float32
    c2w = torch.cat([scene.c2w_opencv.float() for scene in scenes]).to(device)  # (T, 4, 4)
    intrinsics = torch.cat([scene.intrinsics_normalized.float() for scene in scenes]).to(device)  # (T, 3, 3)
    scene_of = torch.cat([torch.full((len(scene.images),), i, dtype=torch.long) for i, scene in enumerate(scenes)])
    return images, c2w, intrinsics, scene_of.to(device)


def _latent_geometry(
    ae, normalizer: LatentNormalizer, images: torch.Tensor, config: IGAETrainingConfig, device: torch.device
) -> tuple[int, int, torch.Tensor]:
    """(latent channels C, latent resolution h, background (C,) on ``device``) of the frozen AE on these images."""
    with torch.no_grad():
        latent_shape = encode(ae, _fetch(images, slice(0, 1), device)).shape[1:]  # (C, h, w)
    latent_channels, latent_resolution = latent_shape[0], latent_shape[-1]
    if latent_shape[-2] != latent_resolution:
        raise ValueError(f"train_igae: the AE's latents must be square, got {tuple(latent_shape)}")
    if config.background is None:
        background = latent_background(ae, normalizer, images.shape[-1], device=device).float()  # (C,)
    else:
        background = torch.as_tensor(config.background, dtype=torch.float32)
    if background.shape != (latent_channels,):
        raise ValueError(
            f"train_igae: background has {tuple(background.shape)} values, the AE has {latent_channels} latent channels"
        )
    return latent_channels, latent_resolution, background.to(device)


@dataclass
class _Training:
    """What both phases share: the AE, the flattened synthetic views, their Tri-Planes and MLP, the generators."""

    config: IGAETrainingConfig
    device: torch.device
    ae: torch.nn.Module
    normalizer: LatentNormalizer
    images: torch.Tensor
    """(T, 3, H, W) every synthetic view, on the host: uint8 or float32 in [-1, 1]."""
    c2w: torch.Tensor
    """(T, 4, 4) on the device."""
    intrinsics: torch.Tensor
    """(T, 3, 3) on the device."""
    scene_of: torch.Tensor
    """(T,) the scene (Tri-Plane) index of each view, on the device."""
    views: _ShuffledCycle
    """The synthetic views' batches, both phases."""
    batch_generator: torch.Generator
    """Batches, on the CPU."""
    noise_generator: torch.Generator
    """Ray jitter and posterior samples, on the device."""
    triplanes: TriPlanes
    mlp: TriPlaneDecoder
    background: torch.Tensor
    """(C,) latent background colour in [0, 1], on the device."""
    latent_resolution: int
    use_amp: bool
    parity: IGAEParity

    def lr_factor(self, phase: str, step: int) -> float:
        return lr_factor(self.config, self.parity, phase, step)

    def autocast(self) -> AbstractContextManager:
        """bf16 autocast of the forward passes under AMP on CUDA; nothing otherwise."""
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16) if self.use_amp else nullcontext()

    def render(self, view_indices: torch.Tensor) -> torch.Tensor:
        """Normalised latent renderings (B, C, h, w) in [-1, 1] of the given train views (ray jitter on)."""
        view_indices = view_indices.to(self.device)
        return self.render_cameras(
            self.scene_of[view_indices], self.c2w[view_indices], self.intrinsics[view_indices], jitter=True
        )

    def render_cameras(
        self, scene_of: torch.Tensor, c2w: torch.Tensor, intrinsics: torch.Tensor, jitter: bool
    ) -> torch.Tensor:
        """Normalised latent renderings (B, C, h, w) in [-1, 1] of scenes (B,) seen from cameras (B, 4, 4), (B, 3, 3);
        without jitter, deterministic (bin midpoints) and drawing nothing from the noise generator."""
        rendered, _ = render_latent_images(
            self.triplanes,
            self.mlp,
            scene_of,
            c2w,
            intrinsics,
            self.latent_resolution,
            self.background,
            self.config.triplanes.render,
            generator=self.noise_generator if jitter else None,
            jitter=jitter,
        )  # (B, C, h, w) in [0, 1]
        return (2 * rendered.float() - 1).clamp(-1, 1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The latents (B, C, h, w) every loss uses: a posterior sample or the mean (``config.posterior``)."""
        sample = self.config.posterior == "sample"
        return encode(self.ae, x, sample=sample, generator=self.noise_generator if sample else None)

    def plane_tv(self, view_indices: torch.Tensor) -> torch.Tensor:
        """Squared TV of the Tri-Planes of the given views' scenes, summed over the views unless configured not to."""
        tv = self.triplanes.tv_loss(self.scene_of[view_indices.to(self.device)])
        return tv * len(view_indices) if self.config.loss.plane_tv_sum_over_views else tv


def _prepare(
    ae,
    normalizer: LatentNormalizer,
    scenes: Sequence[SceneViews],
    config: IGAETrainingConfig,
    log: Callable[[str], None],
    parity: IGAEParity,
) -> _Training:
    """Seed the generators, flatten the views, freeze the AE (on the device) and build the Tri-Planes and the MLP."""
    device = torch.device(config.device)
    batch_generator = torch.Generator().manual_seed(config.seed)
    noise_generator = torch.Generator(device=device).manual_seed(config.seed + 1)
    init_generator = torch.Generator().manual_seed(config.seed + 2)  # Tri-Plane and MLP init
    use_amp = config.amp and device.type == "cuda"
    if config.amp and not use_amp:
        log(f"igae: amp is ignored on {device.type}: float32 training")
    images, c2w, intrinsics, scene_of = _flatten_views(scenes, device)
    views = _ShuffledCycle(len(images), batch_generator)
    ae.to(device).eval().requires_grad_(False)
    latent_channels, latent_resolution, background = _latent_geometry(ae, normalizer, images, config, device)
    triplanes, mlp = build_triplanes(
        config.triplanes, len(scenes), latent_channels, generator=init_generator, plane_axes=parity.plane_axes
    )
    return _Training(
        config=config,
        device=device,
        ae=ae,
        normalizer=normalizer,
        images=images,
        c2w=c2w,
        intrinsics=intrinsics,
        scene_of=scene_of,
        views=views,
        batch_generator=batch_generator,
        noise_generator=noise_generator,
        triplanes=triplanes.to(device),
        mlp=mlp.to(device),
        background=background,
        latent_resolution=latent_resolution,
        use_amp=use_amp,
        parity=parity,
    )


class _History:
    """The steps of :attr:`IGAEResult.history`, and a log line every ``log_every`` steps of a phase."""

    def __init__(self, device: torch.device, log_every: int, log: Callable[[str], None]):
        self.device, self.log_every, self.log = device, max(log_every, 1), log
        self.entries: list[dict] = []

    def record(
        self,
        phase: str,
        phase_step: int,
        n_steps: int,
        terms: dict[str, torch.Tensor],
        total: torch.Tensor,
        started: float,
    ) -> None:
        """Append step ``phase_step`` of ``n_steps``: its terms and total (one device sync) and its seconds."""
        entry = {"step": len(self.entries), "phase": phase, "phase_step": phase_step}
        values = torch.stack([value.detach().float() for value in (*terms.values(), total)]).tolist()  # one sync
        synchronize(self.device)
        entry.update(zip(terms, values[:-1], strict=True))
        entry.update(total=values[-1], seconds=time.perf_counter() - started)
        self.entries.append(entry)
        if phase_step % self.log_every == 0 or phase_step == n_steps - 1:
            values = " ".join(f"{name} {entry[name]:.4g}" for name in (*terms, "total"))
            self.log(f"igae: {phase} step {phase_step + 1}/{n_steps}: {values} ({entry['seconds']:.2f} s)")


class _Curves:
    """The points of :attr:`IGAEResult.curves`: fixed train views, held-out views and real test images, measured
    with the current AE, Tri-Planes and MLP between steps (no gradient, no draw from the training generators)."""

    def __init__(self, run: _Training, data: IGAECurveData | None, history: _History, log: Callable[[str], None]):
        self.run, self.history, self.log = run, history, log
        self.points = run.config.curve_points if data is not None else 0
        self.entries: list[dict] = []
        if not self.points:
            return
        n_views = min(run.config.curve_train_views, len(run.images))
        self.train_views = torch.linspace(0, len(run.images) - 1, n_views).round().long()  # (n,) spread evenly
        self.heldout = _flatten_views(data.heldout, run.device) if data.heldout else None
        if self.heldout is not None and len(data.heldout) != run.triplanes.n_scenes:
            raise ValueError(
                f"train_igae: curve data holds held-out views of {len(data.heldout)} scenes, the training "
                f"{run.triplanes.n_scenes}: scene i's held-out views must be rendered by Tri-Plane i"
            )
        self.real = None if data.real is None else images_to_model_range(data.real)  # (N, 3, H, W) float32, once

    def due(self, phase_step: int, n_steps: int) -> bool:
        """Whether a point is measured after ``phase_step`` steps of a phase of ``n_steps``."""
        if not self.points or n_steps == 0:
            return False
        due_steps = {round(k * n_steps / self.points) for k in range(self.points + 1)}
        return phase_step in due_steps

    def record(self, phase: str, phase_step: int, n_steps: int) -> None:
        if not self.due(phase_step, n_steps):
            return
        run = self.run
        point = {
            "phase": phase,
            "phase_step": phase_step,
            "step": len(self.history.entries),
            "train_seconds": sum(entry["seconds"] for entry in self.history.entries),
        }
        cameras = (run.scene_of, run.c2w, run.intrinsics)
        point.update(measure_curve_point(run, run.images[self.train_views], [c[self.train_views] for c in cameras]))
        if self.heldout is not None:
            images, c2w, intrinsics, scene_of = self.heldout
            point.update(measure_curve_point(run, images, (scene_of, c2w, intrinsics), suffix="heldout"))
        if self.real is not None:
            point["ae_psnr_real"] = heldout_psnr(run.ae, self.real, run.device)
        self.entries.append(point)
        psnrs = {key: value for key, value in point.items() if key.endswith(("train", "heldout", "real"))}
        values = " ".join(f"{key} {value:.2f}" for key, value in psnrs.items())
        self.log(f"igae: curve, {phase} after {phase_step}/{n_steps} steps: {values} (PSNR, dB)")


def _unit_psnr(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Mean PSNR (dB, pinned protocol) of (B, C, h, w) images or normalised latents, both in [-1, 1]."""
    return psnr(to_unit_hwc(pred), to_unit_hwc(target)).mean().item()


@torch.no_grad()
def measure_curve_point(
    run: _Training, images: torch.Tensor, cameras: Sequence[torch.Tensor], suffix: str = "train", batch: int = 16
) -> dict[str, float]:
    """The official evaluator's families on some views (docs/paper.md#evaluation), mean PSNR in dB:

    - ``latent_psnr_<suffix>`` (``metrics_e``): the deterministic Tri-Plane rendering vs the normalised posterior
      mean E(x), both in [-1, 1] mapped to [0, 1];
    - ``decoded_psnr_<suffix>`` (``metrics_d``): D(rendering) vs x;
    - ``ae_psnr_<suffix>`` (``metrics_ae``): D(E(x)) vs x, with the posterior mean.

    ``images`` an image store (V, 3, H, W), ``cameras`` (scene_of (V,), c2w (V, 4, 4), intrinsics (V, 3, 3)).
    """
    was_training = run.ae.training, run.triplanes.training, run.mlp.training
    run.ae.eval(), run.triplanes.eval(), run.mlp.eval()
    sums = {"latent": 0.0, "decoded": 0.0, "ae": 0.0}
    for start in range(0, len(images), batch):
        part = slice(start, start + batch)
        x = _fetch(images, part, run.device)  # (b, 3, H, W) in [-1, 1]
        mean = encode(run.ae, x)  # (b, C, h, w)
        rendered = run.render_cameras(*(c[part].to(run.device) for c in cameras), jitter=False)  # (b, C, h, w)
        sums["latent"] += _unit_psnr(rendered, run.normalizer.normalize(mean)) * len(x)
        sums["decoded"] += _unit_psnr(decode(run.ae, run.normalizer.denormalize(rendered)), x) * len(x)
        sums["ae"] += _unit_psnr(decode(run.ae, mean), x) * len(x)
    run.ae.train(was_training[0]), run.triplanes.train(was_training[1]), run.mlp.train(was_training[2])
    return {f"{family}_psnr_{suffix}": total / len(images) for family, total in sums.items()}


def _warmup_losses(
    run: _Training, batch: torch.Tensor, posterior: tuple[torch.Tensor, torch.Tensor] | None
) -> dict[str, torch.Tensor]:
    """The warm-up terms of one batch of views (B,): L_latent against a fresh posterior sample z of the frozen AE
    (drawn from the cached ``posterior`` mean and std when given, else encoded), and the plane TV when on."""
    if posterior is not None:
        z = posterior[0][batch].to(run.device)  # (B, C, h, w) the mean
        if run.config.posterior == "sample":
            std = posterior[1][batch].to(run.device)
            z = z + std * torch.randn(z.shape, generator=run.noise_generator, device=run.device, dtype=z.dtype)
    else:
        with torch.no_grad(), run.autocast():
            x = _fetch(run.images, batch, run.device)  # (B, 3, H, W) float32 in [-1, 1]
            z = run.encode(x).float()  # (B, C, h, w)
    with run.autocast():
        rendered = run.render(batch)  # (B, C, h, w) float32 in [-1, 1]
    terms = {"latent": F.mse_loss(run.normalizer.normalize(z), rendered)}
    if run.config.loss.plane_tv:
        terms["plane_tv"] = run.plane_tv(batch)
    return terms


def _warmup(run: _Training, history: _History, curves: _Curves, log: Callable[[str], None]) -> None:
    """The warm-up: the AE frozen, L_latent (+ plane TV) trains the Tri-Planes and the MLP."""
    config = run.config
    run.triplanes.train()
    run.mlp.train()
    posterior = None
    if config.cache_warmup_latents:
        started = time.perf_counter()
        posterior = _posterior_mean_std(run.ae, run.images, config.encode_batch_size, run.autocast)  # (T, C, h, w) x2
        log(f"igae: encoded {len(run.images)} synthetic views for the warm-up in {time.perf_counter() - started:.1f} s")
    optimizer = _adam(
        [
            ("mlp", list(run.mlp.parameters()), config.warmup_lr_mlp),
            ("planes", [run.triplanes.planes], config.warmup_lr_planes),
        ]
    )
    weights = warmup_loss_weights(config.loss)
    freeze_mlp_at = round(config.freeze_mlp_after_fraction * config.warmup_steps)
    log(
        f"igae: warm-up, {config.warmup_steps} steps of {config.warmup_batch_views} views over "
        f"{run.triplanes.n_scenes} scenes; AE frozen; MLP frozen from step {freeze_mlp_at}"
    )
    curves.record("warmup", 0, config.warmup_steps)
    for step in range(config.warmup_steps):
        started = time.perf_counter()
        _set_lrs(optimizer, run.lr_factor("warmup", step), frozen={"mlp"} if step >= freeze_mlp_at else set())
        batch = run.views.take(config.warmup_batch_views)  # (B,)
        terms = _warmup_losses(run, batch, posterior)
        total = _weighted_total(terms, weights)
        _descend(optimizer, total)
        history.record("warmup", step, config.warmup_steps, terms, total, started)
        curves.record("warmup", step + 1, config.warmup_steps)


def _joint_losses(
    run: _Training,
    weights: dict[str, float],
    batch: torch.Tensor,
    x: torch.Tensor,
    x_real: torch.Tensor,
    perceptual: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None,
) -> dict[str, torch.Tensor]:
    """The joint-phase terms of one batch, unweighted float32, for exactly the terms in ``weights`` (in its order).

    ``batch`` (B,) the synthetic views and ``x`` (B, 3, H, W) their images; ``x_real`` (b, 3, H, W) the real images
    (b = 0 without real terms); both in [-1, 1]. One encoder pass for the synthetic views (when a term needs their
    latents) and the real images, one decoder pass for every decoded batch; the losses are computed in float32.
    """
    synthetic_latents = "latent" in weights or "ae_synth" in weights
    real_latents = any(name in weights for name in ("ae_real_mse", "ae_real_perceptual", "real_latent_tv"))
    real_reconstruction = "ae_real_mse" in weights or "ae_real_perceptual" in weights
    with run.autocast():  # forward passes (bf16 under AMP)
        to_encode = torch.cat([x, x_real]) if synthetic_latents else x_real
        z_all = run.encode(to_encode) if len(to_encode) else None
        z = z_all[: len(x)] if synthetic_latents else None  # (B, C, h, w)
        z_real = z_all[len(to_encode) - len(x_real) :] if real_latents else None  # (b, C, h, w)
        rendered = run.render(batch) if "latent" in weights or "rgb" in weights else None  # (B, C, h, w) in [-1, 1]
        to_decode = {}  # what -> latents to decode
        if "rgb" in weights:
            to_decode["rendering"] = run.normalizer.denormalize(rendered)
        if "ae_synth" in weights:
            to_decode["synthetic"] = z
        if real_reconstruction:
            to_decode["real"] = z_real
        decoded = {}  # what -> decoded images (B or b, 3, H, W) float32
        if to_decode:
            images = decode(run.ae, torch.cat(list(to_decode.values()))).split([len(t) for t in to_decode.values()])
            decoded = {what: image.float() for what, image in zip(to_decode, images, strict=True)}

    terms: dict[str, torch.Tensor] = {}
    if "latent" in weights:
        terms["latent"] = F.mse_loss(run.normalizer.normalize(z.float()), rendered)
    if "rgb" in weights:
        terms["rgb"] = F.mse_loss(decoded["rendering"], x)
    if "ae_synth" in weights:
        terms["ae_synth"] = F.mse_loss(decoded["synthetic"], x)
    if "ae_real_mse" in weights:
        terms["ae_real_mse"] = F.mse_loss(decoded["real"], x_real)
    if "ae_real_perceptual" in weights:
        terms["ae_real_perceptual"] = perceptual(decoded["real"], x_real).mean()
    if "real_latent_tv" in weights:
        terms["real_latent_tv"] = latent_tv_l2(z_real.float())
    if "plane_tv" in weights:
        terms["plane_tv"] = run.plane_tv(batch)
    return terms


def _real_terms(
    loss: IGAELossConfig,
    real_images: torch.Tensor | None,
    perceptual: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None,
    log: Callable[[str], None],
) -> list[str]:
    """The real-image terms switched on whose inputs exist; logs the ones skipped for lack of them."""
    real_terms = [name for name in ("ae_real_mse", "ae_real_perceptual", "real_latent_tv") if getattr(loss, name)]
    if loss.ae_real_perceptual and perceptual is None:
        log("igae: ae_real_perceptual is on but no perceptual network was given: the term is skipped")
        real_terms.remove("ae_real_perceptual")
    if real_images is None and real_terms:
        log(f"igae: no real images given: {', '.join(real_terms)} skipped")
        real_terms = []
    return real_terms


def joint_ae_parameters(ae, train_quant_convs: bool = True) -> tuple[list, list]:
    """(encoder, decoder) parameters the joint phase optimises: ``encoder.*`` (with ``quant_conv.*``) and the rest
    (``decoder.*`` with ``post_quant_conv.*``); without ``train_quant_convs``, the official code's ``encoder.*`` and
    ``decoder.*`` only."""
    named = dict(ae.named_parameters())
    encoder = [p for n, p in named.items() if n.startswith(("encoder.", "quant_conv."))]
    decoder = [p for n, p in named.items() if not n.startswith(("encoder.", "quant_conv."))]
    if not train_quant_convs:
        encoder = [p for n, p in named.items() if n.startswith("encoder.")]
        decoder = [p for n, p in named.items() if n.startswith("decoder.")]
    return encoder, decoder


def _joint_optimizer(run: _Training) -> torch.optim.Adam:
    """Put the AE (and, unless the parity switch, the Tri-Planes and the MLP) in training; their Adam."""
    config, ae = run.config, run.ae
    train_planes = not config.parity_freeze_triplanes_in_joint
    ae.train().requires_grad_(False)
    encoder_params, decoder_params = joint_ae_parameters(ae, run.parity.train_quant_convs)
    for parameter in encoder_params + decoder_params:
        parameter.requires_grad_(True)
    run.triplanes.train().requires_grad_(train_planes)
    run.mlp.train().requires_grad_(train_planes)
    groups = [
        ("encoder", encoder_params, config.joint_lr_encoder),
        ("decoder", decoder_params, config.joint_lr_decoder),
    ]
    if train_planes:
        groups += [
            ("planes", [run.triplanes.planes], config.joint_lr_planes),
            ("mlp", list(run.mlp.parameters()), config.joint_lr_mlp),
        ]
    return _adam(groups)


def _joint(
    run: _Training,
    real_images: torch.Tensor | None,
    perceptual: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None,
    history: _History,
    curves: _Curves,
    log: Callable[[str], None],
) -> None:
    """The joint phase: every switched-on term trains the encoder, the decoder (and the Tri-Planes and the MLP)."""
    config = run.config
    real_terms = _real_terms(config.loss, real_images, perceptual, log)
    reals = None
    if real_terms:
        reals = _ShuffledCycle(len(real_images), run.batch_generator, reshuffle=run.parity.reshuffle_real_images)
    weights = joint_loss_weights(config.loss, real_terms)
    optimizer = _joint_optimizer(run)
    log(
        f"igae: joint phase, {config.joint_steps} steps of {config.batch_views} views"
        f"{f' + {config.batch_real} real images' if real_terms else ''}; terms: {', '.join(weights)}; Tri-Planes and "
        f"MLP {'frozen (parity with the official code)' if config.parity_freeze_triplanes_in_joint else 'trained'}"
    )
    curves.record("joint", 0, config.joint_steps)
    for step in range(config.joint_steps):
        started = time.perf_counter()
        _set_lrs(optimizer, run.lr_factor("joint", step))
        batch = run.views.take(config.batch_views)  # (B,)
        x = _fetch(run.images, batch, run.device)  # (B, 3, H, W) float32 in [-1, 1]
        x_real = _fetch(real_images, reals.take(config.batch_real), run.device) if reals else x[:0]  # (b, 3, H, W)
        terms = _joint_losses(run, weights, batch, x, x_real, perceptual)
        if not any(term.requires_grad for term in terms.values()):
            raise ValueError("train_igae: every joint-phase loss term is switched off; nothing would be trained")
        total = _weighted_total(terms, weights)
        _descend(optimizer, total)
        history.record("joint", step, config.joint_steps, terms, total, started)
        curves.record("joint", step + 1, config.joint_steps)


def train_igae(
    ae,
    normalizer: LatentNormalizer,
    scenes: Sequence[SceneViews],
    real_images: torch.Tensor | None,
    config: IGAETrainingConfig,
    perceptual: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    log: Callable[[str], None] = print,
    curve_data: IGAECurveData | None = None,
    parity: IGAEParity | None = None,
) -> IGAEResult:
    """Train IG-AE: warm-up of the Tri-Planes on the frozen ``ae``, then the joint phase. ``ae`` is trained in place.

    Args:
        ae: a diffusers autoencoder (``AutoencoderKL``; ``AutoencoderTiny`` works without posterior noise).
        normalizer: maps raw latents to [-1, 1].
        scenes: the synthetic scenes' training views; scene i gets Tri-Plane i.
        real_images: (N, 3, H, W) for L_ae^real, uint8 in 0..255 (compact: ``load_real_images(..., uint8=True)``)
            or float in [-1, 1]; or None (real terms skipped). Kept where it is (the host); batches are moved.
        config: schedule, losses, seed and device.
        perceptual: ``perceptual(prediction, target) -> scalar`` on images in [-1, 1], or None (term skipped).
        log: where progress lines go.
        curve_data: the held-out synthetic views and real test images of the training curves (with
            ``config.curve_points`` train views); None measures no curves.
        parity: the official code's behaviours to use instead of this project's (:class:`IGAEParity`); None: none.
    """
    parity = parity or IGAEParity()
    _check_inputs(scenes, real_images, config, parity)
    requires_grad_before = {name: p.requires_grad for name, p in ae.named_parameters()}
    run = _prepare(ae, normalizer, scenes, config, log, parity)
    history = _History(run.device, config.log_every, log)
    curves = _Curves(run, curve_data, history, log)
    if config.warmup_steps > 0:
        _warmup(run, history, curves, log)
    if config.joint_steps > 0:
        _joint(run, real_images, perceptual, history, curves, log)
    ae.eval()
    for name, parameter in ae.named_parameters():
        parameter.requires_grad_(requires_grad_before[name])
    run.triplanes.eval().requires_grad_(True)
    run.mlp.eval().requires_grad_(True)
    return IGAEResult(
        ae=ae,
        triplanes=run.triplanes,
        decoder=run.mlp,
        background=run.background.cpu(),
        history=history.entries,
        curves=curves.entries,
    )


def seconds_per_step(history: list[dict], phase: str, skip_first: int = 1) -> float:
    """Median wall time of a phase's steps in ``history`` (the first ``skip_first`` steps excluded as warm-up)."""
    times = [entry["seconds"] for entry in history if entry["phase"] == phase][skip_first:]
    return float(np.median(times)) if times else math.nan
