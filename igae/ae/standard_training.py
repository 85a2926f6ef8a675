"""Train a standard autoencoder on real images only: the offline stand-in for a pretrained AE.

Objective: MSE + a perceptual term (configurable, see :func:`igae.metrics.build_perceptual_loss`) + a tiny KL term,
Adam with a linear warm-up then cosine decay, random crops, flips, 90-degree rotations and (optionally) colour
jitter of the training images. The
held-out PSNR is measured every ``eval_every`` steps on the test images and kept in the card (the learning curve).
After training, the latent normaliser's scale is set to 0.5 / std(z) on the training images, so normalised latents fill
tanh's range (the paper's 0.02 is tuned to the scale of its hub AE's latents).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict

import torch
import torch.nn.functional as F

from igae.ae.autoencoder import (
    AutoencoderCard,
    downsample_factor,
    encode,
    latent_background,
    reconstruct,
    small_autoencoder,
    to_unit_hwc,
)
from igae.ae.training_configs import AETrainingConfig
from igae.metrics import build_perceptual_loss, psnr


def _augment(images: torch.Tensor, crop_size: int, generator: torch.Generator, color_jitter: float = 0.0):
    """A random crop (shared by the batch), horizontal flips, a 90-degree rotation and, if ``color_jitter`` > 0, the
    colour jitter of :class:`AETrainingConfig` of (B, 3, H, W) images in [-1, 1].

    The random draws come from ``generator`` on the CPU, so a seed gives the same batches on every device."""
    size, device = images.shape[-1], images.device
    if crop_size < size:
        top, left = torch.randint(size - crop_size + 1, (2,), generator=generator).tolist()
        images = images[..., top : top + crop_size, left : left + crop_size]
    flips = (torch.rand(len(images), generator=generator) < 0.5).to(device)
    images = torch.where(flips[:, None, None, None], images.flip(-1), images)
    images = torch.rot90(images, k=int(torch.randint(4, (1,), generator=generator)), dims=(2, 3))
    if color_jitter > 0:
        n = len(images)
        order = torch.argsort(torch.rand(n, 3, generator=generator), dim=1).to(device)  # (B, 3) channel permutations
        gains = (1 + color_jitter * (2 * torch.rand(n, 3, 1, 1, generator=generator) - 1)).to(device)
        offsets = (color_jitter * (2 * torch.rand(n, 1, 1, 1, generator=generator) - 1)).to(device)
        images = torch.gather(images, 1, order[:, :, None, None].expand_as(images))
        images = ((images + 1) / 2 * gains + offsets).clamp(0, 1) * 2 - 1  # jitter in [0, 1], back to [-1, 1]
    return images


def learning_rate_factor(step: int, config: AETrainingConfig) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine decay to 0 at ``steps``."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(config.steps - config.warmup_steps, 1)
    return 0.5 * (1 + math.cos(math.pi * progress))


def heldout_psnr(ae, images: torch.Tensor, device, batch: int = 16) -> float:
    """Mean per-image PSNR (dB, :data:`igae.metrics.DEFAULT_PROTOCOL`) of D(E(x)) over (N, 3, H, W) images in [-1, 1],
    as Tab. 1 averages it."""
    was_training = ae.training
    ae.eval()
    psnrs = []
    for i in range(0, len(images), batch):
        chunk = images[i : i + batch].to(device)
        psnrs.append(psnr(to_unit_hwc(reconstruct(ae, chunk)), to_unit_hwc(chunk)))  # (B,)
    ae.train(was_training)
    return float(torch.cat(psnrs).mean())


def train_standard_autoencoder(
    real_images: torch.Tensor,
    config: AETrainingConfig,
    name: str,
    device="cpu",
    log=print,
    test_images: torch.Tensor | None = None,
    *,
    kind: str,
):
    """Train a small AutoencoderKL on (N, 3, H, W) images in [-1, 1]; returns (ae, card), the card of ``kind`` (the
    entry kind whose job calls this: :mod:`igae.ae.kinds.trained`).

    ``test_images`` (held-out photos, same format): scored every ``eval_every`` steps and at the end; the points go
    into ``card.recipe["learning_curve"]`` as ``{"step", "seconds", "psnr"}`` (seconds of training, scoring excluded).
    """
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    image_size = real_images.shape[-1]
    ae = small_autoencoder(
        latent_channels=config.latent_channels,
        block_out_channels=tuple(config.block_out_channels),
        layers_per_block=config.layers_per_block,
        image_size=image_size,
    ).to(device)
    perceptual = build_perceptual_loss(config.perceptual, device)
    optimizer = torch.optim.Adam(ae.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: learning_rate_factor(step, config))
    log(
        f"training {name}: {sum(p.numel() for p in ae.parameters()) / 1e6:.2f} M parameters, {len(real_images)} "
        f"images, perceptual = {perceptual.label if perceptual else 'none'}"
    )
    real_images = real_images.to(device)  # (N, 3, H, W): 1,200 crops of 128 px are 240 MB, kept where the AE runs
    ae.train()
    learning_curve: list[dict] = []
    seconds = 0.0  # training time, the held-out scoring excluded
    for step in range(config.steps):
        start = time.perf_counter()
        batch = real_images[torch.randint(len(real_images), (config.batch_size,), generator=generator)]
        batch = _augment(batch, config.crop_size, generator, config.color_jitter)
        posterior = ae.encode(batch).latent_dist
        latents = posterior.sample() if config.sample_posterior else posterior.mean
        reconstruction = ae.decode(latents).sample
        mse = F.mse_loss(reconstruction, batch)
        loss = mse + config.kl_weight * posterior.kl().mean()
        if perceptual is not None:
            loss = loss + config.perceptual_weight * perceptual(reconstruction.clamp(-1, 1), batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        seconds += time.perf_counter() - start
        if step % 50 == 0 or step == config.steps - 1:
            psnr = -10 * math.log10(max(mse.item() / 4, 1e-10))  # MSE in [-1, 1] -> PSNR in [0, 1]
            log(f"step {step:5d}/{config.steps} loss {loss.item():.4f} train PSNR {psnr:.2f} dB ({seconds:.0f} s)")
        last = step == config.steps - 1
        if test_images is not None and ((step + 1) % config.eval_every == 0 or last):
            point = {"step": step + 1, "seconds": seconds, "psnr": heldout_psnr(ae, test_images, device)}
            learning_curve.append(point)
            log(f"step {step + 1:5d}: held-out PSNR {point['psnr']:.2f} dB on {len(test_images)} test images")
    ae.eval()
    with torch.no_grad():
        latents = torch.cat([encode(ae, real_images[i : i + 32].to(device)) for i in range(0, len(real_images), 32)])
    scale = 0.5 / float(latents.std())
    card = AutoencoderCard(
        name=name,
        kind=kind,
        source="trained on real images (igae.ae.standard_training)",
        latent_channels=config.latent_channels,
        downsample=downsample_factor(ae),
        latent_scale=scale,
        latent_background=[],
        recipe={
            "training": asdict(config),
            "perceptual": perceptual.label if perceptual else "none",
            "n_images": len(real_images),
            "n_test_images": 0 if test_images is None else len(test_images),
            "seconds": seconds,
            "device": str(device),
            "learning_curve": learning_curve,
        },
    )
    card.latent_background = latent_background(ae, card.normalizer, image_size, device).tolist()
    return ae, card
