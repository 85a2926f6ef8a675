"""The IG-AE objective and its two phases (digest §2.4-2.5): a warm-up of latent Tri-Planes on a frozen AE, then the
joint training of the AE with the Tri-Planes.

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
:func:`igae.real_images.load_real_images`'s and :meth:`SceneViews.from_scene_data`'s float conversions.
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

from igae.autoencoders import LatentNormalizer, decode, encode, latent_background
from igae.timing import synchronize
from igae.triplanes import LatentTriPlaneConfig, TriPlaneDecoder, TriPlanes, render_latent_images

LOSS_TERMS = ("latent", "rgb", "ae_synth", "ae_real_mse", "ae_real_perceptual", "real_latent_tv", "plane_tv")
"""Names of the loss terms, as they appear in :attr:`IGAEResult.history`."""
JOINT_SYNTHETIC = ("latent", "rgb", "ae_synth", "plane_tv")
"""The terms computed on the synthetic views (the others need real images)."""


@dataclass
class IGAELossConfig:
    """Switches and weights of every IG-AE loss term; defaults are the official code's (digest §2.4).

    The switches act on the joint phase. The warm-up always trains L_latent (it is what the warm-up is), plus the
    plane TV when ``plane_tv`` is on, as the official ``pretrain_args``.
    """

    latent: bool = True
    """L_latent = MSE(normalize(z), clamp(2·render - 1)), z = E(x) a posterior sample: planes, MLP and encoder."""
    latent_weight: float = 1.0
    """Weight of L_latent (warm-up and joint)."""
    rgb: bool = True
    """L_RGB = MSE(D(denormalize(clamp(2·render - 1))), x): planes, MLP and decoder."""
    rgb_weight: float = 1.0
    """Weight of L_RGB."""
    ae_synth: bool = True
    """L_ae^synth = MSE(D(z), x) on the synthetic views, z the same posterior sample as L_latent's."""
    ae_synth_weight: float = 0.1
    """Weight of L_ae^synth."""
    ae_real_mse: bool = True
    """MSE(D(E(x)), x) on real images (part of L_ae^real)."""
    ae_real_mse_weight: float = 0.1
    """Weight of the real-image MSE."""
    ae_real_perceptual: bool = True
    """perceptual(D(E(x)), x) on real images (LPIPS-AlexNet in the official code); skipped without a network."""
    ae_real_perceptual_weight: float = 0.01
    """Weight of the real-image perceptual term."""
    real_latent_tv: bool = True
    """TV of the raw latents of the real images, non-squared L2 (official ``compute_tv(z, 2, 1)``)."""
    real_latent_tv_weight: float = 1e-5
    """Weight of the real-latent TV."""
    plane_tv: bool = True
    """Squared TV of the Tri-Planes of the batch's views (official ``compute_tv(planes, 2, 2)``)."""
    plane_tv_weight_warmup: float = 1e-5
    """Weight of the plane TV during the warm-up."""
    plane_tv_weight_joint: float = 1e-4
    """Weight of the plane TV during the joint phase."""
    plane_tv_sum_over_views: bool = True
    """Sum the per-scene plane TV over the batch's views, as the official code does (its weights assume it);
    False averages it, which makes the TV strength independent of the batch size."""


