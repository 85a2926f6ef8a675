"""The training configurations of the autoencoder jobs, and how an ``autoencoders.<name>`` entry's ``training`` (a dict
of config.yaml) builds them: :class:`AETrainingConfig` (kind ``trained``), :class:`IGAETrainingConfig` with its
:class:`IGAELossConfig` and :class:`LatentTriPlaneConfig` (kind ``igae``: the paper's epochs turned into steps for the
data at hand, the ``parity`` switch (docs/paper.md#deviations) into the keys and behaviours it sets,
:class:`IGAEParity`).

Plain dataclasses, no torch: the workflow's config check builds the same objects before any job (so a misspelt key
fails there), while Snakemake builds the DAG. The training code takes them: :mod:`igae.ae.standard_training`,
:mod:`igae.ae.igae_training`, :mod:`igae.ae.triplanes`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from igae.parity import Parity


@dataclass
class AETrainingConfig:
    """Training of a standard AE on the real images (kind ``trained``: :mod:`igae.ae.standard_training`)."""

    steps: int = 3000
    """Optimiser steps."""
    batch_size: int = 8
    """Real images per step."""
    crop_size: int = 64
    """Side of the random crops trained on (the AE is fully convolutional; 64 px costs a quarter of 128 px)."""
    lr: float = 1e-3
    """Adam learning rate at the start of the cosine decay."""
    warmup_steps: int = 0
    """Steps of linear learning-rate warm-up before the cosine decay."""
    kl_weight: float = 1e-6
    """Weight of the KL term of the VAE posterior."""
    sample_posterior: bool = True
    """Decode a sample of the posterior (a VAE's training) or its mean. With a tiny KL weight the learnt variance
    shrinks slowly, and the sampling noise holds early reconstructions back; the KL term is kept either way."""
    perceptual: str = "auto"
    """Perceptual loss: lpips-alex, stlpips-alex, auto (LPIPS if its weights exist, else stlpips) or none."""
    perceptual_weight: float = 0.1
    """Weight of the perceptual term."""
    latent_channels: int = 16
    """Latent channels (the paper's AE has 16)."""
    block_out_channels: list[int] = field(default_factory=lambda: [16, 32, 64, 64])
    """Channels of the encoder/decoder blocks; n blocks give 2^(n-1) down-sampling."""
    layers_per_block: int = 1
    """ResNet layers per block."""
    seed: int = 0
    """Seed of the initialisation, the batches and the augmentations."""
    eval_every: int = 250
    """Steps between two points of the learning curve (held-out PSNR on the test images)."""
    color_jitter: float = 0.0
    """Strength j of a per-image colour augmentation: a random permutation of the RGB channels, per-channel gains in
    [1 - j, 1 + j] and a brightness offset in [-j, j], clipped to the valid range. Half the photos shipped offline
    are grey and few hold pure white, while the scenes are coloured objects on white: without it the AE tints white
    grey and casts colour. 0 turns it off (the batches are then those of earlier recipes)."""


@dataclass
class TriPlaneRenderConfig:
    """Ray marching of latent Tri-Planes (docs/paper.md#tri-planes: 48 + 48 samples between 0.5 and 2.1)."""

    n_coarse: int = 48
    """Stratified samples per ray (jittered inside equal bins in training, bin midpoints in evaluation)."""
    n_fine: int = 48
    """Importance samples per ray drawn from the coarse weights (inverse CDF); 0 renders the coarse pass only."""
    near: float = 0.5
    """Distance from the camera where rays start (world units; the scene is [-1, 1]^3)."""
    far: float = 2.1
    """Distance from the camera where rays end; the background colour fills what is left transparent."""
    max_points_per_chunk: int = 2**20
    """Rays are rendered in chunks so that at most this many samples (coarse + fine) are evaluated at once."""


@dataclass
class LatentTriPlaneConfig:
    """The latent scene representation of IG-AE training: planes, shared MLP, renderer (docs/paper.md#tri-planes)."""

    resolution: int = 64
    """K: each plane is K x K."""
    features: int = 32
    """F: feature channels per plane (features of the 3 planes are summed)."""
    hidden: int = 64
    """Hidden width of the shared decoder MLP."""
    render: TriPlaneRenderConfig = field(default_factory=TriPlaneRenderConfig)
    """Ray marching settings."""


@dataclass
class IGAELossConfig:
    """Switches and weights of every IG-AE loss term; defaults are the official code's (docs/paper.md#ig-ae-losses).

    The switches act on the joint phase. The warm-up always trains L_latent (it is what the warm-up is), plus the
    plane TV when ``plane_tv`` is on, as the official ``pretrain_args``.
    """

    latent: bool = True
    """L_latent = MSE(normalize(z), clamp(2·render - 1)), z = E(x) (``posterior``): planes, MLP and encoder."""
    latent_weight: float = 1.0
    """Weight of L_latent (warm-up and joint)."""
    rgb: bool = True
    """L_RGB = MSE(D(denormalize(clamp(2·render - 1))), x): planes, MLP and decoder."""
    rgb_weight: float = 1.0
    """Weight of L_RGB."""
    ae_synth: bool = True
    """L_ae^synth = MSE(D(z), x) on the synthetic views, z the same latent as L_latent's."""
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
class IGAEParity:
    """Behaviours of the official code that this project changes, for ``parity: official`` (docs/paper.md#deviations).

    Each default is this project's behaviour (``parity: paper``); :func:`igae_parity` builds the official set. Kept
    apart from :class:`IGAETrainingConfig`, whose fields are a shipped card's recipe: a card records these only when
    they differ from the defaults (``recipe.parity``).
    """

    plane_axes: str = "xy-xz-yz"
    """The planes' (u, v) axes (:data:`igae.ae.triplanes.PLANE_AXES`); the official code's are ``xy-xz-zx``."""
    lr_decay_per_epoch: float | None = None
    """Official: every lr is multiplied by this once per epoch (a staircase, ``ExponentialLR`` stepped at each epoch's
    end), each phase counting its own epochs of ``warmup_steps_per_epoch`` / ``joint_steps_per_epoch`` steps; the
    training config's ``lr_decay_per_step`` must then be 1. None: the per-step decay ``lr_decay_per_step``."""
    warmup_steps_per_epoch: int = 1
    """Steps of one warm-up epoch (ceil(train views / warmup_batch_views)), for ``lr_decay_per_epoch``."""
    joint_steps_per_epoch: int = 1
    """Steps of one joint-phase epoch (ceil(train views / batch_views)), for ``lr_decay_per_epoch``."""
    train_quant_convs: bool = True
    """Put ``quant_conv`` in the encoder's and ``post_quant_conv`` in the decoder's optimiser in the joint phase; the
    official code optimises ``encoder`` and ``decoder`` only, so both stay as the base AE's."""
    reshuffle_real_images: bool = True
    """Draw the real images in a fresh random order at every pass; False cycles them in their stored order (the
    official injection ``DataLoader`` has no shuffle and is cycled)."""


@dataclass
class IGAETrainingConfig:
    """Schedule of the two IG-AE phases (docs/paper.md#ig-ae-schedule), in optimisation steps."""

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
    """True reproduces the official code, whose joint phase never steps the Tri-Planes and the MLP
    (docs/paper.md#caveats, 1). False (ours, and what the paper describes) steps them with L_latent and L_RGB."""
    cache_warmup_latents: bool = True
    """Encode every synthetic view once before the warm-up (posterior mean and std), then draw a fresh posterior
    sample each step (``posterior: sample``; else the mean as it is): the same distribution as the official
    per-step encoding, at the cost of one encoding."""
    encode_batch_size: int = 32
    """Images per AE forward pass when caching the warm-up latents."""
    background: list[float] | None = None
    """Latent background colour in [0, 1] (one value per channel); None computes it from the AE before training
    (:func:`igae.ae.autoencoder.latent_background`), then keeps it fixed, as the official code."""
    triplanes: LatentTriPlaneConfig = field(default_factory=LatentTriPlaneConfig)
    """Tri-Plane resolution and features, MLP width, ray marching."""
    loss: IGAELossConfig = field(default_factory=IGAELossConfig)
    """Loss switches and weights."""
    posterior: str = "sample"
    """The latent z = E(x) every loss uses: ``sample`` (a posterior sample, as the official code, for a base AE
    trained as a VAE on sampled latents) or ``mean`` (the posterior mean, for a base AE trained to decode means,
    whose posterior std carries no meaning; docs/paper.md#deviations). The NeRF targets are means either way."""
    curve_points: int = 10
    """Points of the training curves per phase (:attr:`IGAEResult.curves`): one before the phase's first step, then
    this many evenly spaced to its last step; 0 measures none. Measured between steps, outside their timing."""
    curve_train_views: int = 24
    """Train views (evenly spread over the synthetic views, the same at every point) the train-view curves use."""
    seed: int = 0
    """Seeds the Tri-Plane and MLP init, the batches, the ray jitter and the posterior samples."""
    device: str = "cpu"
    """Torch device of the training (``cpu``, ``cuda``, ``cuda:1``)."""
    amp: bool = False
    """bf16 autocast of the AE and Tri-Plane rendering forward passes on CUDA (the losses stay in float32); ignored
    on the CPU. False keeps every number as in float32 training."""
    log_every: int = 50
    """Log a line every this many steps of each phase (and at each phase's last step)."""


OFFICIAL_TRAINING = {"parity_freeze_triplanes_in_joint": True, "posterior": "sample", "cache_warmup_latents": False}
"""The IG-AE training keys ``parity: official`` sets: Tri-Planes and MLP not stepped in the joint phase, every loss on a
posterior sample, the warm-up's latents encoded at every step (the official code's, docs/paper.md#caveats)."""


def _phase_batches(training: dict) -> dict[str, int]:
    defaults = IGAETrainingConfig()
    return {
        "warmup": training.get("warmup_batch_views", defaults.warmup_batch_views),
        "joint": training.get("batch_views", defaults.batch_views),
    }


def epochs_to_steps(training: dict, train_views: int, parity: Parity = Parity.PAPER) -> dict:
    """Replace the paper's epoch-based keys of a ``training`` entry by the step counts they mean for this data.

    ``warmup_epochs`` / ``joint_epochs``: passes over the ``train_views`` synthetic train views with the phase's batch
    (``warmup_batch_views`` / ``batch_views``), rounded up. ``lr_decay_per_epoch`` (official 0.988032) becomes
    ``lr_decay_per_step`` = decay ** (1 / joint steps per epoch), one rate for both phases (the warm-up's epochs have
    fewer, larger batches: its lrs then decay more slowly per epoch than the official code's). ``parity: official``
    drops it here instead: :func:`igae_parity` makes it a per-epoch staircase of each phase's own epochs.
    """
    training = dict(training)
    batches = _phase_batches(training)
    for phase, batch in batches.items():
        if f"{phase}_epochs" in training:
            if f"{phase}_steps" in training:
                raise ValueError(f"igae: training sets both {phase}_epochs and {phase}_steps; keep one")
            training[f"{phase}_steps"] = math.ceil(training.pop(f"{phase}_epochs") * train_views / batch)
    if "lr_decay_per_epoch" in training:
        decay = training.pop("lr_decay_per_epoch")
        if Parity.parse(parity) == Parity.PAPER:
            steps_per_epoch = math.ceil(train_views / batches["joint"])
            training["lr_decay_per_step"] = decay ** (1.0 / steps_per_epoch)
    return training


def igae_parity(training: dict, train_views: int, parity: Parity) -> IGAEParity:
    """The official code's behaviours the IG-AE trains with under ``parity`` (``paper``: none, the defaults), from an
    entry's ``training`` dict (before :func:`epochs_to_steps`): official plane axes, quant convs out of the optimiser,
    real images in a fixed order and, with ``lr_decay_per_epoch``, the lr decayed once per epoch of each phase."""
    if Parity.parse(parity) == Parity.PAPER:
        return IGAEParity()
    batches = _phase_batches(training)
    return IGAEParity(
        plane_axes="xy-xz-zx",
        lr_decay_per_epoch=training.get("lr_decay_per_epoch"),
        warmup_steps_per_epoch=max(1, math.ceil(train_views / batches["warmup"])),
        joint_steps_per_epoch=max(1, math.ceil(train_views / batches["joint"])),
        train_quant_convs=False,
        reshuffle_real_images=False,
    )


def igae_training_config(training: dict, device: str, parity: Parity = Parity.PAPER) -> tuple[IGAETrainingConfig, str]:
    """(IGAETrainingConfig, perceptual kind) from an entry's ``training`` dict (nested ``loss``, ``triplanes``).

    ``parity: official`` sets :data:`OFFICIAL_TRAINING`; an entry that sets one of those keys otherwise is refused."""
    training = dict(training)
    if Parity.parse(parity) == Parity.OFFICIAL:
        for key, value in OFFICIAL_TRAINING.items():
            if key in training and training[key] != value:
                raise ValueError(
                    f"{key} = {training[key]!r} contradicts parity: official (the official code's is {value!r}); "
                    "drop the key, or keep parity: paper"
                )
            training[key] = value
    perceptual = training.pop("perceptual", "auto")
    loss = IGAELossConfig(**training.pop("loss", {}))
    planes = dict(training.pop("triplanes", {}))
    render = TriPlaneRenderConfig(**planes.pop("render", {}))
    config = IGAETrainingConfig(
        **training, loss=loss, triplanes=LatentTriPlaneConfig(**planes, render=render), device=device
    )
    return config, perceptual