@dataclass
class IGAETrainingConfig:
    """Schedule of the two IG-AE phases (digest §2.5), in optimisation steps."""

    warmup_steps: int = 1000
    """Steps of the warm-up (official: 50 epochs of the synthetic views at batch 32)."""
    joint_steps: int = 1000
    """Steps of the joint phase (official: 75 epochs of the synthetic views at batch 12)."""
    batch_views: int = 12
    """Synthetic views per joint step, drawn across all scenes (official: 12)."""
    warmup_batch_views: int = 32
    """Synthetic views per warm-up step (official: 32). Warm-up steps are cheap: no AE pass."""
    batch_real: int = 3
    """Real images per joint step (official: 3 ImageNet images)."""
    warmup_lr_mlp: float = 1e-3
    """Adam lr of the shared MLP in the warm-up."""
    warmup_lr_planes: float = 1e-3
    """Adam lr of the Tri-Planes in the warm-up."""
    joint_lr_encoder: float = 5e-5
    """Adam lr of the encoder (with its quant_conv) in the joint phase."""
    joint_lr_decoder: float = 5e-5
    """Adam lr of the decoder (with its post_quant_conv) in the joint phase."""
    joint_lr_planes: float = 1e-4
    """Adam lr of the Tri-Planes in the joint phase."""
    joint_lr_mlp: float = 1e-4
    """Adam lr of the shared MLP in the joint phase."""
    lr_decay_per_step: float = 1.0
    """Every lr is multiplied by this after each step of its phase. The official 0.988032 per epoch is
    0.988032 ** (1 / steps_per_epoch); computing it is the caller's job."""
    freeze_mlp_after_fraction: float = 0.9
    """The MLP's lr is set to 0 after this fraction of the warm-up (official: from epoch 45 of 50)."""
    parity_freeze_triplanes_in_joint: bool = False
    """True reproduces the official code, whose joint phase never steps the Tri-Planes and the MLP (digest §2.5,
    caveat 1). False (ours, and what the paper describes) steps them with L_latent and L_RGB."""
    cache_warmup_latents: bool = True
    """Encode every synthetic view once before the warm-up (posterior mean and std), then draw a fresh posterior
    sample each step: the same distribution as the official per-step encoding, at the cost of one encoding."""
    encode_batch_size: int = 32
    """Images per AE forward pass when caching the warm-up latents."""
    background: list[float] | None = None
    """Latent background colour in [0, 1] (one value per channel); None computes it from the AE before training
    (:func:`igae.autoencoders.latent_background`), then keeps it fixed, as the official code."""
    triplanes: LatentTriPlaneConfig = field(default_factory=LatentTriPlaneConfig)
    """Tri-Plane resolution and features, MLP width, ray marching."""
    loss: IGAELossConfig = field(default_factory=IGAELossConfig)
    """Loss switches and weights."""
    seed: int = 0
    """Seeds the Tri-Plane and MLP init, the batches, the ray jitter and the posterior samples."""
    device: str = "cpu"
    """Torch device of the training (``cpu``, ``cuda``, ``cuda:1``)."""
    amp: bool = False
    """bf16 autocast of the AE and Tri-Plane rendering forward passes on CUDA (the losses stay in float32); ignored
    on the CPU. False keeps every number as in float32 training."""
    log_every: int = 50
    """Log a line every this many steps of each phase (and at each phase's last step)."""


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


class _ShuffledCycle:
    """Indices 0..n-1 in a fresh random order each pass, handed out in batches (a batch may span two passes)."""

    def __init__(self, n: int, generator: torch.Generator):
        self.n, self.generator = n, generator
        self.order, self.position = torch.randperm(n, generator=generator), 0

    def take(self, k: int) -> torch.Tensor:
        parts = []
        while k > 0:
            if self.position == self.n:
                self.order, self.position = torch.randperm(self.n, generator=self.generator), 0
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


def _check_inputs(scenes: Sequence[SceneViews], real_images: torch.Tensor | None, config: IGAETrainingConfig):
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


def _set_lrs(optimizer: torch.optim.Optimizer, factor: float, frozen: set[str] = frozenset()) -> None:
    for group in optimizer.param_groups:
        group["lr"] = 0.0 if group["name"] in frozen else group["initial_lr"] * factor


def _adam(groups: list[tuple[str, list[torch.nn.Parameter], float]]) -> torch.optim.Adam:
    return torch.optim.Adam(
        [{"params": params, "lr": lr, "initial_lr": lr, "name": name} for name, params, lr in groups if params]
    )


def train_igae(
    ae,
    normalizer: LatentNormalizer,
    scenes: Sequence[SceneViews],
    real_images: torch.Tensor | None,
    config: IGAETrainingConfig,
    perceptual: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    log: Callable[[str], None] = print,
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
    """
    _check_inputs(scenes, real_images, config)
    device = torch.device(config.device)
    losses_on = config.loss
    batch_generator = torch.Generator().manual_seed(config.seed)  # batches, on the CPU
    noise_generator = torch.Generator(device=device).manual_seed(config.seed + 1)  # jitter, posterior samples
    init_generator = torch.Generator().manual_seed(config.seed + 2)  # Tri-Plane and MLP init
    use_amp = config.amp and device.type == "cuda"
    if config.amp and not use_amp:
        log(f"igae: amp is ignored on {device.type}: float32 training")

    def autocast() -> AbstractContextManager:
        """bf16 autocast of the forward passes under AMP on CUDA; nothing otherwise."""
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16) if use_amp else nullcontext()

    # all synthetic views, flattened: view v belongs to scene scene_of[v]. The images stay on the host, uint8 when
    # every scene's are (else float); batches are moved to the device. The cameras are small: on the device.
    if all(scene.images.dtype == torch.uint8 for scene in scenes):
        images = torch.cat([scene.images for scene in scenes])  # (T, 3, H, W) uint8
    else:
        images = torch.cat([images_to_model_range(scene.images) for scene in scenes])  # (T, 3, H, W) float32
    c2w = torch.cat([scene.c2w_opencv.float() for scene in scenes]).to(device)  # (T, 4, 4)
    intrinsics = torch.cat([scene.intrinsics_normalized.float() for scene in scenes]).to(device)  # (T, 3, 3)
    scene_of = torch.cat([torch.full((len(scene.images),), i, dtype=torch.long) for i, scene in enumerate(scenes)])
    scene_of = scene_of.to(device)  # (T,)
    views = _ShuffledCycle(len(images), batch_generator)

    ae.to(device)
    requires_grad_before = {name: p.requires_grad for name, p in ae.named_parameters()}
    ae.eval().requires_grad_(False)
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
    background = background.to(device)

    triplanes, mlp = config.triplanes.build(len(scenes), latent_channels, generator=init_generator)
    triplanes.to(device)
    mlp.to(device)
    history: list[dict] = []

    def render(view_indices: torch.Tensor) -> torch.Tensor:
        """Normalised latent renderings (B, C, h, w) in [-1, 1] of the given views."""
        view_indices = view_indices.to(device)
        rendered, _ = render_latent_images(
            triplanes,
            mlp,
            scene_of[view_indices],
            c2w[view_indices],
            intrinsics[view_indices],
            latent_resolution,
            background,
            config.triplanes.render,
            generator=noise_generator,
            jitter=True,
        )  # (B, C, h, w) in [0, 1]
        return (2 * rendered.float() - 1).clamp(-1, 1)

    def plane_tv(view_indices: torch.Tensor) -> torch.Tensor:
        tv = triplanes.tv_loss(scene_of[view_indices.to(device)])
        return tv * len(view_indices) if losses_on.plane_tv_sum_over_views else tv

    def record(phase: str, phase_step: int, n_steps: int, terms: dict[str, torch.Tensor], total, started: float):
        entry = {"step": len(history), "phase": phase, "phase_step": phase_step}
        values = torch.stack([value.detach().float() for value in (*terms.values(), total)]).tolist()  # one sync
        synchronize(device)
        entry.update(zip(terms, values[:-1], strict=True))
        entry.update(total=values[-1], seconds=time.perf_counter() - started)
        history.append(entry)
        if phase_step % max(config.log_every, 1) == 0 or phase_step == n_steps - 1:
            values = " ".join(f"{name} {entry[name]:.4g}" for name in (*terms, "total"))
            log(f"igae: {phase} step {phase_step + 1}/{n_steps}: {values} ({entry['seconds']:.2f} s)")

    # ---------------- warm-up: AE frozen, L_latent (+ plane TV) trains the Tri-Planes and the MLP
    if config.warmup_steps > 0:
        triplanes.train()
        mlp.train()
        if config.cache_warmup_latents:
            started = time.perf_counter()
            # (T, C, h, w) each, float32 on the CPU
            cached_mean, cached_std = _posterior_mean_std(ae, images, config.encode_batch_size, autocast)
            log(f"igae: encoded {len(images)} synthetic views for the warm-up in {time.perf_counter() - started:.1f} s")
        optimizer = _adam(
            [
                ("mlp", list(mlp.parameters()), config.warmup_lr_mlp),
                ("planes", [triplanes.planes], config.warmup_lr_planes),
            ]
        )
        freeze_mlp_at = round(config.freeze_mlp_after_fraction * config.warmup_steps)
        log(
            f"igae: warm-up, {config.warmup_steps} steps of {config.warmup_batch_views} views over {len(scenes)} "
            f"scenes; AE frozen; MLP frozen from step {freeze_mlp_at}"
        )
        for step in range(config.warmup_steps):
            started = time.perf_counter()
            _set_lrs(optimizer, config.lr_decay_per_step**step, frozen={"mlp"} if step >= freeze_mlp_at else set())
            batch = views.take(config.warmup_batch_views)  # (B,)
            if config.cache_warmup_latents:
                mean, std = cached_mean[batch].to(device), cached_std[batch].to(device)  # (B, C, h, w)
                noise = torch.randn(mean.shape, generator=noise_generator, device=device, dtype=mean.dtype)
                z = mean + std * noise
            else:
                with torch.no_grad(), autocast():
                    z = encode(ae, _fetch(images, batch, device), sample=True, generator=noise_generator).float()
            with autocast():
                rendered = render(batch)  # (B, C, h, w) float32 in [-1, 1]
            terms = {"latent": F.mse_loss(normalizer.normalize(z), rendered)}
            total = losses_on.latent_weight * terms["latent"]
            if losses_on.plane_tv:
                terms["plane_tv"] = plane_tv(batch)
                total = total + losses_on.plane_tv_weight_warmup * terms["plane_tv"]
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            record("warmup", step, config.warmup_steps, terms, total, started)
        if config.cache_warmup_latents:
            del cached_mean, cached_std

    # ---------------- joint phase: every switched-on term; encoder, decoder (and Tri-Planes, MLP) trained
    real_terms = [
        name
        for name in ("ae_real_mse", "ae_real_perceptual", "real_latent_tv")
        if getattr(losses_on, name) and (name != "ae_real_perceptual" or perceptual is not None)
    ]
    if config.joint_steps > 0:
        if losses_on.ae_real_perceptual and perceptual is None:
            log("igae: ae_real_perceptual is on but no perceptual network was given: the term is skipped")
        if real_images is None and real_terms:
            log(f"igae: no real images given: {', '.join(real_terms)} skipped")
            real_terms = []
        reals = _ShuffledCycle(len(real_images), batch_generator) if real_terms else None
        train_planes = not config.parity_freeze_triplanes_in_joint
        ae.train().requires_grad_(True)
        triplanes.train().requires_grad_(train_planes)
        mlp.train().requires_grad_(train_planes)
        encoder_params = [p for n, p in ae.named_parameters() if n.startswith(("encoder.", "quant_conv."))]
        decoder_params = [p for n, p in ae.named_parameters() if not n.startswith(("encoder.", "quant_conv."))]
        groups = [
            ("encoder", encoder_params, config.joint_lr_encoder),
            ("decoder", decoder_params, config.joint_lr_decoder),
        ]
        if train_planes:
            groups += [
                ("planes", [triplanes.planes], config.joint_lr_planes),
                ("mlp", list(mlp.parameters()), config.joint_lr_mlp),
            ]
        optimizer = _adam(groups)
        active = [
            name for name in LOSS_TERMS if name in real_terms or (getattr(losses_on, name) and name in JOINT_SYNTHETIC)
        ]
        log(
            f"igae: joint phase, {config.joint_steps} steps of {config.batch_views} views"
            f"{f' + {config.batch_real} real images' if real_terms else ''}; terms: {', '.join(active)}; "
            f"Tri-Planes and MLP {'trained' if train_planes else 'frozen (parity with the official code)'}"
        )
        needs_synthetic_latent = losses_on.latent or losses_on.ae_synth
        needs_rendering = losses_on.latent or losses_on.rgb
        needs_real_decoding = any(name in real_terms for name in ("ae_real_mse", "ae_real_perceptual"))
        for step in range(config.joint_steps):
            started = time.perf_counter()
            _set_lrs(optimizer, config.lr_decay_per_step**step)
            batch = views.take(config.batch_views)  # (B,)
            x = _fetch(images, batch, device)  # (B, 3, H, W) float32 in [-1, 1]
            x_real = _fetch(real_images, reals.take(config.batch_real), device) if real_terms else x[:0]  # (b, 3, H, W)

            with autocast():  # forward passes (bf16 under AMP); the losses below are computed in float32
                # one encoder pass for the synthetic views (when needed) and the real images
                to_encode = torch.cat([x, x_real]) if needs_synthetic_latent else x_real
                z_all = encode(ae, to_encode, sample=True, generator=noise_generator) if len(to_encode) else None
                z = z_all[: len(x)] if needs_synthetic_latent else None  # (B, C, h, w)
                z_real = z_all[len(to_encode) - len(x_real) :] if real_terms else None  # (b, C, h, w)
                rendered = render(batch) if needs_rendering else None  # (B, C, h, w) float32 in [-1, 1]

                # one decoder pass for the decoded rendering, the synthetic reconstruction and the real reconstruction
                to_decode = []
                if losses_on.rgb:
                    to_decode.append(normalizer.denormalize(rendered))
                if losses_on.ae_synth:
                    to_decode.append(z)
                if needs_real_decoding:
                    to_decode.append(z_real)
                decoded = decode(ae, torch.cat(to_decode)).split([len(t) for t in to_decode]) if to_decode else []
            z = z.float() if z is not None else None
            z_real = z_real.float() if z_real is not None else None
            decoded = [image.float() for image in decoded]  # (B or b, 3, H, W) each

            terms: dict[str, torch.Tensor] = {}
            if losses_on.latent:
                terms["latent"] = F.mse_loss(normalizer.normalize(z), rendered)
            if losses_on.rgb:
                terms["rgb"] = F.mse_loss(decoded.pop(0), x)
            if losses_on.ae_synth:
                terms["ae_synth"] = F.mse_loss(decoded.pop(0), x)
            if needs_real_decoding:
                reconstruction = decoded.pop(0)
                if "ae_real_mse" in real_terms:
                    terms["ae_real_mse"] = F.mse_loss(reconstruction, x_real)
                if "ae_real_perceptual" in real_terms:
                    terms["ae_real_perceptual"] = perceptual(reconstruction, x_real).mean()
            if "real_latent_tv" in real_terms:
                terms["real_latent_tv"] = latent_tv_l2(z_real)
            if losses_on.plane_tv:
                terms["plane_tv"] = plane_tv(batch)
            weights = {
                "latent": losses_on.latent_weight,
                "rgb": losses_on.rgb_weight,
                "ae_synth": losses_on.ae_synth_weight,
                "ae_real_mse": losses_on.ae_real_mse_weight,
                "ae_real_perceptual": losses_on.ae_real_perceptual_weight,
                "real_latent_tv": losses_on.real_latent_tv_weight,
                "plane_tv": losses_on.plane_tv_weight_joint,
            }
            terms = {name: terms[name] for name in LOSS_TERMS if name in terms}
            total = sum(weights[name] * value for name, value in terms.items())
            if not isinstance(total, torch.Tensor) or not total.requires_grad:
                raise ValueError("train_igae: every joint-phase loss term is switched off; nothing would be trained")
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            record("joint", step, config.joint_steps, terms, total, started)

    ae.eval()
    for name, parameter in ae.named_parameters():
        parameter.requires_grad_(requires_grad_before[name])
    triplanes.eval().requires_grad_(True)
    mlp.eval().requires_grad_(True)
    return IGAEResult(ae=ae, triplanes=triplanes, decoder=mlp, background=background.cpu(), history=history)


def seconds_per_step(history: list[dict], phase: str, skip_first: int = 1) -> float:
    """Median wall time of a phase's steps in ``history`` (the first ``skip_first`` steps excluded as warm-up)."""
    times = [entry["seconds"] for entry in history if entry["phase"] == phase][skip_first:]
    return float(np.median(times)) if times else math.nan
